import type pg from 'pg';

/**
 * Runs `work` on a client checked out of `pool`, and gives it back: destroyed if it failed, for the
 * pool to replace. While a client is checked out, pg-pool listens to none of its 'error' events,
 * and a session the server ends (a restart, a failover, pg_terminate_backend) emits one when its
 * socket closes, after the query in flight has failed and before the caller has given the client
 * back: with no listener that is an uncaught exception, and the process dies. Here the client is
 * listened to from checkout to release.
 */
export const withPoolClient = async <T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken ??= error;
  };
  client.on('error', onError);
  try {
    return await work(client);
  } catch (error) {
    broken ??= error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    // Released first: pg-pool then listens again (a later error of a client kept idle is its own).
    client.release(broken);
    client.removeListener('error', onError);
  }
};
