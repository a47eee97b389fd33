import { exportJWK, generateKeyPair, importJWK, type JWK, type JWTVerifyGetKey } from 'jose';
import { describe, expect, it } from 'vitest';
import { DEV_ISSUER, JwtAuthenticator, signToken } from '../support/everything.js';

const newKey = async (kid: string) => {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateJwk: { ...(await exportJWK(privateKey)), alg: 'ES256', kid } as JWK, publicKey, publicJwk: { ...(await exportJWK(publicKey)), alg: 'ES256', kid } };
};

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);

/** A clock the test moves; the authenticator and the tokens' iat/exp both read it. */
const clock = () => {
  let now = T0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
};

const bearer = (token: string) => `Bearer ${token}`;

describe('JwtAuthenticator: the cache of verified tokens', () => {
  it('verifies a token once and then answers from the cache, with the instance still checked on every call', async () => {
    const k = await newKey('a');
    const c = clock();
    const auth = new JwtAuthenticator({ key: k.publicKey, issuer: DEV_ISSUER, now: c.now });
    const token = await signToken(k.privateJwk, { userId: 'u1', instanceId: 'i1', roles: ['IAM_OWNER'], issuedAt: T0 / 1000, expiresIn: T0 / 1000 + 3600 });
    expect(await auth.authenticate(bearer(token), 'i1')).toEqual({ userId: 'u1', instanceId: 'i1', roles: ['IAM_OWNER'] });
    expect(await auth.authenticate(bearer(token), 'i1')).toEqual({ userId: 'u1', instanceId: 'i1', roles: ['IAM_OWNER'] });
    expect(auth.cachedTokens).toBe(1);
    await expect(auth.authenticate(bearer(token), 'i2')).rejects.toMatchObject({ id: 'AUTH-Bs7Ds' });
  });

  it('never answers from the cache once the token has expired', async () => {
    const k = await newKey('a');
    const c = clock();
    const auth = new JwtAuthenticator({ key: k.publicKey, issuer: DEV_ISSUER, clockSkewSeconds: 0, now: c.now });
    const token = await signToken(k.privateJwk, { userId: 'u1', instanceId: 'i1', roles: [], issuedAt: T0 / 1000, expiresIn: T0 / 1000 + 60 });
    await auth.authenticate(bearer(token), 'i1');
    c.advance(59_000);
    await expect(auth.authenticate(bearer(token), 'i1')).resolves.toMatchObject({ userId: 'u1' });
    c.advance(1_000);
    await expect(auth.authenticate(bearer(token), 'i1')).rejects.toMatchObject({ id: 'AUTH-7fs1e' });
    expect(auth.cachedTokens).toBe(0);
  });

  it('never answers from the cache past the maximum token age', async () => {
    const k = await newKey('a');
    const c = clock();
    const auth = new JwtAuthenticator({ key: k.publicKey, issuer: DEV_ISSUER, clockSkewSeconds: 0, maxTokenAgeSeconds: 120, now: c.now });
    const token = await signToken(k.privateJwk, { userId: 'u1', instanceId: 'i1', roles: [], issuedAt: T0 / 1000 - 100, expiresIn: T0 / 1000 + 20 });
    await auth.authenticate(bearer(token), 'i1');
    c.advance(21_000);
    await expect(auth.authenticate(bearer(token), 'i1')).rejects.toMatchObject({ id: 'AUTH-7fs1e' });
  });

  it('verifies again after a key change: a token of a key the JWKS no longer has is refused', async () => {
    const [a, b] = [await newKey('a'), await newKey('b')];
    const c = clock();
    let current = a.publicKey;
    const keys: JWTVerifyGetKey = async (header) => {
      if (header.kid !== (current === a.publicKey ? 'a' : 'b')) throw new Error('no such key');
      return current;
    };
    const auth = new JwtAuthenticator({ key: keys, issuer: DEV_ISSUER, now: c.now });
    const token = await signToken(a.privateJwk, { userId: 'u1', instanceId: 'i1', roles: [], issuedAt: T0 / 1000, expiresIn: T0 / 1000 + 3600 });
    await auth.authenticate(bearer(token), 'i1');
    current = b.publicKey; // rotated: key a is gone
    await expect(auth.authenticate(bearer(token), 'i1')).rejects.toMatchObject({ id: 'AUTH-7fs1e' });
  });

  it('verifies again when the key under the same id changed, and refuses the token the new key did not sign', async () => {
    const [a, b] = [await newKey('same'), await newKey('same')];
    const c = clock();
    let current = a.publicKey;
    const auth = new JwtAuthenticator({ key: async () => current, issuer: DEV_ISSUER, now: c.now });
    const token = await signToken(a.privateJwk, { userId: 'u1', instanceId: 'i1', roles: [], issuedAt: T0 / 1000, expiresIn: T0 / 1000 + 3600 });
    await auth.authenticate(bearer(token), 'i1');
    current = b.publicKey;
    await expect(auth.authenticate(bearer(token), 'i1')).rejects.toMatchObject({ id: 'AUTH-7fs1e' });
    current = (await importJWK(a.publicJwk, 'ES256')) as typeof current; // the old key again, imported anew
    await expect(auth.authenticate(bearer(token), 'i1')).resolves.toMatchObject({ userId: 'u1' });
  });

  it('holds at most cacheSize tokens, dropping the oldest, and none with cacheSize 0', async () => {
    const k = await newKey('a');
    const c = clock();
    const tokens = await Promise.all(
      ['u1', 'u2', 'u3'].map((userId) => signToken(k.privateJwk, { userId, instanceId: 'i1', roles: [], issuedAt: T0 / 1000, expiresIn: T0 / 1000 + 3600 })),
    );
    const small = new JwtAuthenticator({ key: k.publicKey, issuer: DEV_ISSUER, cacheSize: 2, now: c.now });
    for (const t of tokens) await small.authenticate(bearer(t), 'i1');
    expect(small.cachedTokens).toBe(2);
    expect((await small.authenticate(bearer(tokens[0]!), 'i1')).userId).toBe('u1');
    const none = new JwtAuthenticator({ key: k.publicKey, issuer: DEV_ISSUER, cacheSize: 0, now: c.now });
    await none.authenticate(bearer(tokens[0]!), 'i1');
    expect(none.cachedTokens).toBe(0);
  });
});
