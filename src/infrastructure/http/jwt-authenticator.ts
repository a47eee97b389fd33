import * as crypto from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  importSPKI,
  jwtVerify,
  SignJWT,
  type FlattenedJWSInput,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
  type JWTVerifyGetKey,
  type CryptoKey,
} from 'jose';
import type { Principal } from '../../application/index.js';
import { ErrorKind, isWellFormedUnicode } from '../../domain/index.js';
import { createFileOnce } from '../system/create-file-once.js';
import { HttpErrors, ReasonedDomainError } from './error-body.js';
import { makeDirectory } from '../system/make-directory.js';

/** The claims this module reads from a token (besides `sub`, `exp`, `iss` and `aud`). */
export const CLAIMS = { instanceId: 'instance_id', roles: 'roles' } as const;
const ALGORITHMS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'];

export interface AuthenticatorOptions {
  readonly key: JWTVerifyGetKey | CryptoKey;
  readonly issuer: string;
  /** When set, `aud` must name it; when not, a token that carries any `aud` is refused. */
  readonly audience?: string;
  /** How far the issuer's clock may be ahead of or behind ours, in seconds (default 60). */
  readonly clockSkewSeconds?: number;
  /** The longest a token may live: from `iat` to now, and from `iat` to `exp`, in seconds (default 12 h). */
  readonly maxTokenAgeSeconds?: number;
  /** How many verified tokens to remember (default 10 000; 0: verify every time). */
  readonly cacheSize?: number;
  /** Milliseconds since the epoch (default Date.now); tests move it. */
  readonly now?: () => number;
}

export const DEFAULT_TOKEN_CACHE_SIZE = 10_000;

/** What a verified token says, as remembered for its next use. */
interface VerifiedToken {
  readonly sub: string;
  readonly instanceId: unknown;
  readonly roles: readonly string[];
  /** Until when (ms) it may be taken without verifying it again: its expiry or its maximum age, whichever is first. */
  readonly until: number;
  /** The key that verified it, and the header it named that key with. */
  readonly key: unknown;
  readonly header: JWTHeaderParameters;
}

const sha256: (input: string) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (input) => (crypto as unknown as { hash: (alg: string, data: string, enc: 'base64') => string }).hash('sha256', input, 'base64')
    : (input) => crypto.createHash('sha256').update(input).digest('base64');

export const DEFAULT_CLOCK_SKEW_SECONDS = 60;
export const DEFAULT_MAX_TOKEN_AGE_SECONDS = 12 * 3600;

/**
 * Which of jose's checks refused a token, for the log (the client's answer stays `invalid token`):
 * `expired`, `too old` (past the maximum token age), `not yet valid` (`nbf`, or `iat` in the
 * future), `issuer`, `audience`, `signature`, `algorithm`, `unknown key id`, `key unavailable` (the
 * JWKS timed out or is not a key set), `missing claim <name>`, `malformed`, or `other`. The checks
 * of our own log `no bearer token`, `subject`, `lifetime`, `audience` and `instance`. Never the token.
 */
export const tokenRejectionReason = (error: unknown): string => {
  const e = error as { code?: unknown; claim?: unknown; reason?: unknown };
  switch (e?.code) {
    case 'ERR_JWT_EXPIRED':
      return e.claim === 'iat' ? 'too old' : 'expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.reason === 'missing') return `missing claim ${String(e.claim)}`;
      if (e.claim === 'nbf' || (e.claim === 'iat' && e.reason === 'check_failed')) return 'not yet valid';
      if (e.claim === 'iss') return 'issuer';
      if (e.claim === 'aud') return 'audience';
      return 'malformed';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'signature';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'algorithm';
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'unknown key id';
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
      return 'key unavailable';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return 'malformed';
    default:
      // Among others a JWKS fetch that failed (network, an HTTP status).
      return 'other';
  }
};

/** `Bearer <token>`, the scheme matched case-insensitively (RFC 9110 §11.1). */
const BEARER = /^bearer +([A-Za-z0-9_.~+/=-]+) *$/i;

/**
 * Verifies `Authorization: Bearer <JWT>` with jose: signature against a JWKS or a public key, an
 * allow-list of asymmetric algorithms (so `alg: none` and HMAC tricks fail), issuer, audience,
 * expiry and issue time (both required: `iat` not in the future beyond the clock skew, the token
 * no older and no longer-lived than the maximum age), a non-empty `sub`. The token must have been
 * issued for the instance the request addresses.
 */
export class JwtAuthenticator {
  /**
   * Tokens verified before, by the sha256 of the token (the token itself is not kept), oldest first.
   * Verifying an ES256 signature costs about 70 µs; a client sends the same token many times.
   */
  private readonly verified = new Map<string, VerifiedToken>();

  constructor(private readonly options: AuthenticatorOptions) {}

  /** How many verified tokens are remembered. */
  get cachedTokens(): number {
    return this.verified.size;
  }

  async authenticate(authorization: string | undefined, instanceId: string): Promise<Principal> {
    const match = BEARER.exec(authorization ?? '');
    if (!match) throw HttpErrors.unauthenticated('AUTH-7fs1e', 'auth header missing or not a bearer token', undefined, 'no bearer token');
    const token = match[1]!;
    const cacheSize = this.options.cacheSize ?? DEFAULT_TOKEN_CACHE_SIZE;
    let claims: VerifiedToken | undefined;
    let cacheKey = '';
    if (cacheSize > 0) {
      cacheKey = sha256(token);
      // A miss (every request with a new token) goes straight to jose: no promise and no microtask
      // turn for the look-up; only a hit under a key resolver (JWKS) waits for the resolver.
      const hit = this.verified.get(cacheKey);
      if (hit !== undefined) {
        const still = this.remembered(cacheKey, hit);
        claims = still instanceof Promise ? await still : still;
      }
    }
    if (!claims) {
      claims = await this.verify(token);
      if (cacheSize > 0) {
        if (this.verified.size >= cacheSize) this.verified.delete(this.verified.keys().next().value!);
        this.verified.set(cacheKey, claims);
      }
    }
    if (claims.instanceId !== instanceId) throw HttpErrors.unauthenticated('AUTH-Bs7Ds', 'token was not issued for this instance', undefined, 'instance');
    return { userId: claims.sub, instanceId, roles: claims.roles };
  }

  /**
   * A token verified before, while it has neither expired nor outlived the maximum age, and only if
   * the key that verified it is still the one its header names: after a key change (the JWKS no
   * longer has it, or has another under that id) the token is verified again. Synchronous for a
   * fixed key; a promise only when a key resolver has to be asked.
   */
  private remembered(cacheKey: string, hit: VerifiedToken): VerifiedToken | undefined | Promise<VerifiedToken | undefined> {
    if (this.now() >= hit.until) {
      this.verified.delete(cacheKey);
      return undefined;
    }
    const key = this.options.key;
    if (typeof key !== 'function') return this.sameKey(cacheKey, hit, key);
    return this.rememberedUnder(key as JWTVerifyGetKey, cacheKey, hit);
  }

  private async rememberedUnder(resolve: JWTVerifyGetKey, cacheKey: string, hit: VerifiedToken): Promise<VerifiedToken | undefined> {
    let current: unknown;
    try {
      current = await resolve(hit.header, { payload: '', signature: '' } as FlattenedJWSInput);
    } catch {
      current = undefined;
    }
    return this.sameKey(cacheKey, hit, current);
  }

  private sameKey(cacheKey: string, hit: VerifiedToken, current: unknown): VerifiedToken | undefined {
    if (current === hit.key) return hit;
    this.verified.delete(cacheKey);
    return undefined;
  }

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  private async verify(token: string): Promise<VerifiedToken> {
    const maxAge = this.options.maxTokenAgeSeconds ?? DEFAULT_MAX_TOKEN_AGE_SECONDS;
    let payload: JWTPayload;
    let header: JWTHeaderParameters;
    let key: unknown;
    try {
      const verified = await jwtVerify(token, this.options.key as JWTVerifyGetKey, {
        algorithms: ALGORITHMS,
        issuer: this.options.issuer,
        ...(this.options.audience ? { audience: this.options.audience } : {}),
        requiredClaims: ['exp', 'sub', 'iat'],
        clockTolerance: this.options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
        maxTokenAge: maxAge,
        ...(this.options.now ? { currentDate: new Date(this.options.now()) } : {}),
      });
      payload = verified.payload;
      header = verified.protectedHeader;
      key = typeof this.options.key === 'function' ? (verified as { key?: unknown }).key : this.options.key;
    } catch (error) {
      throw HttpErrors.unauthenticated('AUTH-7fs1e', 'invalid token', error, tokenRejectionReason(error));
    }
    if (typeof payload.sub !== 'string' || payload.sub.trim() === '') throw HttpErrors.unauthenticated('AUTH-7fs1e', 'invalid token: empty sub', undefined, 'subject');
    // The sub is stored as the editor of every event the request appends: a NUL or a lone surrogate
    // there would fail the write in PostgreSQL, and with it every command sharing its transaction.
    if (payload.sub.includes('\u0000') || !isWellFormedUnicode(payload.sub)) {
      throw HttpErrors.unauthenticated('AUTH-7fs1e', 'invalid token: sub is not well-formed text (NUL or a lone surrogate)', undefined, 'subject');
    }
    if (payload.exp! - payload.iat! > maxAge) throw HttpErrors.unauthenticated('AUTH-7fs1e', 'invalid token: lifetime longer than the maximum token age', undefined, 'lifetime');
    if (!this.options.audience && payload.aud !== undefined) {
      // The setting's name is for the operator (the log's `detail`); the token's holder is told what is wrong with it.
      throw new ReasonedDomainError(
        ErrorKind.Unauthenticated,
        'AUTH-7fs1e',
        'Errors.Token.Invalid',
        'invalid token: it names an audience and this server has none configured (JWT_AUDIENCE)',
        'audience',
        undefined,
        'invalid token: it names an audience, and this server accepts tokens without one',
      );
    }
    const roles = payload[CLAIMS.roles];
    return {
      sub: payload.sub,
      instanceId: payload[CLAIMS.instanceId],
      roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [],
      // Without the clock skew: past this the token goes back to jose, which decides with it.
      until: Math.min(payload.exp!, payload.iat! + maxAge) * 1000,
      key,
      header,
    };
  }
}

/**
 * The Fastify plugin's `authenticate` on a JwtAuthenticator: the request's `Authorization` header,
 * for the instance the request addresses.
 */
export const jwtAuthenticate =
  (authenticator: Pick<JwtAuthenticator, 'authenticate'>) =>
  (request: { readonly headers: { readonly authorization?: string | undefined } }, instance: { readonly id: string }): Promise<Principal> =>
    authenticator.authenticate(request.headers.authorization, instance.id);

export const DEV_ISSUER = 'smtp-config-dev';
const DEV_KEY_FILE = 'dev-signing-key.json';

/** The development signing key under the data directory, created on first use (mode 0600). */
export const loadOrCreateDevSigningKey = async (dataDir: string): Promise<{ privateJwk: JWK; publicJwk: JWK; created: boolean }> => {
  const path = join(dataDir, DEV_KEY_FILE);
  if (existsSync(path)) {
    const privateJwk = JSON.parse(readFileSync(path, 'utf8')) as JWK;
    const { d: _d, ...publicJwk } = privateJwk;
    return { privateJwk, publicJwk, created: false };
  }
  makeDirectory(dataDir);
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: `dev-${Date.now().toString(36)}` };
  if (!createFileOnce(path, JSON.stringify(privateJwk))) return loadOrCreateDevSigningKey(dataDir); // another replica made it first
  const { d: _d, ...publicJwk } = privateJwk;
  return { privateJwk, publicJwk, created: true };
};

export const devSigningKeyExists = (dataDir: string): boolean => existsSync(join(dataDir, DEV_KEY_FILE));

export interface TokenClaims {
  readonly userId: string;
  readonly instanceId: string;
  readonly roles: readonly string[];
  /** A jose time span ('1h') or an absolute expiry in seconds since the epoch. */
  readonly expiresIn?: string | number;
  readonly issuer?: string;
  readonly audience?: string;
  /** `iat` in seconds since the epoch (default: now). */
  readonly issuedAt?: number;
}

/** Signs a token with a private JWK (the development key, or a test's). */
export const signToken = async (privateJwk: JWK, claims: TokenClaims): Promise<string> => {
  const key = await importJWK(privateJwk, privateJwk.alg ?? 'ES256');
  const jwt = new SignJWT({ [CLAIMS.instanceId]: claims.instanceId, [CLAIMS.roles]: [...claims.roles] })
    .setProtectedHeader({ alg: privateJwk.alg ?? 'ES256', ...(privateJwk.kid ? { kid: privateJwk.kid } : {}), typ: 'JWT' })
    .setSubject(claims.userId)
    .setIssuer(claims.issuer ?? DEV_ISSUER)
    .setIssuedAt(claims.issuedAt)
    .setExpirationTime(claims.expiresIn ?? '1h');
  if (claims.audience) jwt.setAudience(claims.audience);
  return jwt.sign(key);
};

export const verificationKeyFrom = async (source: { jwksUrl?: string; publicKeyPem?: string; publicKeyAlg?: string; publicJwk?: JWK }) => {
  if (source.jwksUrl) return createRemoteJWKSet(new URL(source.jwksUrl));
  if (source.publicKeyPem) return importSPKI(source.publicKeyPem, source.publicKeyAlg ?? 'ES256');
  if (source.publicJwk) return createLocalJWKSet({ keys: [source.publicJwk] });
  throw new Error('no token verification key configured');
};
