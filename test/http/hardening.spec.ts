// Issue 10: what an adversarial client found against `npm start`, each case now answered in the
// API document's error shape with the right status, never 500.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateDevSigningKey, signToken, TOKENS, type EventStore, type TokenClaims } from '../support/everything.js';
import { seedRequest } from '../support/fixtures.js';
import { send, startTestServer, type TestServer } from '../support/http-server.js';
import { rawPost, rawRequest } from '../support/raw-http.js';

type Answer = { status: number; json: any };
/** The API document's error body, with its gRPC code and HTTP status. */
export const expectSeedError = (res: Answer, status: number, code: number) => {
  expect(res.status).toBe(status);
  expect(Object.keys(res.json ?? {})).toEqual(['code', 'message', 'details']);
  expect(res.json.code).toBe(code);
  expect(typeof res.json.message).toBe('string');
  expect(res.json.details[0]['@type']).toBe('type.googleapis.com/zitadel.v1.ErrorDetail');
};

const now = () => Math.floor(Date.now() / 1000);

describe('HTTP hardening', () => {
  let server: TestServer;
  let firstInstance: string;
  let sign: (claims: Partial<TokenClaims>) => Promise<string>;
  const head = () => server.app.container.get<EventStore>(TOKENS.EventStore).headPosition();

  beforeAll(async () => {
    server = await startTestServer();
    firstInstance = await server.firstInstanceId();
    const { privateJwk } = await loadOrCreateDevSigningKey(server.dataDir);
    sign = (claims) => signToken(privateJwk, { userId: 'u1', instanceId: firstInstance, roles: [], ...claims });
  });
  afterAll(() => server.close());

  describe('role names that are members of Object.prototype', () => {
    const ROLES = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];
    it.each(ROLES)('a token with only the role "%s" gets 403, code 7', async (role) => {
      const res = await server.post(seedRequest, { token: await server.token({ instanceId: firstInstance, roles: [role] }) });
      expectSeedError(res, 403, 7);
    });
    it.each(ROLES)('an owner whose first role is "%s" gets 200', async (role) => {
      const host = `role-${role.replace(/_/g, 'u').toLowerCase()}.example.com`;
      const instanceId = await server.newInstance(host);
      const res = await server.post(seedRequest, { host, token: await server.token({ instanceId, roles: [role, 'IAM_OWNER'] }) });
      expect(res.status).toBe(200);
    });
  });

  describe("the router's and Node's errors", () => {
    it('a bad percent-encoding is 400, code 3', async () => {
      expectSeedError(await send(server.url, { path: '/admin/v1/smtp/%E0%A4%A' }), 400, 3);
    });
    it('an over-long id is 414, code 3', async () => {
      expectSeedError(await send(server.url, { path: `/admin/v1/smtp/${'1'.repeat(101)}` }), 414, 3);
    });
    it('a malformed request line is 400, code 3', async () => {
      expectSeedError(await rawRequest(server.url, 'GET / HTTP/9.x\r\nHost: localhost\r\n\r\n'), 400, 3);
    });
    it('a Content-Length that is not a number is 400, code 3', async () => {
      expectSeedError(await rawRequest(server.url, rawPost('/admin/v1/smtp', { Host: 'localhost', 'Content-Length': 'abc' }, '{}')), 400, 3);
    });
    it('oversized headers are 431, code 3', async () => {
      expectSeedError(await rawRequest(server.url, `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), 431, 3);
    });
    it('a CONNECT request is answered 404, code 5, instead of a connection closed without a word', async () => {
      const res = await rawRequest(server.url, 'CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n');
      expect(res.closedWithoutAnswer).toBe(false);
      expectSeedError(res, 404, 5);
    });
    it('a request without Host is 400, code 3', async () => {
      expectSeedError(await rawRequest(server.url, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'), 400, 3);
    });
    it('a request with two Host headers is 400, code 3, and appends nothing', async () => {
      const before = await head();
      const token = await server.token({ instanceId: firstInstance, roles: ['IAM_OWNER'] });
      const res = await rawRequest(
        server.url,
        rawPost('/admin/v1/smtp', { Host: 'localhost', 'X-A': '1', host: 'elsewhere.example.com', Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, JSON.stringify(seedRequest)),
      );
      expectSeedError(res, 400, 3);
      expect(await head()).toEqual(before);
    });
  });

  describe('the body: UTF-8 JSON only', () => {
    const post = async (contentType: string, body: Buffer | string) =>
      rawRequest(server.url, rawPost('/admin/v1/smtp', { Host: 'localhost', Authorization: `Bearer ${await server.token({ instanceId: firstInstance, roles: ['IAM_OWNER'] })}`, 'Content-Type': contentType }, body));
    const badHost = JSON.stringify({ ...seedRequest, host: 'no-port' });

    it('a charset other than UTF-8 is 415, code 3', async () => {
      expectSeedError(await post('application/json; charset=utf-16le', Buffer.from(badHost, 'utf16le')), 415, 3);
      expectSeedError(await post('application/json;charset="ISO-8859-1"', badHost), 415, 3);
    });
    it('charset=UTF-8 (any case, quoted or not) is read', async () => {
      for (const ct of ['application/json; charset=UTF-8', 'application/json;charset="utf-8"']) {
        const res = await post(ct, badHost);
        expectSeedError(res, 400, 3);
        expect(res.json.details[1].fieldViolations[0].field).toBe('host');
      }
    });
    it('a leading byte-order mark is refused with 400, code 3', async () => {
      expectSeedError(await post('application/json', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(badHost)])), 400, 3);
    });
    it('a compressed body (Content-Encoding: gzip, …) is 415, code 3, naming the coding, not "not valid UTF-8"; nothing is appended', async () => {
      const before = await head();
      const token = await server.token({ instanceId: firstInstance, roles: ['IAM_OWNER'] });
      const headers = { Host: 'localhost', Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
      for (const [coding, body] of [
        ['gzip', gzipSync(JSON.stringify(seedRequest))],
        ['GZip', Buffer.from(JSON.stringify(seedRequest))],
        ['deflate, br', Buffer.from(JSON.stringify(seedRequest))],
      ] as const) {
        const res = await rawRequest(server.url, rawPost('/admin/v1/smtp', { ...headers, 'Content-Encoding': coding }, body));
        expectSeedError(res, 415, 3);
        expect(res.json.message).toContain(`Content-Encoding "${coding.toLowerCase()}"`);
      }
      expect(await head()).toEqual(before);
    });
    it.each(['identity', 'utf-8'])('Content-Encoding: %s names no compression: the body is read as it is', async (coding) => {
      const token = await server.token({ instanceId: firstInstance, roles: ['IAM_OWNER'] });
      const headers = { Host: 'localhost', Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Content-Encoding': coding };
      const res = await rawRequest(server.url, rawPost('/admin/v1/smtp', headers, badHost));
      expectSeedError(res, 400, 3);
      expect(res.json.details[1].fieldViolations[0].field).toBe('host');
    });
    it('bytes that are not UTF-8 are refused with 400, code 3, not read as U+FFFD', async () => {
      const res = await post('application/json', Buffer.from(`{"senderAddress":"a@b.c","senderName":"\xff\xfe","host":"h:1"}`, 'latin1'));
      expectSeedError(res, 400, 3);
      expect(res.json.message).toMatch(/UTF-8/);
    });
  });

  describe('tokens', () => {
    const expect401 = async (token: string) => {
      const before = await head();
      expectSeedError(await server.post(seedRequest, { token }), 401, 16);
      expect(await head()).toEqual(before);
    };
    it('refuses an iat an hour in the future', async () => expect401(await sign({ roles: ['IAM_OWNER'], issuedAt: now() + 3600, expiresIn: now() + 7200 })));
    it('accepts an iat within the clock skew (60 s)', async () => {
      expectSeedError(await server.post(seedRequest, { token: await sign({ issuedAt: now() + 30 }) }), 403, 7);
    });
    it('refuses a token issued longer ago than the maximum age (12 h)', async () =>
      expect401(await sign({ roles: ['IAM_OWNER'], issuedAt: now() - 13 * 3600, expiresIn: now() + 3600 })));
    it('refuses an exp 100 years ahead (longer than the maximum age)', async () => expect401(await sign({ roles: ['IAM_OWNER'], expiresIn: now() + 100 * 365 * 86400 })));
    it('refuses an empty sub', async () => expect401(await sign({ roles: ['IAM_OWNER'], userId: '' })));
    it('refuses a sub with a NUL character', async () => expect401(await sign({ roles: ['IAM_OWNER'], userId: 'user\u0000x' })));
    it('refuses a sub with a lone surrogate', async () => expect401(await sign({ roles: ['IAM_OWNER'], userId: 'user\ud800' })));
    it('refuses an aud claim when no audience is configured', async () => expect401(await sign({ roles: ['IAM_OWNER'], audience: 'some-other-service' })));
    it('matches the scheme case-insensitively ("bearer")', async () => {
      const host = 'lower-bearer.example.com';
      const instanceId = await server.newInstance(host);
      const token = await server.token({ instanceId, roles: ['IAM_OWNER'] });
      const res = await server.post(seedRequest, { host, headers: { authorization: `bearer ${token}` } });
      expect(res.status).toBe(200);
    });
  });

  it('ignores a trailing dot in the host: "example.com." is the instance of "example.com"', async () => {
    const host = 'trailing-dot.example.com';
    const instanceId = await server.newInstance(host);
    const res = await server.post(seedRequest, { host: `${host}.:8080`, token: await server.token({ instanceId, roles: ['IAM_OWNER'] }) });
    expect(res.status).toBe(200);
  });
});

describe('HTTP timeouts', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ HTTP_HEADERS_TIMEOUT_MS: '300', HTTP_REQUEST_TIMEOUT_MS: '600' });
  });
  afterAll(() => server.close());

  const expectCutOff = (res: Awaited<ReturnType<typeof rawRequest>>) => {
    if (res.closedWithoutAnswer) return;
    expectSeedError(res, 408, 4);
  };

  it('cuts off a client that stops mid-body (408 in the API shape, or a closed connection), and appends nothing', async () => {
    const before = await server.app.container.get<EventStore>(TOKENS.EventStore).headPosition();
    const token = await server.token({ instanceId: await server.firstInstanceId(), roles: ['IAM_OWNER'] });
    const body = JSON.stringify(seedRequest);
    const partial = rawPost('/admin/v1/smtp', { Host: 'localhost', Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Content-Length': String(body.length) }, body.slice(0, 20));
    expectCutOff(await rawRequest(server.url, partial));
    expect(await server.app.container.get<EventStore>(TOKENS.EventStore).headPosition()).toEqual(before);
  });

  it('cuts off a client that stops in the middle of its headers', async () => {
    expectCutOff(await rawRequest(server.url, 'POST /admin/v1/smtp HTTP/1.1\r\nHost: localhost\r\nX-Slow: '));
  });

  it('refuses a timeout configuration where headers may take longer than the whole request', async () => {
    await expect(startTestServer({ HTTP_HEADERS_TIMEOUT_MS: '2000', HTTP_REQUEST_TIMEOUT_MS: '1000' })).rejects.toThrow(/HTTP_HEADERS_TIMEOUT_MS/);
  });
});
