import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openStores } from '../../src/infrastructure/bootstrap/open-stores.js';
import { ErrorIds, isDomainError, loadConfig } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';
import { testMetadata } from '../support/fixtures.js';

/**
 * A TCP proxy to the test database that can turn into a black hole: while it is one, it keeps every
 * connection open and passes nothing either way (what a client sees when the database's address
 * moved in a failover, or a route vanished, without any reset).
 */
const blackholeProxy = async () => {
  const target = new URL(testDatabaseUrl);
  let dark = false;
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    for (const s of pair) {
      s.on('error', () => undefined);
      s.on('close', () => {
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => void (dark || upstream.write(chunk)));
    upstream.on('data', (chunk: Buffer) => void (dark || client.write(chunk)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const url = new URL(testDatabaseUrl);
  url.host = `127.0.0.1:${port}`;
  return {
    url: url.toString(),
    /** From now on nothing passes, on the open connections and on new ones. */
    goDark: () => void (dark = true),
    /** New connections pass again; the ones that went dark stay dark until their client drops them. */
    comeBack: () => {
      dark = false;
      for (const [client, upstream] of pairs) if (client.destroyed || upstream.destroyed) pairs.delete([client, upstream]);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [a, b] of pairs) {
          a.destroy();
          b.destroy();
        }
        server.close(() => resolve());
      }),
  };
};

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok' as const,
    (e: unknown) => (isDomainError(e) ? e.id : `not a domain error: ${String(e)}`),
  );

describe.skipIf(postgresSkipReason !== undefined)('PostgreSQL whose address goes dark (no reset, no answer)', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('fails reads and writes as Unavailable within DATABASE_QUERY_TIMEOUT_MS, and works again on new connections once it answers', { timeout: 60_000 }, async () => {
    const db = await freshPostgresSchema(2);
    cleanup.push(() => db.drop());
    const proxy = await blackholeProxy();
    cleanup.push(() => proxy.close());
    const dataDir = mkdtempSync(join(tmpdir(), 'smtp-pg-dark-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const config = loadConfig({
      DATABASE_URL: proxy.url,
      DATABASE_SCHEMA: db.schema,
      DATA_DIR: dataDir,
      DATABASE_QUERY_TIMEOUT_MS: '400',
      DATABASE_CONNECT_TIMEOUT_MS: '400',
    });
    const stores = await openStores(config, dataDir, pino({ level: 'silent' }), 'tool');
    cleanup.push(() => Promise.race([stores.close(), new Promise<void>((r) => setTimeout(r, 2_000))]));
    const append = (n: number) =>
      stores.events.appendToStream(`instance-dark-${n}`, [{ id: randomUUID(), type: 'test.happened', data: { n }, metadata: testMetadata('dark') }], 'no_stream');
    expect(await outcome(append(1))).toBe('ok');

    proxy.goDark();
    const started = Date.now();
    const during = await Promise.all([
      outcome(stores.events.readStream('instance-dark-1')),
      outcome(append(2)),
      outcome(stores.readModel.instanceById('dark')),
    ]);
    // Bounded by the setting (with room for a loaded machine), not by TCP's quarter of an hour.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(during).toEqual([ErrorIds.StoreUnavailable, ErrorIds.StoreUnavailable, ErrorIds.StoreUnavailable]);

    proxy.comeBack();
    let read: Awaited<ReturnType<typeof stores.events.readStream>> | undefined;
    for (const deadline = Date.now() + 15_000; !read && Date.now() < deadline; ) {
      read = await stores.events.readStream('instance-dark-1').catch(() => undefined);
      if (!read) await new Promise((r) => setTimeout(r, 100));
    }
    expect(read?.events.map((e) => e.data)).toEqual([{ n: 1 }]);
    // The append that timed out in the dark reached nothing, or everything: never half.
    const second = await stores.events.readStream('instance-dark-2');
    expect([0, 1]).toContain(second.events.length);
    expect(await outcome(append(3))).toBe('ok');
  });
});
