import { DomainError, ErrorKind, grpcCodeOf, type FieldViolation } from '../../domain/index.js';

/** The HTTP status grpc-gateway gives each gRPC code. */
export const httpStatusOf: Readonly<Record<ErrorKind, number>> = {
  InvalidArgument: 400,
  NotFound: 404,
  AlreadyExists: 409,
  PermissionDenied: 403,
  FailedPrecondition: 400,
  Internal: 500,
  Unavailable: 503,
  Unauthenticated: 401,
};

export type ErrorDetail =
  | { readonly '@type': 'type.googleapis.com/zitadel.v1.ErrorDetail'; readonly id: string; readonly message: string }
  | { readonly '@type': 'type.googleapis.com/google.rpc.BadRequest'; readonly fieldViolations: readonly FieldViolation[] };

/** The API document's error body: `{"code","message","details":[{"@type",…}]}`. */
export interface ErrorBody {
  readonly code: number;
  readonly message: string;
  readonly details: readonly ErrorDetail[];
}

/**
 * An error the HTTP layer answers with a status grpc-gateway would not pick for its kind (408, 414,
 * 415, 431), or with a gRPC code no domain error has (4, DEADLINE_EXCEEDED, for a client too slow).
 */
export class HttpStatusError extends DomainError {
  constructor(
    readonly status: number,
    kind: ErrorKind,
    id: string,
    message: string,
    readonly grpcCodeOverride?: number,
  ) {
    super(kind, id, 'Errors.Invalid.Argument', message);
  }
}

export const statusOf = (error: DomainError): number => (error instanceof HttpStatusError ? error.status : httpStatusOf[error.kind]);

export const errorBodyOf = (error: DomainError): ErrorBody => ({
  code: (error instanceof HttpStatusError ? error.grpcCodeOverride : undefined) ?? grpcCodeOf[error.kind],
  // ZITADEL's gateway puts the error id in parentheses after the message. The client's message: an
  // error whose message is for the server's operator (its configuration) keeps that for the log.
  message: `${error.clientMessage} (${error.id})`,
  details: [
    { '@type': 'type.googleapis.com/zitadel.v1.ErrorDetail', id: error.id, message: error.clientMessage },
    ...(error.clientViolations.length > 0
      ? [{ '@type': 'type.googleapis.com/google.rpc.BadRequest' as const, fieldViolations: error.clientViolations }]
      : []),
  ],
});

/**
 * A refusal whose answer stays general (a client is not told which token check failed), with the
 * reason for the log only: `request rejected` lines carry it as `reason`.
 */
export class ReasonedDomainError extends DomainError {
  constructor(kind: ErrorKind, id: string, messageKey: string, message: string, readonly logReason: string, cause?: unknown, clientMessage?: string) {
    super(kind, id, messageKey, message, [], { cause, ...(clientMessage === undefined ? {} : { clientMessage }) });
  }
}

/**
 * For a `request rejected` log line: `{ reason }` when the error carries one, and `{ detail }`, the
 * operator's message, when the client was told another (DomainError.clientMessage); else nothing.
 */
export const logReasonOf = (error: unknown): { reason?: string; detail?: string } => ({
  ...(error instanceof ReasonedDomainError ? { reason: error.logReason } : {}),
  ...(error instanceof DomainError && error.clientMessage !== error.message ? { detail: error.message } : {}),
});

/** What the HTTP layer itself rejects, before a use case runs. */
export const HttpErrors = {
  badRequest: (id: string, message: string) => new DomainError(ErrorKind.InvalidArgument, id, 'Errors.Invalid.Argument', message),
  /** `logReason`: which check failed, for the log only (never the token). */
  unauthenticated: (id: string, message: string, cause?: unknown, logReason?: string) =>
    logReason === undefined
      ? new DomainError(ErrorKind.Unauthenticated, id, 'Errors.Token.Invalid', message, [], { cause })
      : new ReasonedDomainError(ErrorKind.Unauthenticated, id, 'Errors.Token.Invalid', message, logReason, cause),
  instanceNotFound: () => new DomainError(ErrorKind.NotFound, 'INST-NotFound', 'Errors.IAM.NotFound', 'Instance not found'),
  routeNotFound: () => new DomainError(ErrorKind.NotFound, 'HTTP-404', 'Errors.NotFound', 'Not Found'),
  internal: (cause: unknown) => new DomainError(ErrorKind.Internal, 'HTTP-500', 'Errors.Internal', 'Internal error', [], { cause }),
  unavailable: () => new DomainError(ErrorKind.Unavailable, 'HTTP-503', 'Errors.Unavailable', 'Service unavailable'),
  shuttingDown: () => new DomainError(ErrorKind.Unavailable, 'HTTP-SHUTDOWN', 'Errors.Unavailable', 'the server is shutting down; the request was not executed'),
  badUrl: () => new DomainError(ErrorKind.InvalidArgument, 'HTTP-BAD-URL', 'Errors.Invalid.Argument', 'the URL is not validly percent-encoded'),
  uriTooLong: () => new HttpStatusError(414, ErrorKind.InvalidArgument, 'HTTP-URI-TOO-LONG', 'a path parameter is too long'),
  headersTooLarge: () => new HttpStatusError(431, ErrorKind.InvalidArgument, 'HTTP-HEADERS-TOO-LARGE', 'the request headers are too large'),
  malformedRequest: () => new DomainError(ErrorKind.InvalidArgument, 'HTTP-MALFORMED', 'Errors.Invalid.Argument', 'malformed HTTP request'),
  requestTimeout: () => new HttpStatusError(408, ErrorKind.Unavailable, 'HTTP-TIMEOUT', 'the request was not received in time', 4),
  /** A Content-Type no parser takes; still 400, as every body the gateway cannot read. */
  unsupportedMediaType: (contentType: string | undefined) => {
    const type = (contentType ?? '').split(';')[0]!.trim().slice(0, 60);
    const what = type === '' ? 'a body without a Content-Type' : `Content-Type "${type}"`;
    return new DomainError(ErrorKind.InvalidArgument, 'HTTP-BODY', 'Errors.Invalid.Argument', `${what} is not supported; send application/json`);
  },
  unsupportedContentCoding: (coding: string) =>
    new HttpStatusError(415, ErrorKind.InvalidArgument, 'HTTP-ENCODING', `Content-Encoding "${coding.slice(0, 40)}" is not supported; send the body uncompressed`),
  unsupportedCharset: (charset: string) =>
    new HttpStatusError(415, ErrorKind.InvalidArgument, 'HTTP-CHARSET', `the body must be UTF-8 (Content-Type charset is "${charset.slice(0, 40)}")`),
} as const;
