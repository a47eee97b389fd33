import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair } from 'jose';
import { instanceStreamId, signToken, TOKENS, type EventStore } from '../support/everything.js';
import { seedRequest } from '../support/fixtures.js';
import { send, startTestServer, type TestServer } from '../support/http-server.js';
import { validationTable, withSeed } from '../support/validation-table.js';

const RFC3339_MS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('POST /admin/v1/smtp over HTTP', () => {
  let server: TestServer;
  let firstInstance: string;
  let ownerToken: string;
  const events = () => server.app.container.get<EventStore>(TOKENS.EventStore);
  const smtpEventsOf = async (instanceId: string) =>
    (await events().readStream(instanceStreamId(instanceId))).events.filter((e) => e.type === 'instance.smtp.config.added');

  beforeAll(async () => {
    server = await startTestServer();
    firstInstance = await server.firstInstanceId();
    ownerToken = await server.token({ instanceId: firstInstance, roles: ['IAM_OWNER'] });
  });
  afterAll(() => server.close());

  it('answers the seed example with 200 and the seed’s shape; a second add is 409; GET shows no password', async () => {
    const host = 'smtp1.example.com';
    const instanceId = await server.newInstance(host);
    const token = await server.token({ instanceId, roles: ['IAM_OWNER'] });

    const created = await server.post(seedRequest, { host, token });
    expect(created.status).toBe(200);
    expect(created.headers['content-type']).toMatch(/^application\/json/);
    expect(Object.keys(created.json)).toEqual(['details', 'id']);
    expect(Object.keys(created.json.details)).toEqual(['sequence', 'creationDate', 'changeDate', 'resourceOwner']);
    expect(created.json.details).toMatchObject({ sequence: '3', resourceOwner: instanceId });
    expect(created.json.details.creationDate).toMatch(RFC3339_MS_UTC);
    expect(created.json.id).toMatch(/^\d+$/);

    const again = await server.post(seedRequest, { host, token });
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ code: 6, details: [{ '@type': 'type.googleapis.com/zitadel.v1.ErrorDetail', id: 'COMMAND-en9lw' }] });

    const read = await send(server.url, { path: `/admin/v1/smtp/${created.json.id}`, host, headers: { authorization: `Bearer ${token}` } });
    expect(read.status).toBe(200);
    expect(read.json.smtpConfig).toMatchObject({ id: created.json.id, host: seedRequest.host, senderAddress: seedRequest.senderAddress, details: created.json.details });
    expect(read.text).not.toMatch(/password/i);
    expect(read.text).not.toContain(seedRequest.password);
  });

  it('accepts the addresses of a local relay as ZITADEL does, and stores and shows them trimmed', async () => {
    const host = 'smtp-dev-relay.example.com';
    const instanceId = await server.newInstance(host);
    const token = await server.token({ instanceId, roles: ['IAM_OWNER'] });
    const created = await server.post(withSeed({ senderAddress: ' noreply@localhost\t', replyToAddress: 'support@mailpit ', host: 'mailpit:1025' }), { host, token });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    const [added] = await smtpEventsOf(instanceId);
    expect(added!.data).toMatchObject({ senderAddress: 'noreply@localhost', replyToAddress: 'support@mailpit' });
    const read = await send(server.url, { path: `/admin/v1/smtp/${created.json.id}`, host, headers: { authorization: `Bearer ${token}` } });
    expect(read.json.smtpConfig).toMatchObject({ senderAddress: 'noreply@localhost', replyToAddress: 'support@mailpit' });
  });

  describe('validation: every limit of the API document', () => {
    const failing = validationTable.filter(([, , field]) => field !== undefined);
    it.each(failing)('%s gives 400, code 3, the field named, and no event', async (_d, patch, field) => {
      const before = await events().headPosition();
      const res = await server.post(withSeed(patch), { token: ownerToken });
      expect(res.status).toBe(400);
      expect(res.json.code).toBe(3);
      const badRequest = res.json.details.find((d: { '@type': string }) => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest');
      expect(badRequest.fieldViolations.map((v: { field: string }) => v.field)).toEqual([field]);
      expect(await events().headPosition()).toEqual(before);
    });
  });

  describe('authentication and authorization', () => {
    const expect401 = async (token: string | undefined, headers: Record<string, string> = {}) => {
      const res = await server.post(seedRequest, { ...(token ? { token } : {}), headers });
      expect(res.status).toBe(401);
      expect(res.json.code).toBe(16);
      expect(await smtpEventsOf(firstInstance)).toHaveLength(0);
    };

    it('rejects a request without a token', () => expect401(undefined));
    it('rejects a scheme other than Bearer', () => expect401(undefined, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }));
    it('rejects a malformed token', () => expect401('not-a-jwt'));

    it('rejects a token signed by another key', async () => {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      const foreign = { ...(await exportJWK(privateKey)), alg: 'ES256' };
      await expect401(await signToken(foreign, { userId: 'u', instanceId: firstInstance, roles: ['IAM_OWNER'] }));
    });

    it('rejects an unsigned token (alg: none)', async () => {
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const exp = Math.floor(Date.now() / 1000) + 3600;
      const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'u', iss: 'smtp-config-dev', exp, instance_id: firstInstance, roles: ['IAM_OWNER'] })}.`;
      await expect401(unsigned);
    });

    it('rejects an expired token', async () => {
      await expect401(await server.token({ instanceId: firstInstance, roles: ['IAM_OWNER'], expiresIn: Math.floor(Date.now() / 1000) - 60 }));
    });

    it('rejects a token issued for another instance', async () => {
      const other = await server.newInstance('other.example.com');
      await expect401(await server.token({ instanceId: other, roles: ['IAM_OWNER'] }));
    });

    it('answers 403, code 7, "No matching permissions found" to a token without the role', async () => {
      const res = await server.post(seedRequest, { token: await server.token({ instanceId: firstInstance }) });
      expect(res.status).toBe(403);
      expect(res.json.code).toBe(7);
      expect(res.json.message).toContain('No matching permissions found');
      expect(await smtpEventsOf(firstInstance)).toHaveLength(0);
    });

    it('answers 404, code 5, for a host that no instance has', async () => {
      const res = await server.post(seedRequest, { host: 'nobody.example.com:8080', token: ownerToken });
      expect(res.status).toBe(404);
      expect(res.json.code).toBe(5);
    });
  });

  describe('malformed requests are 400 with code 3, never 500', () => {
    const cases: [string, () => Promise<{ status: number; json: any; text: string }>][] = [
      ['malformed JSON', () => send(server.url, { method: 'POST', path: '/admin/v1/smtp', body: '{"senderAddress":', headers: { authorization: `Bearer ${ownerToken}` } })],
      ['a JSON array', () => server.post([seedRequest], { token: ownerToken })],
      ['a JSON null', () => send(server.url, { method: 'POST', path: '/admin/v1/smtp', body: 'null', headers: { authorization: `Bearer ${ownerToken}` } })],
      ['a wrong content type', () => send(server.url, { method: 'POST', path: '/admin/v1/smtp', body: 'senderAddress=a', headers: { authorization: `Bearer ${ownerToken}`, 'content-type': 'application/x-www-form-urlencoded' } })],
      ['an oversized body', () => server.post({ ...seedRequest, description: 'x'.repeat(100_000) }, { token: ownerToken })],
    ];
    it.each(cases)('%s', async (_name, call) => {
      const res = await call();
      expect(res.status).toBe(400);
      expect(res.json.code).toBe(3);
      expect(res.json.details[0]['@type']).toBe('type.googleapis.com/zitadel.v1.ErrorDetail');
      expect(res.text).not.toMatch(/at .*\.(ts|js):\d+|stack/i);
    });
  });

  it('lets exactly one of 20 concurrent POSTs on a fresh instance win: one 200, nineteen 409, one event', async () => {
    const host = 'race.example.com';
    const instanceId = await server.newInstance(host);
    const token = await server.token({ instanceId, roles: ['IAM_OWNER'] });
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => server.post({ ...seedRequest, senderName: `racer ${i}` }, { host, token })));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, ...Array<number>(19).fill(409)]);
    expect(await smtpEventsOf(instanceId)).toHaveLength(1);
  });

  it('never logs the password or the bearer token', async () => {
    const host = 'logs.example.com';
    const instanceId = await server.newInstance(host);
    const token = await server.token({ instanceId, roles: ['IAM_OWNER'] });
    const secret = 'a-very-secret-smtp-password-4711';
    expect((await server.post({ ...seedRequest, password: secret }, { host, token })).status).toBe(200);
    expect((await server.post({ ...seedRequest, password: secret, host: 'bad' }, { host, token })).status).toBe(400);
    expect(server.logs.length).toBeGreaterThan(0);
    const all = server.logs.join('\n');
    expect(all).toContain('request completed');
    expect(all).not.toContain(secret);
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split('.')[2]!);
    for (const line of server.logs) expect(() => JSON.parse(line)).not.toThrow();
    expect(server.logs.some((l) => 'reqId' in JSON.parse(l))).toBe(true);
  });

  it('serves an OpenAPI document generated from the request schema, and health routes', async () => {
    const doc = await send(server.url, { path: '/openapi.json' });
    expect(doc.status).toBe(200);
    expect(doc.json.servers).toBeUndefined(); // served at the root: paths are where they say
    const schema = doc.json.paths['/admin/v1/smtp'].post.requestBody.content['application/json'].schema;
    expect(schema.required).toEqual(['senderAddress', 'senderName', 'host']);
    expect(schema.properties.senderName).toMatchObject({ type: 'string', minLength: 1, maxLength: 200 });
    expect(schema.properties.host).toMatchObject({ minLength: 1, maxLength: 500 });
    expect(schema.properties.description).toMatchObject({ maxLength: 200 });
    // Every status the server can answer is documented, with the API's error body.
    const responses = doc.json.paths['/admin/v1/smtp'].post.responses;
    expect(Object.keys(responses).sort()).toEqual(['200', '400', '401', '403', '404', '408', '409', '414', '415', '431', '503', 'default']);
    expect(responses['431'].content['application/json'].schema).toEqual(responses['400'].content['application/json'].schema);
    expect((await send(server.url, { path: '/healthz' })).status).toBe(200);
    expect((await send(server.url, { path: '/readyz' })).json).toEqual({ status: 'ready' });
    const missing = await send(server.url, { path: '/nope' });
    expect([missing.status, missing.json.code]).toEqual([404, 5]);
  });
});
