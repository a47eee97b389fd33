import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedRequest } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/http-server.js';

describe('request logging at info', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ LOG_LEVEL: 'info' });
  });
  afterAll(() => server.close());

  it('writes one line per request, with its id, method, path, status and time', async () => {
    const host = 'log-lines.example.com';
    const instanceId = await server.newInstance(host);
    const token = await server.token({ instanceId, roles: ['IAM_OWNER'] });
    const before = server.logs.length;
    expect((await server.post(seedRequest, { host, token })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 20));
    const lines = server.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, msg: 'request completed', req: { method: 'POST', url: '/admin/v1/smtp' }, res: { statusCode: 200 } });
    expect(typeof lines[0]!.reqId).toBe('string');
    expect(typeof lines[0]!.responseTime).toBe('number');
  });
});
