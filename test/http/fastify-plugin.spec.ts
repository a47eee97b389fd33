import Fastify, { type FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JwtAuthenticator, jwtAuthenticate, signToken, smtpConfigCallerOf, smtpConfigPlugin, toJsonView, type Principal } from '../support/everything.js';
import { createHarness, seedRequest, type Harness } from '../support/fixtures.js';

/** The embedding app's own idea of a principal, declared on every FastifyRequest as apps do. */
interface AppPrincipal {
  readonly accountId: number;
}
declare module 'fastify' {
  interface FastifyRequest {
    principal: AppPrincipal;
  }
}

describe('smtpConfigPlugin inside an app with its own routes and its own `principal`', () => {
  let h: Harness;
  let app: FastifyInstance;
  let token: (instanceId: string, roles?: string[]) => Promise<string>;
  const audited: Principal[] = [];

  beforeEach(async () => {
    h = createHarness();
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = { ...(await exportJWK(privateKey)), alg: 'ES256' };
    token = (instanceId, roles = ['IAM_OWNER']) => signToken(privateJwk, { userId: 'admin-1', instanceId, roles, issuer: 'https://issuer.example' });
    app = Fastify();
    app.decorateRequest('principal', null as unknown as AppPrincipal);
    app.addHook('onRequest', async (request) => {
      request.principal = { accountId: 42 };
    });
    app.setErrorHandler((error, _request, reply) => reply.status(418).send({ mine: true, message: (error as Error).message }));
    app.get('/me', async (request) => ({ accountId: request.principal.accountId }));
    app.get('/boom', async () => {
      throw new Error('the app’s own failure');
    });
    app.addHook('onResponse', async (request) => {
      const caller = smtpConfigCallerOf(request);
      if (caller) audited.push(caller.principal);
    });
    await app.register(smtpConfigPlugin, {
      prefix: '/iam',
      addSmtpConfig: h.addSmtpConfig,
      getSmtpConfig: h.getSmtpConfig,
      queries: h.readModel,
      authenticate: jwtAuthenticate(new JwtAuthenticator({ key: publicKey, issuer: 'https://issuer.example' })),
      commandIdOf: (request) => request.headers['idempotency-key'],
    });
    app.get('/views/:instanceId/:id', async (request) => {
      const { instanceId, id } = request.params as { instanceId: string; id: string };
      return toJsonView(await h.readModel.smtpConfigById(instanceId, id));
    });
    await app.ready();
  });
  afterEach(async () => {
    await app.close();
    await h.close();
    audited.length = 0;
  });

  it("serves the seed's curl example under the prefix, and reads the configuration back", async () => {
    const instanceId = await h.newInstance('acme');
    const authorization = `Bearer ${await token(instanceId)}`;
    const added = await app.inject({
      method: 'POST',
      url: '/iam/admin/v1/smtp',
      headers: { host: 'acme.example.com:8080', 'content-type': 'application/json', accept: 'application/json', authorization },
      payload: JSON.stringify(seedRequest),
    });
    expect(added.statusCode).toBe(200);
    const body = added.json();
    expect(body).toEqual({
      details: { sequence: '3', creationDate: expect.any(String), changeDate: expect.any(String), resourceOwner: instanceId },
      id: expect.stringMatching(/^\d+$/),
    });
    const read = await app.inject({ method: 'GET', url: `/iam/admin/v1/smtp/${body.id}`, headers: { host: 'acme.example.com', authorization } });
    expect(read.statusCode).toBe(200);
    expect(read.json().smtpConfig).toMatchObject({ id: body.id, host: seedRequest.host, senderName: 'ZITADEL' });
    expect(read.body).not.toContain(seedRequest.password);
    expect(audited.map((p) => p.userId)).toEqual(['admin-1', 'admin-1']);
    // The app's own route and principal are untouched; a view goes out with its bigint as a string.
    expect((await app.inject({ method: 'GET', url: '/me' })).json()).toEqual({ accountId: 42 });
    const view = await app.inject({ method: 'GET', url: `/views/${instanceId}/${body.id}` });
    expect([view.statusCode, view.json().sequence]).toEqual([200, '3']);
  });

  it("answers its own errors in the API's shape and leaves the app's error handler to the app's routes", async () => {
    const instanceId = await h.newInstance('acme');
    const unauthenticated = await app.inject({ method: 'POST', url: '/iam/admin/v1/smtp', headers: { host: 'acme.example.com' }, payload: seedRequest });
    expect(unauthenticated.statusCode).toBe(401);
    expect(unauthenticated.json()).toMatchObject({ code: 16, details: [{ '@type': 'type.googleapis.com/zitadel.v1.ErrorDetail', id: 'AUTH-7fs1e' }] });
    const invalid = await app.inject({
      method: 'POST',
      url: '/iam/admin/v1/smtp',
      headers: { host: 'acme.example.com', authorization: `Bearer ${await token(instanceId)}` },
      payload: { ...seedRequest, host: 'smtp.example.com' },
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().details[1].fieldViolations[0].field).toBe('host');
    const unknownInstance = await app.inject({ method: 'GET', url: '/iam/admin/v1/smtp/1', headers: { host: 'nobody.example.com' } });
    expect([unknownInstance.statusCode, unknownInstance.json().code]).toEqual([404, 5]);
    const own = await app.inject({ method: 'GET', url: '/boom' });
    expect([own.statusCode, own.json()]).toEqual([418, { mine: true, message: 'the app’s own failure' }]);
    expect((await h.events.readStream(`instance-${instanceId}`)).currentRevision).toBe(1n);
  });

  it('answers a POST retried with the same Idempotency-Key with the first response, and refuses another add without it', async () => {
    const instanceId = await h.newInstance('acme');
    const headers = { host: 'acme.example.com', authorization: `Bearer ${await token(instanceId)}`, 'idempotency-key': 'k-1' };
    const first = await app.inject({ method: 'POST', url: '/iam/admin/v1/smtp', headers, payload: seedRequest });
    const retried = await app.inject({ method: 'POST', url: '/iam/admin/v1/smtp', headers, payload: seedRequest });
    const { 'idempotency-key': _key, ...withoutKey } = headers;
    const another = await app.inject({ method: 'POST', url: '/iam/admin/v1/smtp', headers: withoutKey, payload: seedRequest });
    expect(first.statusCode).toBe(200);
    expect([retried.statusCode, retried.json()]).toEqual([200, first.json()]);
    expect([another.statusCode, another.json().code]).toEqual([409, 6]);
  });

  it('serves the OpenAPI document under the prefix', async () => {
    const doc = await app.inject({ method: 'GET', url: '/iam/openapi.json' });
    expect(doc.statusCode).toBe(200);
    expect(Object.keys(doc.json().paths)).toContain('/admin/v1/smtp');
    // The paths are the API's own, so a client generated from the document is told where they live.
    expect(doc.json().servers).toEqual([{ url: '/iam' }]);
  });

  it('takes any authenticate function and instance resolver, without a prefix', async () => {
    const instanceId = await h.newInstance('acme');
    const plain = Fastify();
    await plain.register(smtpConfigPlugin, {
      addSmtpConfig: h.addSmtpConfig,
      getSmtpConfig: h.getSmtpConfig,
      resolveInstance: async (request) => (request.headers['x-tenant'] === 'acme' ? { id: instanceId } : undefined),
      authenticate: (request, instance) => {
        if (request.headers['x-api-key'] !== 'secret') throw new Error('not a DomainError: becomes a 500 without details');
        return { userId: 'service', instanceId: instance.id, roles: ['IAM_OWNER'] };
      },
    });
    const ok = await plain.inject({ method: 'POST', url: '/admin/v1/smtp', headers: { 'x-tenant': 'acme', 'x-api-key': 'secret' }, payload: seedRequest });
    expect([ok.statusCode, ok.json().details.resourceOwner]).toEqual([200, instanceId]);
    const refused = await plain.inject({ method: 'POST', url: '/admin/v1/smtp', headers: { 'x-tenant': 'acme' }, payload: seedRequest });
    expect([refused.statusCode, refused.json().code, refused.body.includes('not a DomainError')]).toEqual([500, 13, false]);
    await plain.close();
  });
});
