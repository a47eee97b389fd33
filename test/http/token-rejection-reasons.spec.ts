import { createLocalJWKSet, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER, JwtAuthenticator, loadOrCreateDevSigningKey, signToken } from '../support/everything.js';
import { send, startTestServer, type TestServer } from '../support/http-server.js';

const newKey = async (kid: string) => {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateJwk: { ...(await exportJWK(privateKey)), alg: 'ES256', kid } as JWK, publicKey, publicJwk: { ...(await exportJWK(publicKey)), alg: 'ES256', kid } as JWK };
};

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0) / 1000;
const bearer = (token: string) => `Bearer ${token}`;

/** The error authenticate refuses `token` with. */
const refusal = async (auth: JwtAuthenticator, token: string) =>
  auth.authenticate(bearer(token), 'i1').then(
    () => {
      throw new Error('the token was accepted');
    },
    (e: unknown) => e as { id: string; message: string; logReason?: string },
  );

describe('JwtAuthenticator: which check refused a token, for the log', () => {
  let key: Awaited<ReturnType<typeof newKey>>;
  let auth: JwtAuthenticator;
  const sign = (claims: Partial<Parameters<typeof signToken>[1]> = {}, jwk: JWK = key.privateJwk) =>
    signToken(jwk, { userId: 'u1', instanceId: 'i1', roles: [], issuedAt: NOW - 10, expiresIn: NOW + 3600, ...claims });
  beforeAll(async () => {
    key = await newKey('a');
    auth = new JwtAuthenticator({ key: key.publicKey, issuer: DEV_ISSUER, audience: 'smtp-api', now: () => NOW * 1000, cacheSize: 0 });
  });

  it.each([
    ['expired', { audience: 'smtp-api', issuedAt: NOW - 600, expiresIn: NOW - 120 }],
    ['issuer', { audience: 'smtp-api', issuer: 'someone-else' }],
    ['audience', { audience: 'another-api' }],
    ['missing claim aud', {}],
    ['not yet valid', { audience: 'smtp-api', issuedAt: NOW + 3600, expiresIn: NOW + 7200 }],
  ] as const)('logs %s, and tells the client only "invalid token"', async (reason, claims) => {
    const error = await refusal(auth, await sign(claims));
    expect(error).toMatchObject({ id: 'AUTH-7fs1e', message: 'invalid token', logReason: reason });
  });

  it('logs signature for a token signed by another key, and malformed for one that is not a JWT', async () => {
    const other = await newKey('a');
    expect(await refusal(auth, await sign({ audience: 'smtp-api' }, other.privateJwk))).toMatchObject({ message: 'invalid token', logReason: 'signature' });
    expect(await refusal(auth, 'abc.def.ghi')).toMatchObject({ message: 'invalid token', logReason: 'malformed' });
  });

  it('logs unknown key id for a token whose kid the key set does not have', async () => {
    const jwks = new JwtAuthenticator({ key: createLocalJWKSet({ keys: [key.publicJwk] }), issuer: DEV_ISSUER, now: () => NOW * 1000 });
    const stranger = await newKey('b');
    expect(await refusal(jwks, await sign({}, stranger.privateJwk))).toMatchObject({ message: 'invalid token', logReason: 'unknown key id' });
  });

  it('accepts a token expired less than JWT_CLOCK_SKEW_SECONDS ago (default 60 s), as jose does', async () => {
    const lenient = new JwtAuthenticator({ key: key.publicKey, issuer: DEV_ISSUER, now: () => NOW * 1000 });
    await expect(lenient.authenticate(bearer(await sign({ issuedAt: NOW - 600, expiresIn: NOW - 30 })), 'i1')).resolves.toMatchObject({ userId: 'u1' });
    expect(await refusal(lenient, await sign({ issuedAt: NOW - 600, expiresIn: NOW - 61 }))).toMatchObject({ logReason: 'expired' });
  });
});

describe('the server logs why a token was refused, never the token', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('answers 401 "invalid token (AUTH-7fs1e)" and logs reason expired on the request rejected line', async () => {
    const instanceId = await server.newInstance('reasons.example.com');
    const now = Math.floor(Date.now() / 1000);
    const token = await server.token({ instanceId, roles: ['IAM_OWNER'], expiresIn: now - 3600 });
    const res = await send(server.url, { path: '/admin/v1/smtp', host: 'reasons.example.com', headers: { authorization: bearer(token) } });
    expect(res.status).toBe(401);
    expect((res.json as { message: string }).message).toBe('invalid token (AUTH-7fs1e)');
    const rejected = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request rejected');
    expect(rejected.at(-1)).toMatchObject({ errorId: 'AUTH-7fs1e', code: 16, reason: 'expired' });
    const signature = token.split('.')[2]!;
    expect(server.logs.filter((l) => l.includes(signature))).toEqual([]);
  });

  it('tells the holder of a token with an audience what is wrong with it, and leaves the setting to name (JWT_AUDIENCE) to the log', async () => {
    const instanceId = await server.newInstance('audience.example.com');
    const { privateJwk } = await loadOrCreateDevSigningKey(server.dataDir);
    const token = await signToken(privateJwk, { userId: 'u1', instanceId, roles: ['IAM_OWNER'], audience: 'another-api' });
    const res = await send(server.url, { path: '/admin/v1/smtp', host: 'audience.example.com', headers: { authorization: bearer(token) } });
    expect([res.status, (res.json as { message: string }).message]).toEqual([401, 'invalid token: it names an audience, and this server accepts tokens without one (AUTH-7fs1e)']);
    expect(res.text).not.toContain('JWT_AUDIENCE');
    const rejected = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request rejected');
    expect(rejected.at(-1)).toMatchObject({
      errorId: 'AUTH-7fs1e',
      code: 16,
      reason: 'audience',
      detail: 'invalid token: it names an audience and this server has none configured (JWT_AUDIENCE)',
    });
  });
});
