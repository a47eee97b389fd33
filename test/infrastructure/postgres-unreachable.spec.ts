import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openStores } from '../../src/infrastructure/bootstrap/open-stores.js';
import { isPgUnavailable } from '../../src/infrastructure/postgres/errors.js';
import { loadConfig } from '../support/everything.js';

/**
 * A database that takes the TCP connection and never answers (what a dropped route or a hung
 * server looks like to a client) must not hold a start, or a request, until the operating system
 * gives up minutes later: DATABASE_CONNECT_TIMEOUT_MS bounds every new connection.
 */
describe('PostgreSQL that never answers', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  const silentServer = async (): Promise<number> => {
    const sockets = new Set<Socket>();
    const server: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    );
    return (server.address() as { port: number }).port;
  };

  it('fails a start within DATABASE_CONNECT_TIMEOUT_MS, naming where it tried and the setting, never the password', async () => {
    const port = await silentServer();
    const dataDir = mkdtempSync(join(tmpdir(), 'smtp-pg-silent-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const config = loadConfig({ DATABASE_URL: `postgres://root:s3cret-pw@127.0.0.1:${port}/test`, DATABASE_CONNECT_TIMEOUT_MS: '300', DATA_DIR: dataDir });
    const started = Date.now();
    const failure = await openStores(config, dataDir, pino({ level: 'silent' }), 'server').then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    const took = Date.now() - started;
    expect(failure).toBeInstanceOf(Error);
    expect(failure!.message).toMatch(new RegExp(`^cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}/test \\(DATABASE_URL\\): .*timeout.*DATABASE_CONNECT_TIMEOUT_MS \\(300 ms\\)`));
    expect(failure!.message).not.toContain('s3cret-pw');
    // Bounded by the setting (a generous margin for a loaded machine), not by TCP's minutes.
    expect(took).toBeLessThan(10_000);
  });

  it('takes a connect timeout for Unavailable, from the client and from the pool waiting for a client', async () => {
    const port = await silentServer();
    const pool = new pg.Pool({ connectionString: `postgres://root@127.0.0.1:${port}/test`, connectionTimeoutMillis: 200, max: 1 });
    cleanup.push(() => pool.end().catch(() => undefined));
    const fromClient = await pool.query('SELECT 1').catch((e: unknown) => e);
    expect(String(fromClient)).toMatch(/timeout/i);
    expect(isPgUnavailable(fromClient)).toBe(true);
    expect(isPgUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isPgUnavailable(new Error('relation "x" does not exist'))).toBe(false);
  });
});
