import { z } from 'zod';

const keyList = z
  .string()
  .transform((s, ctx) => {
    const keys: Record<string, Buffer> = {};
    for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
      const [id, b64] = part.split(':');
      const key = Buffer.from(b64 ?? '', 'base64');
      if (!id || key.length !== 32) {
        ctx.addIssue({ code: 'custom', message: 'each entry must be <keyId>:<base64 of 32 bytes>' });
        return z.NEVER;
      }
      keys[id] = key;
    }
    return keys;
  });

/** The server's configuration, from environment variables. */
export const ConfigSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    HOST: z.string().min(1).default('127.0.0.1'),
    DATA_DIR: z.string().min(1).default('./data'),
    /** gRPC, gRPC-web and Connect (`zitadel.admin.v1.AdminService`): a port, or `off`. Default: see {@link grpcPortOf}. */
    GRPC_PORT: z.union([z.literal('off'), z.coerce.number().int().min(0).max(65535)]).optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Production token verification: a JWKS URL, or a public key in PEM (SPKI) with its algorithm. */
    JWKS_URL: z.url().optional(),
    JWT_PUBLIC_KEY: z.string().includes('BEGIN PUBLIC KEY', { message: 'must be a PEM public key' }).optional(),
    JWT_PUBLIC_KEY_ALG: z.enum(['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA']).default('ES256'),
    JWT_ISSUER: z.string().min(1).optional(),
    JWT_AUDIENCE: z.string().min(1).optional(),
    /** How far a token issuer's clock may differ from ours (`iat`, `nbf`, `exp`). */
    JWT_CLOCK_SKEW_SECONDS: z.coerce.number().int().min(0).max(600).default(60),
    /** The longest a token may live, from `iat`: ZITADEL's default access token lifetime. */
    JWT_MAX_TOKEN_AGE_SECONDS: z.coerce.number().int().min(60).max(7 * 24 * 3600).default(12 * 3600),
    /** Time to receive a request's headers. */
    HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
    /** Time to receive a whole request, headers and body; a slower client gets 408 and is disconnected. */
    HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
    /** An idle keep-alive connection is closed after this long: above a proxy's idle timeout (60 s on nginx and AWS ALB). */
    HTTP_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(65_000),
    /** Connections beyond this many are closed at once. */
    HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).default(1024),
    /** On SIGTERM: how long to finish requests already received before the remaining connections are cut (below Kubernetes' 30 s). */
    SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(25_000),
    /** `keyId:base64,keyId:base64` — 32-byte AES keys; without it a development key is kept in DATA_DIR. */
    ENCRYPTION_KEYS: keyList.optional(),
    ENCRYPTION_ACTIVE_KEY_ID: z.string().min(1).optional(),
    MACHINE_ID: z.coerce.number().int().min(0).max(65535).optional(),
    /** PostgreSQL for the events and the read model (or the read model only, with EVENTSTORE_CONNECTION_STRING). */
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://').optional(),
    DATABASE_SCHEMA: z
      .string()
      // At most 52 characters: the store's notification channels are `<schema>_events` and
      // `<schema>_checkpoint`, and PostgreSQL refuses a channel name over 63 (a longer schema started
      // and then failed its first append or rebuild with "channel name too long").
      .regex(/^[a-z_][a-z0-9_]{0,51}$/, 'must be a lower-case SQL identifier (a-z, 0-9, _) of at most 52 characters (its notification channel <schema>_checkpoint must fit in 63)')
      .default('smtp_config'),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(10),
    /**
     * How long a new PostgreSQL connection may take (TCP and start-up) before it fails as Unavailable:
     * a database behind a dropped route otherwise holds a start, or a request waiting for a
     * connection, until the operating system gives up minutes later.
     */
    DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
    /**
     * How long the server waits for PostgreSQL to answer one statement before the request fails as
     * Unavailable and the connection is dropped: a database whose route vanished without a reset
     * (a failover that moves its address) otherwise holds every write for the minutes TCP takes to
     * give up.
     */
    DATABASE_QUERY_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
    EVENTSTORE_CONNECTION_STRING: z.string().regex(/^esdb(\+discover)?:\/\//, 'must start with esdb:// or esdb+discover://').optional(),
  })
  .superRefine((c, ctx) => {
    if (c.HTTP_HEADERS_TIMEOUT_MS > c.HTTP_REQUEST_TIMEOUT_MS) {
      ctx.addIssue({ code: 'custom', path: ['HTTP_HEADERS_TIMEOUT_MS'], message: 'must not be above HTTP_REQUEST_TIMEOUT_MS' });
    }
    if ((c.JWKS_URL || c.JWT_PUBLIC_KEY) && !c.JWT_ISSUER) {
      ctx.addIssue({ code: 'custom', path: ['JWT_ISSUER'], message: 'is required with JWKS_URL or JWT_PUBLIC_KEY' });
    }
    if (c.ENCRYPTION_KEYS && !c.ENCRYPTION_ACTIVE_KEY_ID) {
      ctx.addIssue({ code: 'custom', path: ['ENCRYPTION_ACTIVE_KEY_ID'], message: 'is required with ENCRYPTION_KEYS' });
    }
    if (!c.ENCRYPTION_KEYS && c.ENCRYPTION_ACTIVE_KEY_ID) {
      // Else the server would start on the development key in DATA_DIR, not the key named here.
      ctx.addIssue({ code: 'custom', path: ['ENCRYPTION_ACTIVE_KEY_ID'], message: 'is set but ENCRYPTION_KEYS is not: set ENCRYPTION_KEYS with that key, or unset ENCRYPTION_ACTIVE_KEY_ID to use the development key' });
    }
    if (c.ENCRYPTION_KEYS && c.ENCRYPTION_ACTIVE_KEY_ID && !(c.ENCRYPTION_ACTIVE_KEY_ID in c.ENCRYPTION_KEYS)) {
      ctx.addIssue({ code: 'custom', path: ['ENCRYPTION_ACTIVE_KEY_ID'], message: 'must name a key in ENCRYPTION_KEYS' });
    }
  });

export type Config = z.output<typeof ConfigSchema>;

/** Where gRPC listens: GRPC_PORT, by default 9090 (a free port, like PORT, when PORT is 0); undefined when `off`. */
export const grpcPortOf = (config: Pick<Config, 'GRPC_PORT' | 'PORT'>): number | undefined =>
  config.GRPC_PORT === 'off' ? undefined : (config.GRPC_PORT ?? (config.PORT === 0 ? 0 : 9090));

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parses the environment; a bad value throws a ConfigError that names every bad variable (never its
 * value). A variable set to nothing or only white space counts as unset, so its default applies
 * (`PORT=` would otherwise coerce to 0, a random port).
 */
export const loadConfig = (env: Record<string, string | undefined> = process.env): Config => {
  const set = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const result = ConfigSchema.safeParse(set);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(environment)'}: ${i.message}`);
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
};
