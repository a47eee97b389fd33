import pg from 'pg';
import type { ProjectionLease, ProjectionLock } from '../../application/index.js';
import { schemaIdentifier } from './migrate.js';

/**
 * The projection lock as a session-level advisory lock on a connection of its own: held as long as
 * that connection lives, so PostgreSQL releases it the moment the holder's process dies (kill -9
 * included) or its connection breaks, and the holder learns of a break through `lost`.
 *
 * A holder that stops without dying (a paused VM, SIGSTOP, a network partition) keeps its
 * connection open, for as long as its kernel answers for it: the session therefore has an
 * `idle_session_timeout` of `idleTimeoutMs`, and the holder pings it four times as often. Silent
 * longer than that, the holder loses the session and the lock, and another replica takes over; the
 * holder, when it runs again, learns it through `lost`.
 */
export class PgProjectionLock implements ProjectionLock {
  private readonly key: string;
  private readonly idleTimeoutMs: number;

  constructor(
    private readonly config: pg.ClientConfig,
    schema: string,
    projection = 'smtp-config',
    options: { readonly idleTimeoutMs?: number } = {},
  ) {
    this.key = `${schemaIdentifier(schema)}.projection.${projection}`;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 10_000;
  }

  async tryAcquire(): Promise<ProjectionLease | undefined> {
    const client = new pg.Client({ ...this.config, keepAlive: true });
    let markLost!: () => void;
    const lost = new Promise<void>((resolve) => (markLost = resolve));
    client.on('error', () => markLost());
    client.on('end', () => markLost());
    try {
      await client.connect();
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [this.key]);
      if (rows[0]?.locked) {
        // PostgreSQL before 14 has no idle_session_timeout: there the lock is held as before.
        await client.query("SELECT set_config('idle_session_timeout', $1, false)", [String(this.idleTimeoutMs)]).catch(() => undefined);
        const ping = setInterval(() => void client.query('SELECT 1').catch(() => markLost()), Math.max(50, Math.floor(this.idleTimeoutMs / 4)));
        ping.unref();
        // A ping that failed may leave the session, and the lock, behind: end it, so that this
        // replica's next try, or another's, can take the lock.
        void lost.then(() => {
          clearInterval(ping);
          void client.end().catch(() => undefined);
        });
        return {
          lost,
          release: async () => {
            clearInterval(ping);
            await client.query('SELECT pg_advisory_unlock(hashtext($1))', [this.key]).catch(() => undefined);
            await client.end().catch(() => undefined);
          },
        };
      }
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    await client.end().catch(() => undefined);
    return undefined;
  }
}
