import { describe, expect, it } from 'vitest';
import { PgProjectionLock } from '../../src/infrastructure/postgres/index.js';
import { freshPostgresSchema, postgresSkipReason } from '../support/adapters.js';

/** Stops this process's event loop, as a paused VM, a SIGSTOP or a stalled process does: nothing runs, its sockets stay open. */
const freeze = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p.then(() => 'settled' as const), new Promise<'timed out'>((r) => setTimeout(() => r('timed out'), ms))]);

/**
 * A lock holder that does not die but stops (a paused VM, SIGSTOP, a network partition) keeps its
 * connection, and with it the lock, for as long as the kernel answers for it: without more, no other
 * replica ever takes over, and the read model stands still (every POST elsewhere waits its 5 s and
 * reads 404 for its own configuration). The lock's session ends when the holder stops pinging it.
 */
describe.skipIf(postgresSkipReason !== undefined)('the projection lock of a holder that stops without dying', () => {
  it('is kept while the holder runs, and goes to another replica once the holder has been silent for idleTimeoutMs', { timeout: 30_000 }, async () => {
    const db = await freshPostgresSchema(2);
    try {
      const holder = new PgProjectionLock(db.pool.options, db.schema, 'smtp-config', { idleTimeoutMs: 1_000 });
      const other = new PgProjectionLock(db.pool.options, db.schema, 'smtp-config', { idleTimeoutMs: 1_000 });
      const lease = await holder.tryAcquire();
      expect(lease).toBeDefined();

      // Alive and idle for more than the timeout: it keeps the lock.
      await new Promise((r) => setTimeout(r, 2_500));
      expect(await other.tryAcquire()).toBeUndefined();
      expect(await within(lease!.lost, 10)).toBe('timed out');

      freeze(2_500);
      // Once it runs again, it learns that the lock is gone, and another replica can take it.
      expect(await within(lease!.lost, 5_000)).toBe('settled');
      const taken = await other.tryAcquire();
      expect(taken).toBeDefined();
      await taken!.release();
      await lease!.release();
    } finally {
      await db.drop();
    }
  });
});
