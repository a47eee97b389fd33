import { DomainError, ErrorKind, type FieldViolation } from './errors.js';

/**
 * Every error id this package raises, by name. Ids never change once published; compare against
 * these (or use the guards below) instead of spelling the strings.
 */
export const ErrorIds = {
  // The domain (src/domain/errors.ts, `Errors`).
  InvalidSmtpConfig: 'SMTP-VAL-4xq1',
  InstanceNotFound: 'COMMAND-3n8fs',
  InstanceAlreadyExists: 'COMMAND-Lsq2e',
  SmtpConfigAlreadyExists: 'COMMAND-en9lw',
  DomainTaken: 'INST-dom-5tk2',
  DomainNotClaimed: 'INST-dom-7rl1',
  InvalidInstanceSetup: 'INST-VAL-8fk2',
  /** A change, password change or removal names a configuration the instance does not have. */
  SmtpConfigNotFoundForCommand: 'COMMAND-SMTP-nf4k',
  SmtpConfigNotChanged: 'COMMAND-SMTP-nc9q',
  // Test mails (`Errors.smtpTestFailed`), one per step that failed.
  SmtpTestConnection: 'SMTP-TEST-conn1',
  SmtpTestTimeout: 'SMTP-TEST-time1',
  SmtpTestTls: 'SMTP-TEST-tls01',
  SmtpTestAuthentication: 'SMTP-TEST-auth1',
  SmtpTestRecipient: 'SMTP-TEST-rcpt1',
  SmtpTestSender: 'SMTP-TEST-from1',
  SmtpTestOther: 'SMTP-TEST-othr1',
  // Reading stored events (event-schemas.ts): a payload that does not fit its schema, a version no upcaster leads from.
  MalformedEvent: 'EVENT-DEC-7m3q',
  UnknownEventVersion: 'EVENT-VER-2k8d',
  // The application layer.
  PermissionDenied: 'AUTHZ-HdgL7',
  SmtpConfigNotFound: 'QUERY-B8ers',
  NoChanges: 'COMMAND-noop1',
  ConcurrencyConflict: 'COMMAND-cnfl9',
  CommandIdReused: 'COMMAND-idem-3r7v',
  ProjectionMissing: 'SMTP-proj-k3d9',
  ProjectionTimeout: 'PROJ-wait-7t2k',
  // Adapters.
  DecryptionFailed: 'CRYPT-gcm-d3cr',
  /** A secret under a key id the server has not got (another DATA_DIR's development key, a key missing from ENCRYPTION_KEYS). */
  DecryptionKeyUnknown: 'CRYPT-key-n0k3',
  StoreUnavailable: 'STORE-unav-7q3m',
  StoreDamaged: 'STORE-dmg-2k8v',
  /** An append whose events hold text the store cannot keep (PostgreSQL: NUL, a lone surrogate); refused alone. */
  StoreUnstorableText: 'STORE-text-5p2w',
  StreamDeleted: 'ESDB-del-4k8w',
  AppendTooLarge: 'ESDB-size-9p2d',
  // HTTP (the Fastify plugin and server, the JWT verifier).
  InvalidToken: 'AUTH-7fs1e',
  TokenForOtherInstance: 'AUTH-Bs7Ds',
  HttpInstanceNotFound: 'INST-NotFound',
  HttpRouteNotFound: 'HTTP-404',
  HttpBadRequest: 'HTTP-400',
  HttpBody: 'HTTP-BODY',
  HttpHost: 'HTTP-HOST',
  HttpBadUrl: 'HTTP-BAD-URL',
  HttpUriTooLong: 'HTTP-URI-TOO-LONG',
  HttpHeadersTooLarge: 'HTTP-HEADERS-TOO-LARGE',
  HttpMalformed: 'HTTP-MALFORMED',
  HttpTimeout: 'HTTP-TIMEOUT',
  HttpCharset: 'HTTP-CHARSET',
  HttpEncoding: 'HTTP-ENCODING',
  HttpInternal: 'HTTP-500',
  HttpUnavailable: 'HTTP-503',
  HttpShuttingDown: 'HTTP-SHUTDOWN',
  // gRPC (the Connect, gRPC and gRPC-web port).
  /** A JSON request message that does not decode (a field of the wrong type, not JSON): named, never quoted. */
  GrpcJsonUndecodable: 'GRPC-JSON-4v8e',
} as const;
export type ErrorId = (typeof ErrorIds)[keyof typeof ErrorIds];

/** Whether `error` is a DomainError with this id. */
export const hasErrorId = (error: unknown, id: string): error is DomainError => error instanceof DomainError && error.id === id;
/** Whether `error` is a DomainError of this kind. */
export const hasErrorKind = (error: unknown, kind: ErrorKind): error is DomainError => error instanceof DomainError && error.kind === kind;

const guard = (id: string) => (error: unknown): error is DomainError => hasErrorId(error, id);
export const isSmtpConfigAlreadyExists = guard(ErrorIds.SmtpConfigAlreadyExists);
export const isSmtpConfigNotFound = (error: unknown): error is DomainError =>
  hasErrorId(error, ErrorIds.SmtpConfigNotFound) || hasErrorId(error, ErrorIds.SmtpConfigNotFoundForCommand);
export const isSmtpConfigNotChanged = guard(ErrorIds.SmtpConfigNotChanged);
/** Whether a test mail failed (any step: connection, timeout, TLS, authentication, sender, recipient). */
export const isSmtpTestFailed = (error: unknown): error is DomainError => error instanceof DomainError && error.id.startsWith('SMTP-TEST-');
export const isInvalidSmtpConfig = guard(ErrorIds.InvalidSmtpConfig);
export const isInstanceNotFound = (error: unknown): error is DomainError =>
  hasErrorId(error, ErrorIds.InstanceNotFound) || hasErrorId(error, ErrorIds.HttpInstanceNotFound);
export const isMalformedEvent = guard(ErrorIds.MalformedEvent);
export const isInstanceAlreadyExists = guard(ErrorIds.InstanceAlreadyExists);
export const isDomainTaken = guard(ErrorIds.DomainTaken);
export const isConcurrencyConflict = guard(ErrorIds.ConcurrencyConflict);
export const isCommandIdReused = guard(ErrorIds.CommandIdReused);
export const isPermissionDenied = (error: unknown): error is DomainError => hasErrorKind(error, ErrorKind.PermissionDenied);
export const isUnauthenticated = (error: unknown): error is DomainError => hasErrorKind(error, ErrorKind.Unauthenticated);

/**
 * Errors an embedder raises from its own ports (a permission checker, an authenticator, an
 * encryptor, a store): each a DomainError of the right kind, so the HTTP and gRPC layers map it
 * onto the right status. Ids default to this package's; pass your own to tell them apart in logs.
 */
export const PortErrors = {
  permissionDenied: (message = 'No matching permissions found', id: string = ErrorIds.PermissionDenied) =>
    new DomainError(ErrorKind.PermissionDenied, id, 'Errors.Token.Permission', message),
  unauthenticated: (message = 'invalid token', id: string = ErrorIds.InvalidToken, cause?: unknown) =>
    new DomainError(ErrorKind.Unauthenticated, id, 'Errors.Token.Invalid', message, [], { cause }),
  notFound: (id: string, message: string, messageKey = 'Errors.NotFound') => new DomainError(ErrorKind.NotFound, id, messageKey, message),
  invalidArgument: (id: string, violations: readonly FieldViolation[], message?: string) =>
    new DomainError(
      ErrorKind.InvalidArgument,
      id,
      'Errors.Invalid.Argument',
      message ?? violations.map((v) => `${v.field}: ${v.description}`).join('; '),
      violations,
    ),
  failedPrecondition: (id: string, message: string) => new DomainError(ErrorKind.FailedPrecondition, id, 'Errors.FailedPrecondition', message),
  unavailable: (message = 'the store cannot take the request now', id: string = ErrorIds.StoreUnavailable, cause?: unknown) =>
    new DomainError(ErrorKind.Unavailable, id, 'Errors.Unavailable', message, [], { cause }),
  /**
   * `message` is answered to the API client, unless `clientMessage` is given: then `message` (which
   * may name your server's configuration: files, hosts, settings) is for your log only.
   */
  internal: (id: string, message = 'Internal error', cause?: unknown, clientMessage?: string) =>
    new DomainError(ErrorKind.Internal, id, 'Errors.Internal', message, [], { cause, ...(clientMessage === undefined ? {} : { clientMessage }) }),
} as const;
