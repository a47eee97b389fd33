/**
 * Domain errors. Every error has a kind (which maps onto a gRPC status code, the way ZITADEL's
 * zerrors do), a stable id that clients and logs can rely on, and a message key for translation.
 * Nothing in this module throws strings.
 */

export const ErrorKind = {
  InvalidArgument: 'InvalidArgument',
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  PermissionDenied: 'PermissionDenied',
  FailedPrecondition: 'FailedPrecondition',
  Internal: 'Internal',
  Unavailable: 'Unavailable',
  Unauthenticated: 'Unauthenticated',
} as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

/** gRPC status codes, as google.rpc.Code numbers them. */
export const grpcCodeOf: Readonly<Record<ErrorKind, number>> = {
  InvalidArgument: 3,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  FailedPrecondition: 9,
  Internal: 13,
  Unavailable: 14,
  Unauthenticated: 16,
};

/** One failing field, shaped like google.rpc.BadRequest.FieldViolation. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly kind: ErrorKind,
    /** Stable id, e.g. `COMMAND-en9lw`. Never changes once published. */
    readonly id: string,
    /** Translation key, e.g. `Errors.SMTPConfig.AlreadyExists`. */
    readonly messageKey: string,
    message: string = messageKey,
    readonly violations: readonly FieldViolation[] = [],
    options?: { cause?: unknown; clientMessage?: string },
  ) {
    super(message, options && 'cause' in options ? { cause: options.cause } : undefined);
    this.#clientMessage = options?.clientMessage;
  }

  /** Private, so that a logger copying the error's own fields does not write it out beside the message. */
  readonly #clientMessage: string | undefined;

  /**
   * What an API client is told (REST body, gRPC status and ErrorDetail). The same as `message`,
   * unless the error was made with a `clientMessage`: then `message` (and `violations`) are for
   * whoever runs the server and go to its log only, since they name the server's configuration
   * (key ids, variables, files, stream positions), and the client gets what kind of failure it is.
   */
  get clientMessage(): string {
    return this.#clientMessage ?? this.message;
  }

  /** The field violations an API client is shown: none when the error has a `clientMessage`. */
  get clientViolations(): readonly FieldViolation[] {
    return this.#clientMessage === undefined ? this.violations : [];
  }

  get grpcCode(): number {
    return grpcCodeOf[this.kind];
  }
}

export const isDomainError = (e: unknown): e is DomainError => e instanceof DomainError;

/** Why a test mail failed, each with its own stable error id. */
export const SMTP_TEST_FAILURE_IDS = {
  connection: 'SMTP-TEST-conn1',
  timeout: 'SMTP-TEST-time1',
  tls: 'SMTP-TEST-tls01',
  authentication: 'SMTP-TEST-auth1',
  recipient: 'SMTP-TEST-rcpt1',
  sender: 'SMTP-TEST-from1',
  other: 'SMTP-TEST-othr1',
} as const;
export type SmtpTestFailureReason = keyof typeof SMTP_TEST_FAILURE_IDS;

/** The catalogue of errors this module raises, with their stable ids. */
export const Errors = {
  invalidSmtpConfig: (violations: readonly FieldViolation[], request = 'AddSMTPConfigRequest') =>
    new DomainError(
      ErrorKind.InvalidArgument,
      'SMTP-VAL-4xq1',
      'Errors.SMTPConfig.Invalid',
      `invalid ${request}: ${violations.map((v) => `${v.field}: ${v.description}`).join('; ')}`,
      violations,
    ),
  instanceNotFound: () =>
    new DomainError(ErrorKind.NotFound, 'COMMAND-3n8fs', 'Errors.Instance.NotFound', 'Instance not found'),
  instanceAlreadyExists: () =>
    new DomainError(ErrorKind.AlreadyExists, 'COMMAND-Lsq2e', 'Errors.Instance.AlreadyExists', 'Instance already exists'),
  smtpConfigAlreadyExists: () =>
    new DomainError(
      ErrorKind.AlreadyExists,
      'COMMAND-en9lw',
      'Errors.SMTPConfig.AlreadyExists',
      'SMTP configuration already exists',
    ),
  /** No SMTP configuration with this id on this instance (never set, removed, or another instance's). */
  smtpConfigNotFound: () =>
    new DomainError(ErrorKind.NotFound, 'COMMAND-SMTP-nf4k', 'Errors.SMTPConfig.NotFound', 'SMTP configuration not found'),
  /** An update that would change nothing: refused rather than stored as an empty event. */
  smtpConfigNotChanged: () =>
    new DomainError(ErrorKind.FailedPrecondition, 'COMMAND-SMTP-nc9q', 'Errors.NoChangesFound', 'the update changes nothing in the SMTP configuration'),
  /**
   * A test mail could not be sent. `reason` says which step failed; the message never carries the
   * password (only what the mail server answered, with its code).
   */
  smtpTestFailed: (reason: SmtpTestFailureReason, message: string) =>
    new DomainError(ErrorKind.FailedPrecondition, SMTP_TEST_FAILURE_IDS[reason], 'Errors.SMTPConfig.TestFailed', message),
  domainTaken: (domain: string) =>
    new DomainError(
      ErrorKind.AlreadyExists,
      'INST-dom-5tk2',
      'Errors.Instance.Domain.AlreadyExists',
      `the domain ${domain} already belongs to another instance`,
      [{ field: 'domains', description: `${domain} already belongs to another instance` }],
    ),
  domainNotClaimed: (domain: string) =>
    new DomainError(ErrorKind.FailedPrecondition, 'INST-dom-7rl1', 'Errors.Instance.Domain.NotClaimed', `the domain ${domain} is not held by this instance`),
  invalidInstanceSetup: (violations: readonly FieldViolation[]) =>
    new DomainError(
      ErrorKind.InvalidArgument,
      'INST-VAL-8fk2',
      'Errors.Instance.Invalid',
      `invalid instance setup: ${violations.map((v) => `${v.field}: ${v.description}`).join('; ')}`,
      violations,
    ),
  /**
   * A stored event whose payload does not fit its type's schema: replay stops here. The message
   * (position, stream, fields) is for the operator and the log; an API client is told the kind only.
   */
  malformedEvent: (where: { readonly position: string; readonly streamId: string }, type: string, schemaVersion: number, violations: readonly FieldViolation[]) =>
    new DomainError(
      ErrorKind.Internal,
      'EVENT-DEC-7m3q',
      'Errors.Event.Malformed',
      `malformed event at position ${where.position} in stream ${where.streamId} (${type} v${schemaVersion}): ${violations.map((v) => `${v.field}: ${v.description}`).join('; ')}`,
      violations,
      { clientMessage: 'the server cannot read a stored event (it does not fit its schema); its operator must repair the event store' },
    ),
  /** A stored event in a version this code cannot read (newer, or with no upcaster from it). Client message as for {@link Errors.malformedEvent}. */
  unknownEventVersion: (where: { readonly position: string; readonly streamId: string }, type: string, found: number, current: number) =>
    new DomainError(
      ErrorKind.Internal,
      'EVENT-VER-2k8d',
      'Errors.Event.UnknownVersion',
      `event at position ${where.position} in stream ${where.streamId}: ${type} has schemaVersion ${found}, and this version reads ${current} (upcasting none to it)`,
      [{ field: 'metadata.schemaVersion', description: `${found} cannot be read as ${current}` }],
      { clientMessage: 'the server cannot read a stored event (a version it does not know); its operator must run a server version that reads it' },
    ),
} as const;
