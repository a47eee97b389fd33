import { DomainError, ErrorKind } from '../../domain/index.js';

const unavailableMessage = (reason: string) => `the store cannot write now (${reason}); nothing was saved, try again later`;

/**
 * The store cannot take the write now (disk full, I/O error, connection gone): 503 / code 14,
 * nothing was acknowledged, the caller may try again. The same id on every store.
 *
 * `reason` is for the operator, in the log (`request failed: the store cannot take it`): it may name
 * files, settings (DATABASE_POOL_SIZE…) and what the database client said (its host). `clientReason`
 * is what an API client is told instead: what kind of failure, none of the server's configuration.
 */
export const storeUnavailable = (reason: string, cause: unknown, clientReason: string = reason): DomainError =>
  new DomainError(ErrorKind.Unavailable, 'STORE-unav-7q3m', 'Errors.Store.Unavailable', unavailableMessage(reason), [], {
    cause,
    clientMessage: unavailableMessage(clientReason),
  });
