import { DomainError, ErrorKind } from '../../domain/index.js';

/**
 * The store cannot take the write now (disk full, I/O error, connection gone): 503 / code 14,
 * nothing was acknowledged, the caller may try again. The same id on every store.
 */
export const storeUnavailable = (reason: string, cause: unknown): DomainError =>
  new DomainError(ErrorKind.Unavailable, 'STORE-unav-7q3m', 'Errors.Store.Unavailable', `the store cannot write now (${reason}); nothing was saved, try again later`, [], {
    cause,
  });
