import {
  AccessDeniedError,
  CancelledError,
  DeadlineExceededError,
  MaxAppendSizeExceededError,
  NotLeaderError,
  StreamDeletedError,
  UnavailableError,
} from '@eventstore/db-client';
import { SubscriptionRefusedError } from '../../application/index.js';
import { DomainError, ErrorKind } from '../../domain/index.js';
import { storeUnavailable } from '../sql/store-errors.js';

/** The call may not have reached the leader, or its answer was lost: the store may be asked again. */
export const isTransient = (error: unknown): boolean =>
  error instanceof UnavailableError || error instanceof CancelledError || error instanceof DeadlineExceededError || error instanceof NotLeaderError;

/** A stream that was hard-deleted (tombstoned) on the server: it can never be read or written again. */
export const streamDeleted = (streamId: string, cause: unknown): DomainError =>
  new DomainError(ErrorKind.NotFound, 'ESDB-del-4k8w', 'Errors.Store.StreamDeleted', `stream ${streamId} was deleted in EventStoreDB`, [], { cause });

/** The events of one append are larger than the server accepts (`MaxAppendSize`, 1 MiB by default). */
export const appendTooLarge = (maxAppendSize: number, cause: unknown): DomainError =>
  new DomainError(
    ErrorKind.InvalidArgument,
    'ESDB-size-9p2d',
    'Errors.Store.AppendTooLarge',
    `the change is larger than EventStoreDB accepts in one append (${maxAppendSize} bytes)`,
    [],
    { cause },
  );

/**
 * Maps what the client raised to the port's errors: transient failures to Unavailable (503, code
 * 14, `STORE-unav-7q3m`, as on every store), a deleted stream to NotFound, an oversized append to
 * InvalidArgument. Anything else is passed on unchanged.
 */
export const toStoreError = (error: unknown, streamId: string): unknown => {
  // The client's message may name the server's address (a refused connection): the log's alone.
  if (isTransient(error)) return storeUnavailable(`EventStoreDB: ${(error as Error).message || (error as Error).constructor.name}`, error, 'EventStoreDB did not take it');
  if (error instanceof StreamDeletedError) return streamDeleted(streamId, error);
  if (error instanceof MaxAppendSizeExceededError) return appendTooLarge(error.maxAppendSize, error);
  return error;
};

/** gRPC's INVALID_ARGUMENT: the only one a subscription gets for a position the server does not know. */
const INVALID_ARGUMENT = 3;

/**
 * A subscription failure that subscribing again cannot cure becomes {@link SubscriptionRefusedError},
 * so the projection stops with a clear log line instead of retrying forever.
 */
export const toSubscriptionError = (error: unknown): unknown => {
  if (error instanceof AccessDeniedError) {
    return new SubscriptionRefusedError('EventStoreDB refused to let this user read $all (access denied); give it read access to $all', { cause: error });
  }
  if ((error as { code?: unknown } | undefined)?.code === INVALID_ARGUMENT) {
    return new SubscriptionRefusedError(
      `EventStoreDB does not know the read model's checkpoint as a position in $all (${(error as Error).message}); was the read model made from another database? Rebuild it`,
      { cause: error },
    );
  }
  return error;
};
