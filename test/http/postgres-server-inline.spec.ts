import { afterEach, describe, expect, it } from 'vitest';
import { TOKENS, type ProjectionStore } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';
import { seedRequest } from '../support/fixtures.js';
import { send, startTestServer, type TestServer } from '../support/http-server.js';

/**
 * The server on PostgreSQL, wired as `npm start` wires it: its POSTs project inline, and the replica
 * that leads the projection neither writes those rows again nor asks the read model about them.
 */
describe.skipIf(postgresSkipReason !== undefined)('the server on PostgreSQL, leading the projection', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('answers POSTs from the rows their own appends wrote, and its runner leaves those events alone', { timeout: 60_000 }, async () => {
    const db = await freshPostgresSchema(2);
    cleanup.push(() => db.drop());
    const server: TestServer = await startTestServer({ DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema });
    cleanup.push(() => server.close());
    while (!server.logs.some((l) => l.includes('this replica now writes the read model'))) await new Promise((r) => setTimeout(r, 20));
    const domains = Array.from({ length: 5 }, (_, i) => `inline${i}.example.com`);
    const instances = [];
    for (const d of domains) instances.push(await server.newInstance(d));
    const readModel = server.app.container.get<ProjectionStore>(TOKENS.ProjectionStore);
    const calls: string[] = [];
    for (const method of ['applyBatch', 'checkpoint', 'smtpConfigById'] as const) {
      const original = (readModel[method] as (...args: unknown[]) => Promise<unknown>).bind(readModel);
      (readModel as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        calls.push(method);
        return original(...args);
      };
    }
    const answers = [];
    for (const [i, instanceId] of instances.entries()) {
      const token = await server.token({ instanceId, roles: ['IAM_OWNER'] });
      const res = await server.post(seedRequest, { host: domains[i], token });
      expect(res.status).toBe(200);
      answers.push({ instanceId, token, body: res.json as { id: string; details: { sequence: string } } });
    }
    // Give the runner time to receive the events (handed over) and do whatever it would do with them.
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toEqual([]);
    for (const [i, a] of answers.entries()) {
      const got = await send(server.url, { path: `/admin/v1/smtp/${a.body.id}`, host: domains[i]!, headers: { authorization: `Bearer ${a.token}` } });
      expect(got.status).toBe(200);
      expect((got.json as { smtpConfig: { id: string; details: { sequence: string } } }).smtpConfig).toMatchObject({ id: a.body.id, details: { sequence: a.body.details.sequence } });
    }
  });
});
