import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';
import { InProcessEventStoreDB } from '../support/esdb/in-process-eventstoredb.js';
import { seedRequest } from '../support/fixtures.js';
import { send, startTestServer, type HttpResponse, type TestServer } from '../support/http-server.js';

const errorId = (res: HttpResponse): string | undefined =>
  res.json?.details?.find((d: { '@type': string }) => d['@type'] === 'type.googleapis.com/zitadel.v1.ErrorDetail')?.id;

interface ServerUnderTest {
  readonly name: string;
  start(): Promise<{ server: TestServer; close(): Promise<void> }>;
}

const servers: ServerUnderTest[] = [
  {
    name: 'SQLite',
    async start() {
      const server = await startTestServer();
      return { server, close: () => server.close() };
    },
  },
  ...(postgresSkipReason
    ? []
    : [
        {
          name: 'PostgreSQL',
          async start() {
            const db = await freshPostgresSchema(4);
            const server = await startTestServer({ DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema });
            return {
              server,
              close: async () => {
                await server.close();
                await db.drop();
              },
            };
          },
        },
      ]),
  {
    name: 'EventStoreDB (in-process server) with the SQLite read model',
    async start() {
      const esdb = await new InProcessEventStoreDB({ mode: 'batch-append' }).start();
      const server = await startTestServer({ EVENTSTORE_CONNECTION_STRING: esdb.connectionString });
      return {
        server,
        close: async () => {
          await server.close();
          await esdb.stop();
        },
      };
    },
  },
];

/**
 * An id no store can hold (PostgreSQL's text refuses NUL) names no configuration: every store answers
 * 404 for it, as the command routes do, and a read by it never fails the reads that share its query.
 */
describe.each(servers)('ids with a NUL over HTTP: $name', ({ start }) => {
  let t: Awaited<ReturnType<ServerUnderTest['start']>>;
  const tenants: { domain: string; token: string; id: string }[] = [];
  beforeAll(async () => {
    t = await start();
    for (let i = 0; i < 4; i++) {
      const domain = `nul-${i}.example.com`;
      const instanceId = await t.server.newInstance(domain);
      const token = await t.server.token({ instanceId, roles: ['IAM_OWNER'] });
      const added = await t.server.post(seedRequest, { host: domain, token });
      expect(added.status).toBe(200);
      tenants.push({ domain, token, id: added.json.id as string });
    }
  }, 60_000);
  afterAll(() => t.close());

  const get = (tenant: { domain: string; token: string }, id: string, method = 'GET') =>
    send(t.server.url, { method, path: `/admin/v1/smtp/${id}`, host: tenant.domain, headers: { authorization: `Bearer ${tenant.token}` } });

  it('answers GET and DELETE of an id with a NUL with 404, code 5, and logs no error', async () => {
    const [a] = tenants;
    for (const id of ['a%00b', '%00', `${a!.id}%00`]) {
      const read = await get(a!, id);
      expect({ id, status: read.status, code: read.json.code, errorId: errorId(read) }).toEqual({ id, status: 404, code: 5, errorId: 'QUERY-B8ers' });
      const removed = await get(a!, id, 'DELETE');
      expect({ id, status: removed.status, code: removed.json.code }).toEqual({ id, status: 404, code: 5 });
    }
    expect((await get(a!, a!.id)).status).toBe(200);
    expect(t.server.logs.filter((l) => l.includes('"level":50'))).toEqual([]);
  });

  it('answers every valid read of other instances made at the same time as reads with a NUL', { timeout: 60_000 }, async () => {
    for (let round = 0; round < 10; round++) {
      const calls: Promise<{ expect: number; res: HttpResponse }>[] = [];
      for (let k = 0; k < 16; k++) {
        const tenant = tenants[k % tenants.length]!;
        const bad = k % 8 === 3;
        calls.push(get(tenant, bad ? `x%00${k}` : tenant.id).then((res) => ({ expect: bad ? 404 : 200, res })));
      }
      const answers = await Promise.all(calls);
      expect(answers.map((a) => a.res.status)).toEqual(answers.map((a) => a.expect));
    }
  });
});
