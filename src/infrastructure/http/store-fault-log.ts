import { ErrorIds, type DomainError } from '../../domain/index.js';

/**
 * A request the store could not take (a full disk, a database gone or out of connections): 503 /
 * code 14 for the client, and something an operator must fix, so it is logged as a warning with the
 * reason and the store's own error (PostgreSQL's names the file and gives a hint), which the client
 * is not shown. Other 503s (shutting down, a read model that lags) stay "request rejected".
 */
export const isStoreFault = (error: DomainError): boolean => error.id === ErrorIds.StoreUnavailable;

export const STORE_FAULT_MSG = 'request failed: the store cannot take it';

export const storeFaultLog = (error: DomainError) => ({ errorId: error.id, code: error.grpcCode, reason: error.message, err: error.cause });
