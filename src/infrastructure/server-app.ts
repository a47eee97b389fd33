import { resolve } from 'node:path';
import { Container } from 'inversify';
import { pino, type DestinationStream, type Logger } from 'pino';
import type {
  GetSmtpConfigQuery,
  AddSmtpConfigUseCase,
  ProjectionRunner,
  ProjectionStore,
  SetUpInstanceUseCase,
  SmtpMailer,
} from '../application/index.js';
import { LeaderProjection, SubscriptionRefusedError } from '../application/index.js';
import { INSTANCE_STREAM_PREFIX, isDomainError } from '../domain/index.js';
import { openStores, type OpenedStores } from './bootstrap/open-stores.js';
import type { Config } from './config.js';
import { smtpConfigModule, TOKENS, type ProjectionProgress } from './container.js';
import { keyRingFrom } from './crypto/aes-gcm-encryptor.js';
import { loadOrCreateDevKeyRing } from './crypto/dev-key-ring.js';
import { DEV_ISSUER, JwtAuthenticator, jwtAuthenticate, loadOrCreateDevSigningKey, verificationKeyFrom } from './http/jwt-authenticator.js';
import { buildHttpServer, LOG_REDACT_PATHS, type HttpServerDeps } from './http/server.js';
import { describeListenError } from './system/port-reservation.js';

/** The first instance of a fresh installation, as the real product sets one up. */
export const FIRST_INSTANCE = { name: 'ZITADEL', domains: ['localhost', '127.0.0.1'] } as const;

export interface ServerAppOptions {
  /** Where log lines go (default: stdout). Tests pass a stream to read them. */
  readonly logStream?: DestinationStream;
  /** Opens the stores; default: {@link openStores} (SQLite in DATA_DIR, or EventStoreDB). */
  readonly openStores?: (config: Config, dataDir: string, logger: Logger) => Promise<OpenedStores>;
  /** Sends the test mails; default nodemailer trusting the system's CAs (NODE_EXTRA_CA_CERTS adds one). */
  readonly mailer?: SmtpMailer;
}

/** A listener besides the REST port that drains and closes with the server (see {@link createServerApp}'s `attach`). */
export interface AttachedListener {
  drain(graceMs: number): Promise<{ inFlight: number }>;
  close(): Promise<void>;
}

export const createLogger = (config: Pick<Config, 'LOG_LEVEL'>, stream?: DestinationStream): Logger =>
  pino({ level: config.LOG_LEVEL, redact: { paths: LOG_REDACT_PATHS, censor: '[REDACTED]' } }, stream ?? pino.destination(1));

/**
 * Wires the server: store, container module, projection (caught up before the first request), the
 * first instance on an empty store, token verification, and the HTTP routes.
 */
export const createServerApp = async (config: Config, options: ServerAppOptions = {}) => {
  const logger = createLogger(config, options.logStream);
  const dataDir = resolve(config.DATA_DIR);

  let keyRing;
  let devKeyCreated = false;
  if (config.ENCRYPTION_KEYS && config.ENCRYPTION_ACTIVE_KEY_ID) {
    keyRing = keyRingFrom(config.ENCRYPTION_ACTIVE_KEY_ID, config.ENCRYPTION_KEYS, 'ENCRYPTION_KEYS');
  } else {
    const dev = loadOrCreateDevKeyRing(dataDir);
    keyRing = dev.ring;
    devKeyCreated = dev.created;
    if (dev.created) logger.warn({ dataDir }, 'created a development encryption key in the data directory; set ENCRYPTION_KEYS in production');
  }

  const stores = options.openStores
    ? await options.openStores(config, dataDir, logger)
    : await openStores(config, dataDir, logger, 'server');
  const { events, readModel, shared } = stores;
  const container = new Container();
  container.load(
    smtpConfigModule({
      keyRing,
      logger,
      eventStore: () => events,
      projectionStore: () => readModel,
      ...(config.MACHINE_ID !== undefined ? { machineId: config.MACHINE_ID } : {}),
      ...(options.mailer ? { mailer: () => options.mailer! } : {}),
      onProjectionError: (err) =>
        err instanceof SubscriptionRefusedError
          ? logger.error({ err }, `projection stopped: ${err.message}; fix the cause and restart`)
          : logger.warn({ err }, 'projection feed failed; resubscribing'),
      onReadModelLag: (err) => logger.warn({ err }, 'the read model did not catch up in time; answered from the stored event'),
      // A shared read model (several replicas on one database) has one writer: whoever holds the lock.
      ...(shared ? { startProjection: false, projectionProgress: () => shared.watcher } : {}),
    }),
  );
  const runner = container.get<ProjectionRunner>(TOKENS.ProjectionRunner);
  // What this replica's appends projected inline, the runner need not hand to the read model again.
  shared?.onInlineProjected((position) => runner.reached(position));
  const progress = container.get<ProjectionProgress>(TOKENS.ProjectionProgress);
  const leader = shared
    ? new LeaderProjection(runner, shared.lock, {
        onLeadershipChange: (leading) => logger.info({ leading }, leading ? 'this replica now writes the read model' : 'this replica no longer writes the read model'),
        onError: (err) => logger.warn({ err }, 'could not ask for the projection lock; trying again'),
      })
    : undefined;
  leader?.start();
  const close = async () => {
    await leader?.stop();
    await container.unbindAllAsync();
    await stores.close();
  };

  try {
    // Whether a first instance is needed is read from the read model once it is up to date, never
    // from the store's head: on EventStoreDB the head may be a system event or a claim stream's
    // event, which the projection never receives and no checkpoint promises to carry it past.
    if (shared) {
      const head = await events.headPosition({ streamPrefixes: [INSTANCE_STREAM_PREFIX] });
      if (head) await progress.waitFor(head, 120_000);
    } else {
      await runner.waitForCaughtUp(120_000);
    }
    const storeHadInstances = await hasAnyInstance(readModel);
    if (storeHadInstances && devKeyCreated) {
      // (Which key ids the stored passwords use is in the events alone; reading every instance's
      // history at each start is not worth it. A new key beside a store with history is the cheap sign.)
      logger.warn(
        { dataDir, keyId: keyRing.activeKeyId },
        'made a new development encryption key for a store that already holds instances: SMTP passwords stored under another key ' +
          '(a lost encryption-keys.json, another DATA_DIR\'s) cannot be decrypted here (their test mails answer 500, CRYPT-key-n0k3); ' +
          'restore that key file into DATA_DIR, or set ENCRYPTION_KEYS with its keys',
      );
    }
    if (!storeHadInstances) {
      try {
        const { instanceId, position } = await container.get<SetUpInstanceUseCase>(TOKENS.SetUpInstance).execute(FIRST_INSTANCE);
        await progress.waitFor(position, 30_000);
        logger.info({ instanceId, domains: FIRST_INSTANCE.domains }, 'the store was empty: created the first instance');
      } catch (error) {
        // Replicas starting together on an empty database: another one created it first.
        if (!(isDomainError(error) && error.kind === 'AlreadyExists')) throw error;
        logger.info({ domains: FIRST_INSTANCE.domains }, 'another replica created the first instance at the same moment; using it');
        // (Replicas with read models of their own just go on: the projection brings it in.)
        const now = shared ? await events.headPosition({ streamPrefixes: [INSTANCE_STREAM_PREFIX] }) : undefined;
        if (now) await progress.waitFor(now, 30_000);
      }
    }

    let verificationKey;
    let issuer = config.JWT_ISSUER ?? DEV_ISSUER;
    if (config.JWKS_URL || config.JWT_PUBLIC_KEY) {
      verificationKey = await verificationKeyFrom({
        ...(config.JWKS_URL ? { jwksUrl: config.JWKS_URL } : {}),
        ...(config.JWT_PUBLIC_KEY ? { publicKeyPem: config.JWT_PUBLIC_KEY, publicKeyAlg: config.JWT_PUBLIC_KEY_ALG } : {}),
      });
    } else {
      const dev = await loadOrCreateDevSigningKey(dataDir);
      if (dev.created) logger.warn({ dataDir }, 'created a development token signing key in the data directory; `npm run token` signs with it');
      verificationKey = await verificationKeyFrom({ publicJwk: dev.publicJwk });
      issuer = DEV_ISSUER;
    }

    /** What every listener (REST here, gRPC in grpc/index.ts) serves with. */
    const services: Pick<HttpServerDeps, 'addSmtpConfig' | 'getSmtpConfig' | 'smtpLifecycle' | 'queries'> & { readonly authenticator: JwtAuthenticator } = {
      addSmtpConfig: container.get<AddSmtpConfigUseCase>(TOKENS.AddSmtpConfig),
      getSmtpConfig: container.get<GetSmtpConfigQuery>(TOKENS.GetSmtpConfig),
      smtpLifecycle: {
        getInstanceSmtpConfig: container.get(TOKENS.GetInstanceSmtpConfig),
        updateSmtpConfig: container.get(TOKENS.UpdateSmtpConfig),
        updateSmtpConfigPassword: container.get(TOKENS.UpdateSmtpConfigPassword),
        removeSmtpConfig: container.get(TOKENS.RemoveSmtpConfig),
        testSmtpConfig: container.get(TOKENS.TestSmtpConfig),
        testStoredSmtpConfig: container.get(TOKENS.TestStoredSmtpConfig),
      },
      queries: container.get<ProjectionStore>(TOKENS.ProjectionStore),
      authenticator: new JwtAuthenticator({
        key: verificationKey,
        issuer,
        ...(config.JWT_AUDIENCE ? { audience: config.JWT_AUDIENCE } : {}),
        clockSkewSeconds: config.JWT_CLOCK_SKEW_SECONDS,
        maxTokenAgeSeconds: config.JWT_MAX_TOKEN_AGE_SECONDS,
      }),
    };
    /** Other listeners sharing this app's stores; drained and closed with it. */
    const attached: AttachedListener[] = [];
    const { authenticator, ...restServices } = services;
    const app = buildHttpServer({
      ...restServices,
      authenticate: jwtAuthenticate(authenticator),
      logger,
      ready: () => (leader ? true : runner.running),
      limits: {
        headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT_MS,
        requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
        keepAliveTimeoutMs: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
        maxConnections: config.HTTP_MAX_CONNECTIONS,
      },
    });

    return {
      app,
      logger,
      container,
      services,
      /** Another listener (the gRPC port) to drain and close together with the REST port, before the stores close. */
      attach(listener: AttachedListener): void {
        attached.push(listener);
      },
      /** Listens on HOST:PORT; resolves to the base URL. */
      async listen(): Promise<string> {
        await app.listen({ host: config.HOST, port: config.PORT }).catch((error: unknown) => {
          throw describeListenError(error, 'PORT', config.HOST, config.PORT);
        });
        const address = app.server.address();
        const port = typeof address === 'object' && address ? address.port : config.PORT;
        const url = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
        logger.info({ url, dataDir, stores: stores.description }, `listening on ${url}`);
        return url;
      },
      /**
       * Drains (every request that arrives now gets 503, the ones being handled finish, keep-alive
       * connections close after their response), then stops listening, then stops the projection
       * and the store. After SHUTDOWN_GRACE_MS whatever is still open is cut.
       */
      async close(): Promise<void> {
        const [{ inFlight }, ...others] = await Promise.all([
          app.drain.drain(config.SHUTDOWN_GRACE_MS),
          ...attached.map((l) => l.drain(config.SHUTDOWN_GRACE_MS)),
        ]);
        if (inFlight > 0 || others.some((o) => o.inFlight > 0)) {
          logger.warn({ inFlight: inFlight + others.reduce((n, o) => n + o.inFlight, 0) }, 'shutdown grace period over: closing connections with requests still running');
          app.server.closeAllConnections();
        }
        await Promise.all([app.close(), ...attached.map((l) => l.close())]);
        await close();
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
};

/** Whether the read model holds any instance: the first instance's domain first (one indexed look-up), else any row. */
const hasAnyInstance = async (readModel: ProjectionStore): Promise<boolean> => {
  if (await readModel.instanceByDomain(FIRST_INSTANCE.domains[0])) return true;
  // (SQLite's instances() reads every row before the first: about 0.3 s for 100 000 instances.)
  for await (const _ of readModel.instances()) return true;
  return false;
};

export type ServerApp = Awaited<ReturnType<typeof createServerApp>>;
