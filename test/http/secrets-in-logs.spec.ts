import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodemailerSmtpMailer } from '../support/everything.js';
import { seedRequest } from '../support/fixtures.js';
import { send, startTestServer, type HttpResponse, type TestServer } from '../support/http-server.js';
import { startEchoingAuthServer } from '../support/smtp-test-server.js';

/** What a client sends that must reach no log line and no answer: a query string, a password a server echoes. */
describe('secrets a client sends, in the answers and the log lines', () => {
  let server: TestServer;
  const host = 'secrets.example.com';
  let token: string;
  let configId: string;
  const call = (method: string, path: string, body?: object): Promise<HttpResponse> =>
    send(server.url, { method, path, host, headers: { authorization: `Bearer ${token}` }, ...(body ? { body } : {}) });

  beforeAll(async () => {
    // LOG_LEVEL debug (the test server's default): the "incoming request" lines are written too.
    server = await startTestServer({}, { mailer: new NodemailerSmtpMailer({ connectTimeoutMs: 2_000, sendTimeoutMs: 5_000 }) });
    const instanceId = await server.newInstance(host);
    token = await server.token({ instanceId, roles: ['IAM_OWNER'] });
    const added = await call('POST', '/admin/v1/smtp', seedRequest);
    expect(added.status).toBe(200);
    configId = added.json.id as string;
  });
  afterAll(() => server.close());

  const linesSince = (n: number) => server.logs.slice(n).map((l) => JSON.parse(l) as { msg: string; req?: { url?: string; query?: string } });

  it('logs the path of a request without its query string, whatever the route made of it', async () => {
    const before = server.logs.length;
    const requests: [string, string, number][] = [
      ['GET', `/admin/v1/smtp/${configId}?password=Q-Secret-1`, 200],
      ['GET', '/admin/v1/smtp?password=Q-Secret-2&x=1', 200],
      ['GET', '/no/such/route?token=Q-Secret-3', 404],
      ['GET', `/admin/v1/smtp/%E0%A4%A?password=Q-Secret-4`, 400],
      ['DELETE', '/admin/v1/smtp/404404?Q-Secret-5', 404],
    ];
    for (const [method, path, status] of requests) expect({ path, status: (await call(method, path)).status }).toEqual({ path, status });
    await new Promise((r) => setTimeout(r, 20));
    for (const line of server.logs.slice(before)) expect(line).not.toContain('Q-Secret');
    const shown = (paths: readonly string[]) => paths.map((path) => ({ url: path.slice(0, path.indexOf('?')), query: '[REDACTED]' }));
    const logged = (msg: string) => linesSince(before).filter((l) => l.msg === msg).map((l) => ({ url: l.req?.url, query: l.req?.query }));
    expect(logged('incoming request')).toEqual(shown(requests.map(([, path]) => path)));
    // The router's own 400 (bad percent-encoding) logs "request rejected" and no "request completed".
    expect(logged('request completed')).toEqual(shown(requests.filter(([, , status]) => status !== 400).map(([, path]) => path)));
  });

  it('logs a request without a query string with its path as it was, and no query field', async () => {
    const before = server.logs.length;
    expect((await call('GET', `/admin/v1/smtp/${configId}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 20));
    const [completed] = linesSince(before).filter((l) => l.msg === 'request completed');
    expect(completed!.req).toMatchObject({ method: 'GET', url: `/admin/v1/smtp/${configId}`, host });
    expect(completed!.req).not.toHaveProperty('query');
  });

  it.each(['PLAIN', 'LOGIN'] as const)(
    'answers a test mail refused by a server that echoes the AUTH %s exchange without any form of the password, and logs none',
    async (method) => {
      const echo = await startEchoingAuthServer(method);
      try {
        const user = 'bob';
        const password = `bad-Secret-PW-${method}`;
        const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
        const forms = [password, b64(password), b64(`\u0000${user}\u0000${password}`), b64(`${user}\u0000${user}\u0000${password}`), b64(`${user}\u0000${password}`)];
        const before = server.logs.length;
        const res = await call('POST', '/admin/v1/smtp/_test', { ...seedRequest, host: echo.host, tls: false, user, password, receiverAddress: 'a@customer.example.com' });
        expect({ status: res.status, code: res.json.code }).toEqual({ status: 400, code: 9 });
        expect(res.json.message).toMatch(/Auth failed: .*\[REDACTED\]/);
        expect(echo.received.some((l) => l.includes(method === 'PLAIN' ? forms[2]! : forms[1]!))).toBe(true);
        for (const f of forms) expect(res.text).not.toContain(f);
        await new Promise((r) => setTimeout(r, 20));
        for (const line of server.logs.slice(before)) for (const f of forms) expect(line).not.toContain(f);
      } finally {
        await echo.close();
      }
    },
  );
});
