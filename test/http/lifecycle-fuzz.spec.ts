// Property: whatever the path id and body sent to the SMTP configuration's lifecycle routes
// (update, password, remove, test mails), the server answers without a 500, every error in the
// seed's shape, nothing is appended by a refused request, and no password shows in the answer,
// in a log line or in plain text in an event. Test mails only ever go to 127.0.0.1:1 / [::1]:1 / localhost:1 (refused).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair } from 'jose';
import {
  instanceStreamId,
  JwtAuthenticator,
  jwtAuthenticate,
  NodemailerSmtpMailer,
  signToken,
  smtpConfigPlugin,
  TOKENS,
  type EventStore,
} from '../support/everything.js';
import { createHarness, seedRequest, smtpLifecycleOf, type Harness } from '../support/fixtures.js';
import { send, startTestServer, type TestServer } from '../support/http-server.js';
import { rawRequest, type RawResponse } from '../support/raw-http.js';

const ERROR_DETAIL = 'type.googleapis.com/zitadel.v1.ErrorDetail';
const STORED_PASSWORD = 'Stored-Secret-7f3a9c-never-shown';
const UNREACHABLE = ['127.0.0.1:1', '[::1]:1', 'localhost:1'];

describe('fuzzing the SMTP lifecycle routes (fast-check, seeded)', () => {
  let server: TestServer;
  const events = () => server.app.container.get<EventStore>(TOKENS.EventStore);

  /** An instance on its own domain with one stored configuration pointing at an unreachable port. */
  const tenant = async (domain: string) => {
    const instanceId = await server.newInstance(domain);
    const token = await server.token({ instanceId, roles: ['IAM_OWNER'] });
    const added = await send(server.url, {
      method: 'POST',
      path: '/admin/v1/smtp',
      host: domain,
      headers: { authorization: `Bearer ${token}` },
      body: { ...seedRequest, host: '127.0.0.1:1', password: STORED_PASSWORD },
    });
    expect(added.status).toBe(200);
    return { domain, instanceId, token, id: added.json.id as string };
  };
  let writes: Awaited<ReturnType<typeof tenant>>;
  let mails: Awaited<ReturnType<typeof tenant>>;

  beforeAll(async () => {
    server = await startTestServer({}, { mailer: new NodemailerSmtpMailer({ connectTimeoutMs: 1_000, sendTimeoutMs: 2_000 }) });
    writes = await tenant('fuzz-writes.example.com');
    mails = await tenant('fuzz-mails.example.com');
  });
  afterAll(() => server.close());

  // ---- generators -------------------------------------------------------------------------
  /** Passwords carry a marker so that a leak is recognisable (a one-letter password is in every text). */
  const password = fc.oneof(
    fc.string({ minLength: 1, maxLength: 40 }).map((s) => `PW~${s}~pw`),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).map((s) => `PW~${s}~pw`),
    fc.constant(`PW~${'x'.repeat(2_000)}~pw`),
  );
  const notAString = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
  const stringField = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.constantFrom('', ' ', 'a@b.co', '\uD800', '\u0000', 'x'.repeat(600), 'y'.repeat(70_000)),
  );
  const invalidHost = fc.constantFrom('', 'no-port', 'smtp.example.com:', ':25', 'smtp.example.com:99999', 'smtp.example.com:-1', '[:::::]:25', 'a b:25', 'h'.repeat(600) + ':25', '\uD800:25');
  const anyJson = fc.jsonValue({ maxDepth: 2 });
  const field = fc.oneof(stringField, notAString, anyJson);
  const configFields = Object.keys(seedRequest);

  /** A body derived from the seed: fields replaced (by anything, bad hosts, passwords), removed, or extra. */
  const configBody = (hosts: fc.Arbitrary<string>, base: Record<string, unknown>) =>
    fc
      .record({
        patch: fc.dictionary(fc.constantFrom(...configFields, '__proto__', 'constructor', 'extra', 'id', 'receiverAddress'), fc.option(field, { nil: undefined }), { maxKeys: 4 }),
        host: fc.option(fc.oneof(hosts, invalidHost, notAString), { nil: undefined }),
        password: fc.option(fc.oneof(password, notAString, fc.constant('')), { nil: undefined }),
        drop: fc.subarray(configFields, { maxLength: 3 }),
        receiverAddress: fc.option(fc.oneof(fc.constantFrom('admin@customer.example.com', 'not-an-address', ''), stringField, notAString), { nil: undefined }),
      })
      .map(({ patch, host, password: pw, drop, receiverAddress }) => {
        const body: Record<string, unknown> = { ...seedRequest, host: '127.0.0.1:1', ...base, ...patch };
        if (host !== undefined) body.host = host;
        if (pw !== undefined) body.password = pw;
        if (receiverAddress !== undefined) body.receiverAddress = receiverAddress;
        for (const k of drop) delete body[k];
        return body;
      });
  /** Whole bodies that are not an object at all, or not JSON. */
  const oddBody = fc.oneof(
    anyJson.map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 100 }),
    fc.constantFrom('', 'null', '[]', '{', '{"password":', '{"__proto__":{"password":"PW~proto~pw"}}', '\uFEFF{}'),
  );
  const body = (hosts: fc.Arbitrary<string>, base: Record<string, unknown> = {}) => fc.oneof({ weight: 3, arbitrary: configBody(hosts, base).map((b) => JSON.stringify(b)) }, { weight: 1, arbitrary: oddBody });

  /** Path segments standing for an id: very long, unicode, percent-encoded, dot segments, numbers. */
  const oddIds = ['..', '.', '%2e%2e', '%2E%2E%2F..', '%2F', '%00', '%ZZ', '%', 'a%2Fb', '%C3%A9', 'é', '💥', '%F0%9F%92%A5', '%ED%A0%80', '%FF', '_test', 'password', '0', '-1', '1e400', '%20', 'x'.repeat(3_000), '9'.repeat(20_000)];
  const oddId = fc.oneof(
    fc.constantFrom(...oddIds),
    fc.string({ minLength: 1, maxLength: 40 }).map(encodeURIComponent),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }).map(encodeURIComponent),
    fc.stringMatching(/^[0-9]{1,40}$/),
    fc.stringMatching(/^[A-Za-z0-9._~-]{1,60}$/),
  );

  // ---- the request and its checks ---------------------------------------------------------
  const request = (domain: string, token: string, method: string, path: string, payload: string | undefined): Promise<RawResponse> => {
    const bytes = payload === undefined ? Buffer.alloc(0) : Buffer.from(payload, 'utf8');
    const head = [
      `${method} ${path} HTTP/1.1`,
      `Host: ${domain}`,
      `Authorization: Bearer ${token}`,
      ...(payload === undefined ? [] : ['Content-Type: application/json', `Content-Length: ${bytes.length}`]),
      'Connection: close',
    ];
    return rawRequest(server.url, Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'utf8'), bytes]));
  };

  /** Every password-looking string a body holds (any depth), to look for in answers and logs. */
  const secretsIn = (payload: string | undefined): string[] => {
    const found = new Set<string>([STORED_PASSWORD]);
    const walk = (v: unknown): void => {
      if (typeof v === 'string' && v.startsWith('PW~')) found.add(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    try {
      walk(JSON.parse(payload ?? 'null'));
    } catch {
      /* not JSON: no password could have been read from it */
    }
    return [...found];
  };

  const check = async (target: { domain: string; token: string; instanceId: string }, method: string, path: string, payload: string | undefined) => {
    const stream = instanceStreamId(target.instanceId);
    const revisionBefore = (await events().readStream(stream)).currentRevision;
    const headBefore = await events().headPosition();
    const logsBefore = server.logs.length;
    const res = await request(target.domain, target.token, method, path, payload);
    const what = `${method} ${path.slice(0, 120)} ${payload?.slice(0, 200) ?? ''}`;
    expect(res.status, what).toBeGreaterThan(0);
    expect(res.status, `${what}\n${res.text.slice(0, 500)}`).toBeLessThan(500);
    const ok = res.status >= 200 && res.status < 300;
    if (!ok) {
      expect(Object.keys(res.json ?? {}), `${what}\n${res.text.slice(0, 500)}`).toEqual(['code', 'message', 'details']);
      expect(typeof res.json.code).toBe('number');
      expect(typeof res.json.message).toBe('string');
      expect(res.json.details[0]['@type'], what).toBe(ERROR_DETAIL);
      expect((await events().readStream(stream)).currentRevision, what).toBe(revisionBefore);
      expect(await events().headPosition(), what).toEqual(headBefore);
    }
    const lines = server.logs.slice(logsBefore).join('\n');
    const stored = JSON.stringify((await events().readStream(stream)).events.map((e) => e.data));
    for (const secret of secretsIn(payload)) {
      expect(stored.includes(JSON.stringify(secret).slice(1, -1)), `${what}: an event holds a password in plain text`).toBe(false);
      const escaped = JSON.stringify(secret).slice(1, -1);
      for (const form of new Set([secret, escaped])) {
        expect(res.text.includes(form), `${what}: the answer shows a password`).toBe(false);
        expect(lines.includes(form), `${what}: a log line shows a password`).toBe(false);
      }
    }
    return res;
  };

  it('every odd id at every route with an id — no 500, the seed’s error shape, nothing appended', { timeout: 30_000 }, async () => {
    const valid = JSON.stringify({ ...seedRequest, host: '127.0.0.1:1', password: 'PW~table~pw', receiverAddress: 'admin@customer.example.com' });
    for (const id of oddIds) {
      const statuses = [
        (await check(writes, 'PUT', `/admin/v1/smtp/${id}`, valid)).status,
        (await check(writes, 'PUT', `/admin/v1/smtp/${id}/password`, JSON.stringify({ password: 'PW~table~pw' }))).status,
        (await check(writes, 'DELETE', `/admin/v1/smtp/${id}`, undefined)).status,
        (await check(mails, 'POST', `/admin/v1/smtp/${id}/_test`, valid)).status,
      ];
      expect(statuses.filter((s) => s < 300), `${id.slice(0, 40)} reached a configuration`).toEqual([]);
    }
  });

  const options = (seed: number, numRuns: number) => ({ seed, numRuns, endOnFailure: true });

  it('PUT /admin/v1/smtp/{id}: any id and body — no 500, the seed’s error shape, nothing appended when refused, no password shown', { timeout: 30_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constant(null), oddId), body(fc.constantFrom('smtp.example.com:587', ...UNREACHABLE)), async (id, payload) => {
        await check(writes, 'PUT', `/admin/v1/smtp/${id ?? writes.id}`, payload);
      }),
      options(20_261_125, 120),
    );
  });

  it('PUT /admin/v1/smtp/{id}/password: any id and body — no 500, the seed’s error shape, nothing appended when refused, no password shown', { timeout: 30_000 }, async () => {
    const passwordBody = fc.oneof(
      fc.record({ password: fc.oneof(password, notAString, fc.constant('')) }, { requiredKeys: [] }).map((b) => JSON.stringify(b)),
      fc.record({ password, extra: field }).map((b) => JSON.stringify(b)),
      oddBody,
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constant(null), oddId), passwordBody, async (id, payload) => {
        await check(writes, 'PUT', `/admin/v1/smtp/${id ?? writes.id}/password`, payload);
      }),
      options(20_261_126, 120),
    );
  });

  it('DELETE /admin/v1/smtp/{id}: odd ids and stray bodies — never 500, always the seed’s error shape, nothing appended', { timeout: 30_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(oddId, fc.option(oddBody, { nil: undefined }), async (id, payload) => {
        const res = await check(writes, 'DELETE', `/admin/v1/smtp/${id}`, payload);
        expect(res.status).not.toBe(200);
      }),
      options(20_261_127, 80),
    );
    // the stored configuration survived all of it
    const read = await send(server.url, { path: `/admin/v1/smtp/${writes.id}`, host: writes.domain, headers: { authorization: `Bearer ${writes.token}` } });
    expect(read.status).toBe(200);
  });

  it('POST /admin/v1/smtp/_test: any body to an unreachable server — no 500, the seed’s error shape, nothing appended, no password shown', { timeout: 30_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(body(fc.constantFrom(...UNREACHABLE), { receiverAddress: 'admin@customer.example.com' }), async (payload) => {
        const res = await check(mails, 'POST', '/admin/v1/smtp/_test', payload);
        expect(res.status).not.toBe(200);
      }),
      options(20_261_128, 80),
    );
  });

  it('POST /admin/v1/smtp/_test: a valid configuration with any password and user reaches the mailer, and its error shows neither', { timeout: 30_000 }, async () => {
    let reachedMailer = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...UNREACHABLE), fc.oneof(password, notAString), fc.oneof(fc.string({ maxLength: 40 }), notAString), fc.boolean(), async (host, pw, user, tls) => {
        const payload = JSON.stringify({ ...seedRequest, host, tls, user, password: pw, receiverAddress: 'admin@customer.example.com' });
        const res = await check(mails, 'POST', '/admin/v1/smtp/_test', payload);
        expect(res.status).toBe(400);
        if (res.json.details[0].id === 'SMTP-TEST-conn1') reachedMailer += 1;
      }),
      options(20_261_130, 40),
    );
    expect(reachedMailer).toBeGreaterThan(5);
  });

  it('POST /admin/v1/smtp/{id}/_test: any id and body — no 500, the seed’s error shape, nothing appended, stored password never shown', { timeout: 30_000 }, async () => {
    const testBody = fc.oneof(
      fc.record({ receiverAddress: fc.oneof(fc.constant('admin@customer.example.com'), stringField, notAString), password, extra: field }, { requiredKeys: [] }).map((b) => JSON.stringify(b)),
      oddBody,
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constant(null), oddId), testBody, async (id, payload) => {
        const res = await check(mails, 'POST', `/admin/v1/smtp/${id ?? mails.id}/_test`, payload);
        expect(res.status).not.toBe(200);
      }),
      options(20_261_129, 80),
    );
  });

  it('the same routes inside a bare Fastify app (the plugin embedded, no server hardening): no 500, the seed’s error shape, nothing appended when refused, no password shown', { timeout: 30_000 }, async () => {
    const h: Harness = createHarness();
    const app: FastifyInstance = Fastify();
    try {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const privateJwk = { ...(await exportJWK(privateKey)), alg: 'ES256' };
      const mailer = new NodemailerSmtpMailer({ connectTimeoutMs: 1_000, sendTimeoutMs: 2_000 });
      await app.register(smtpConfigPlugin, {
        addSmtpConfig: h.addSmtpConfig,
        getSmtpConfig: h.getSmtpConfig,
        queries: h.readModel,
        authenticate: jwtAuthenticate(new JwtAuthenticator({ key: publicKey, issuer: 'https://issuer.example' })),
        smtpLifecycle: smtpLifecycleOf(h, mailer),
      });
      await app.ready();
      const instanceId = await h.newInstance('embedded');
      const host = 'embedded.example.com';
      const authorization = `Bearer ${await signToken(privateJwk, { userId: 'admin-1', instanceId, roles: ['IAM_OWNER'], issuer: 'https://issuer.example' })}`;
      const added = await app.inject({ method: 'POST', url: '/admin/v1/smtp', headers: { host, authorization }, payload: { ...seedRequest, host: '127.0.0.1:1', password: STORED_PASSWORD } });
      expect(added.statusCode).toBe(200);
      const id = added.json().id as string;
      const route = fc.constantFrom(
        ['PUT', (i: string) => `/admin/v1/smtp/${i}`],
        ['PUT', (i: string) => `/admin/v1/smtp/${i}/password`],
        ['DELETE', (i: string) => `/admin/v1/smtp/${i}`],
        ['POST', () => '/admin/v1/smtp/_test'],
        ['POST', (i: string) => `/admin/v1/smtp/${i}/_test`],
      ) as fc.Arbitrary<[string, (id: string) => string]>;
      const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded', undefined);
      const stream = instanceStreamId(instanceId);
      await fc.assert(
        fc.asyncProperty(route, fc.oneof(fc.constant(null), oddId), body(fc.constantFrom(...UNREACHABLE), { receiverAddress: 'admin@customer.example.com' }), contentType, async ([method, path], oddOrNull, payload, type) => {
          if (method === 'DELETE' && oddOrNull === null) return; // keep the stored configuration for the other routes
          const revisionBefore = (await h.events.readStream(stream)).currentRevision;
          const url = path(oddOrNull ?? id);
          const res = await app.inject({ method: method as 'PUT', url, headers: { host, authorization, ...(type ? { 'content-type': type } : {}) }, payload });
          const what = `${method} ${url.slice(0, 120)} ${type} ${payload.slice(0, 200)}`;
          expect(res.statusCode, `${what}\n${res.body.slice(0, 500)}`).toBeLessThan(500);
          // Decided by the app before any plugin route, so answered in the app's shape: a path that normalises
          // out of the plugin's routes ('..', '%2e%2e'; the app's 404 and its own body parser), and a bad
          // percent-encoding or an over-long id (Fastify's frameworkErrors, an option of the root instance only).
          const raw = JSON.parse(res.body);
          const outsidePlugin = !new URL(url, 'http://app.invalid').pathname.startsWith('/admin/v1/smtp');
          const answeredByTheApp = outsidePlugin || /^FST_ERR_(BAD_URL|MAX_PARAM_LENGTH)$/.test(raw.code);
          if (res.statusCode >= 300 && !answeredByTheApp) {
            expect(Object.keys(JSON.parse(res.body)), `${what}\n${res.body.slice(0, 500)}`).toEqual(['code', 'message', 'details']);
            expect(res.json().details[0]['@type'], what).toBe(ERROR_DETAIL);
          }
          if (res.statusCode >= 300) expect((await h.events.readStream(stream)).currentRevision, what).toBe(revisionBefore);
          for (const secret of secretsIn(payload)) expect(res.body.includes(secret), `${what}: the answer shows a password`).toBe(false);
        }),
        options(20_261_131, 150),
      );
    } finally {
      await app.close();
      await h.close();
    }
  });
});
