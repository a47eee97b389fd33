import pg from 'pg';
import type { ProjectionLease, ProjectionLock } from '../../application/index.js';
import { schemaIdentifier } from './migrate.js';

/**
 * The projection lock as a session-level advisory lock on a connection of its own: held as long as
 * that connection lives, so PostgreSQL releases it the moment the holder's process dies (kill -9
 * included) or its connection breaks, and the holder learns of a break through `lost`.
 */
export class PgProjectionLock implements ProjectionLock {
  private readonly key: string;

  constructor(
    private readonly config: pg.ClientConfig,
    schema: string,
    projection = 'smtp-config',
  ) {
    this.key = `${schemaIdentifier(schema)}.projection.${projection}`;
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
        return {
          lost,
          release: async () => {
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
