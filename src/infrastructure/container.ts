import { ContainerModule, type Container } from 'inversify';
import {
  AddSmtpConfigUseCase,
  GetInstanceSmtpConfigQuery,
  type AddSmtpConfigAnswer,
  type Logger,
  GetSmtpConfigQuery,
  GetSmtpSenderConfig,
  RemoveSmtpConfigUseCase,
  TestSmtpConfigUseCase,
  TestStoredSmtpConfigUseCase,
  UpdateSmtpConfigPasswordUseCase,
  UpdateSmtpConfigUseCase,
  type SmtpCommandDeps,
  type SmtpMailer,
  ProjectionRunner,
  RoleBasedPermissionChecker,
  SetUpInstanceUseCase,
  projectEvent,
  silentLogger,
  type Clock,
  type EventStore,
  type IdGenerator,
  type PermissionChecker,
  type ProjectionStore,
  type SecretEncryptor,
} from '../application/index.js';
import { INSTANCE_STREAM_PREFIX } from '../domain/index.js';
import { AesGcmEncryptor, type KeyRing } from './crypto/aes-gcm-encryptor.js';
import { InMemoryEventStore } from './in-memory/in-memory-event-store.js';
import { InMemoryProjectionStore } from './in-memory/in-memory-projection-store.js';
import { SonyflakeIdGenerator } from './system/sonyflake-id-generator.js';
import { SystemClock } from './system/system-clock.js';

/**
 * A service identifier that carries its service's type: `getService(container, TOKENS.AddSmtpConfig)`
 * is an AddSmtpConfigUseCase without a type argument. Still a plain symbol for inversify.
 */
export type Token<T> = symbol & { readonly __service?: T };
const token = <T>(name: string): Token<T> => Symbol.for(`smtp-config/${name}`) as Token<T>;

/** Service identifiers. Symbols, so that they never clash with an embedding application's own. */
export const TOKENS = {
  EventStore: token<EventStore>('EventStore'),
  ProjectionStore: token<ProjectionStore>('ProjectionStore'),
  Clock: token<Clock>('Clock'),
  /** The default for both id generators below. */
  IdGenerator: token<IdGenerator>('IdGenerator'),
  /** Ids of new instances. */
  InstanceIdGenerator: token<IdGenerator>('InstanceIdGenerator'),
  /** Ids of new SMTP configurations. */
  ConfigIdGenerator: token<IdGenerator>('ConfigIdGenerator'),
  KeyRing: token<KeyRing>('KeyRing'),
  SecretEncryptor: token<SecretEncryptor>('SecretEncryptor'),
  PermissionChecker: token<PermissionChecker>('PermissionChecker'),
  Logger: token<Logger>('Logger'),
  ProjectionRunner: token<ProjectionRunner>('ProjectionRunner'),
  /** What a use case waits on for read-your-writes: the runner itself, or a watcher of a shared read model. */
  ProjectionProgress: token<ProjectionProgress>('ProjectionProgress'),
  AddSmtpConfig: token<AddSmtpConfigUseCase>('AddSmtpConfig'),
  GetSmtpConfig: token<GetSmtpConfigQuery>('GetSmtpConfig'),
  SetUpInstance: token<SetUpInstanceUseCase>('SetUpInstance'),
  GetInstanceSmtpConfig: token<GetInstanceSmtpConfigQuery>('GetInstanceSmtpConfig'),
  UpdateSmtpConfig: token<UpdateSmtpConfigUseCase>('UpdateSmtpConfig'),
  UpdateSmtpConfigPassword: token<UpdateSmtpConfigPasswordUseCase>('UpdateSmtpConfigPassword'),
  RemoveSmtpConfig: token<RemoveSmtpConfigUseCase>('RemoveSmtpConfig'),
  /** The stored configuration with its password decrypted in memory, for an embedder's mailer. */
  GetSmtpSenderConfig: token<GetSmtpSenderConfig>('GetSmtpSenderConfig'),
  SmtpMailer: token<SmtpMailer>('SmtpMailer'),
  TestSmtpConfig: token<TestSmtpConfigUseCase>('TestSmtpConfig'),
  TestStoredSmtpConfig: token<TestStoredSmtpConfigUseCase>('TestStoredSmtpConfig'),
} as const;

/** `container.get` with the token's type. */
export const getService = <T>(container: Pick<Container, 'get'>, id: Token<T>): T => container.get<T>(id);
/** `container.getAsync` with the token's type: needed when a store comes from an async factory. */
export const getServiceAsync = <T>(container: Pick<Container, 'getAsync'>, id: Token<T>): Promise<T> => container.getAsync<T>(id);

/** A factory for a port; async factories (a store that connects first) need `getServiceAsync`. */
export type Factory<T> = () => T | Promise<T>;

interface CommonModuleOptions {
  /** Defaults to the in-memory store. May be async (then resolve services with `getServiceAsync`). */
  readonly eventStore?: Factory<EventStore>;
  /** Defaults to the in-memory read model. May be async. */
  readonly projectionStore?: Factory<ProjectionStore>;
  readonly clock?: Clock;
  /** Sonyflake machine id (16 bits) of the default id generator; random when absent. */
  readonly machineId?: number;
  /** Ids of new instances (default: Sonyflake). */
  readonly instanceIds?: IdGenerator;
  /** Ids of new SMTP configurations (default: Sonyflake). */
  readonly configIds?: IdGenerator;
  /** Default: by role, on the principal's own instance ({@link RoleBasedPermissionChecker}). */
  readonly permissions?: PermissionChecker;
  /** Default: silent. A pino logger fits as it is. */
  readonly logger?: Logger;
  /** Where AddSmtpConfig answers from (default `read-model`; `append` for a projection that runs elsewhere). */
  readonly addSmtpConfigAnswer?: AddSmtpConfigAnswer;
  readonly projectionTimeoutMs?: number;
  /** Default: a warning on the logger. */
  readonly onProjectionError?: (error: unknown) => void;
  /** Told when a command's answer could not wait for the read model (see AddSmtpConfigUseCase). Default: a warning on the logger. */
  readonly onReadModelLag?: (error: unknown) => void;
  /**
   * Start the projection when the runner is first resolved (default true). Pass false where the
   * read model is shared and a {@link LeaderProjection} decides when this process runs it.
   */
  readonly startProjection?: boolean;
  /** What use cases wait on for read-your-writes; default the runner (a shared read model: its CheckpointWatcher). */
  readonly projectionProgress?: () => ProjectionProgress;
  /** Sends the test mails; default nodemailer with the system's trusted CAs. */
  readonly mailer?: () => SmtpMailer;
}

/** The password's encryption: keys (the module's AES-256-GCM encryptor), or an encryptor of your own (then no keys). */
export type SmtpConfigModuleOptions = CommonModuleOptions &
  (
    | { /** Keys for the SMTP password; the module never makes up a key of its own. */ readonly keyRing: KeyRing; readonly encryptor?: undefined }
    | { /** Encrypts the SMTP password (a KMS, Vault); no key ring is needed. */ readonly encryptor: SecretEncryptor; readonly keyRing?: undefined }
  );

/** Something that can tell when the read model has processed a position. */
export type ProjectionProgress = Pick<ProjectionRunner, 'waitFor'>;

/**
 * The composition root as an inversify container module. Every binding names its dependencies
 * explicitly (`toResolvedValue(factory, [tokens])`): no decorators and no emitted metadata are needed.
 * The projection runner starts when it is first resolved and stops when the container unbinds it.
 */
export const smtpConfigModule = (options: SmtpConfigModuleOptions): ContainerModule => {
  if (!options.keyRing && !options.encryptor) throw new TypeError('smtpConfigModule: pass `keyRing` or `encryptor` for the SMTP password');
  const logger = options.logger ?? silentLogger;
  const onProjectionError = options.onProjectionError ?? ((err: unknown) => logger.warn({ err }, 'projection feed failed; resubscribing'));
  const onReadModelLag =
    options.onReadModelLag ?? ((err: unknown) => logger.warn({ err }, 'the read model did not catch up in time; answered from the stored event'));
  return new ContainerModule(({ bind, onActivation, onDeactivation }) => {
    bind<EventStore>(TOKENS.EventStore).toResolvedValue(options.eventStore ?? (() => new InMemoryEventStore())).inSingletonScope();
    bind<ProjectionStore>(TOKENS.ProjectionStore)
      .toResolvedValue(options.projectionStore ?? (() => new InMemoryProjectionStore()))
      .inSingletonScope();
    bind<Clock>(TOKENS.Clock).toConstantValue(options.clock ?? new SystemClock());
    bind<IdGenerator>(TOKENS.IdGenerator)
      .toResolvedValue((clock: Clock) => new SonyflakeIdGenerator(clock, options.machineId), [TOKENS.Clock])
      .inSingletonScope();
    const ids = (own: IdGenerator | undefined, id: Token<IdGenerator>) =>
      own ? bind<IdGenerator>(id).toConstantValue(own) : bind<IdGenerator>(id).toResolvedValue((shared: IdGenerator) => shared, [TOKENS.IdGenerator]);
    ids(options.instanceIds, TOKENS.InstanceIdGenerator);
    ids(options.configIds, TOKENS.ConfigIdGenerator);
    if (options.encryptor) {
      bind<SecretEncryptor>(TOKENS.SecretEncryptor).toConstantValue(options.encryptor);
    } else {
      bind<KeyRing>(TOKENS.KeyRing).toConstantValue(options.keyRing);
      bind<SecretEncryptor>(TOKENS.SecretEncryptor)
        .toResolvedValue((ring: KeyRing) => new AesGcmEncryptor(ring), [TOKENS.KeyRing])
        .inSingletonScope();
    }
    bind<PermissionChecker>(TOKENS.PermissionChecker).toConstantValue(options.permissions ?? new RoleBasedPermissionChecker());
    bind<Logger>(TOKENS.Logger).toConstantValue(logger);
    bind<ProjectionRunner>(TOKENS.ProjectionRunner)
      .toResolvedValue(
        (events: EventStore, target: ProjectionStore) => {
          const runner = new ProjectionRunner(events, target, {
            handler: projectEvent,
            streamPrefixes: [INSTANCE_STREAM_PREFIX],
            // Well under the commands' projection timeout, so that a POST after a long outage is not the one that waits it out.
            maxBackoffMs: 1_000,
            // Catching up after downtime: fewer, larger transactions (each is a few round trips on PostgreSQL).
            maxBatchSize: 2_000,
            onError: onProjectionError,
          });
          // In-memory stores project inline, as a PostgreSQL server's appends do (see openStores): an
          // append that finds the read model at the log's head applies its own rows in the same step.
          if (events instanceof InMemoryEventStore && target instanceof InMemoryProjectionStore) {
            events.projectInline(target, { handler: projectEvent, streamPrefixes: [INSTANCE_STREAM_PREFIX], onProjected: (p) => runner.reached(p) });
          }
          return runner;
        },
        [TOKENS.EventStore, TOKENS.ProjectionStore],
      )
      .inSingletonScope();
    onActivation<ProjectionRunner>(TOKENS.ProjectionRunner, (_ctx, runner) => {
      if (options.startProjection ?? true) runner.start();
      return runner;
    });
    const progress = options.projectionProgress;
    if (progress) bind<ProjectionProgress>(TOKENS.ProjectionProgress).toResolvedValue(progress).inSingletonScope();
    else bind<ProjectionProgress>(TOKENS.ProjectionProgress).toResolvedValue((runner: ProjectionRunner) => runner, [TOKENS.ProjectionRunner]);
    onDeactivation<ProjectionRunner>(TOKENS.ProjectionRunner, (runner) => runner.stop());
    const answerFrom = options.addSmtpConfigAnswer ?? 'read-model';
    const common = {
      ...(options.projectionTimeoutMs ? { projectionTimeoutMs: options.projectionTimeoutMs } : {}),
      onReadModelLag,
      answerFrom,
      logger,
    };
    if (answerFrom === 'append') {
      // Nothing to wait for: the projection (and its runner) may live in another process.
      bind<AddSmtpConfigUseCase>(TOKENS.AddSmtpConfig)
        .toResolvedValue(
          (events: EventStore, clock: Clock, ids: IdGenerator, encryptor: SecretEncryptor, permissions: PermissionChecker) =>
            new AddSmtpConfigUseCase({ events, clock, ids, encryptor, permissions, ...common }),
          [TOKENS.EventStore, TOKENS.Clock, TOKENS.ConfigIdGenerator, TOKENS.SecretEncryptor, TOKENS.PermissionChecker],
        )
        .inSingletonScope();
    } else {
      bind<AddSmtpConfigUseCase>(TOKENS.AddSmtpConfig)
        .toResolvedValue(
          (
            events: EventStore,
            queries: ProjectionStore,
            projection: ProjectionProgress,
            clock: Clock,
            ids: IdGenerator,
            encryptor: SecretEncryptor,
            permissions: PermissionChecker,
          ) => new AddSmtpConfigUseCase({ events, queries, projection, clock, ids, encryptor, permissions, ...common }),
          [
            TOKENS.EventStore,
            TOKENS.ProjectionStore,
            TOKENS.ProjectionProgress,
            TOKENS.Clock,
            TOKENS.ConfigIdGenerator,
            TOKENS.SecretEncryptor,
            TOKENS.PermissionChecker,
          ],
        )
        .inSingletonScope();
    }
    bind<GetSmtpConfigQuery>(TOKENS.GetSmtpConfig)
      .toResolvedValue(
        (queries: ProjectionStore, permissions: PermissionChecker) => new GetSmtpConfigQuery({ queries, permissions }),
        [TOKENS.ProjectionStore, TOKENS.PermissionChecker],
      )
      .inSingletonScope();
    bind<GetInstanceSmtpConfigQuery>(TOKENS.GetInstanceSmtpConfig)
      .toResolvedValue(
        (queries: ProjectionStore, permissions: PermissionChecker) => new GetInstanceSmtpConfigQuery({ queries, permissions }),
        [TOKENS.ProjectionStore, TOKENS.PermissionChecker],
      )
      .inSingletonScope();
    const commandDeps = (
      events: EventStore,
      projection: ProjectionProgress,
      clock: Clock,
      ids: IdGenerator,
      encryptor: SecretEncryptor,
      permissions: PermissionChecker,
    ): SmtpCommandDeps => ({
      events,
      // Like AddSmtpConfig: with answers from the append, nothing here waits for a projection that may run elsewhere.
      ...(answerFrom === 'append' ? {} : { projection }),
      clock,
      ids,
      encryptor,
      permissions,
      ...(options.projectionTimeoutMs ? { projectionTimeoutMs: options.projectionTimeoutMs } : {}),
      onReadModelLag,
    });
    const commandTokens: [symbol, symbol, symbol, symbol, symbol, symbol] = [
      TOKENS.EventStore,
      TOKENS.ProjectionProgress,
      TOKENS.Clock,
      TOKENS.IdGenerator,
      TOKENS.SecretEncryptor,
      TOKENS.PermissionChecker,
    ];
    bind<UpdateSmtpConfigUseCase>(TOKENS.UpdateSmtpConfig)
      .toResolvedValue((...deps: Parameters<typeof commandDeps>) => new UpdateSmtpConfigUseCase(commandDeps(...deps)), commandTokens)
      .inSingletonScope();
    bind<UpdateSmtpConfigPasswordUseCase>(TOKENS.UpdateSmtpConfigPassword)
      .toResolvedValue((...deps: Parameters<typeof commandDeps>) => new UpdateSmtpConfigPasswordUseCase(commandDeps(...deps)), commandTokens)
      .inSingletonScope();
    bind<RemoveSmtpConfigUseCase>(TOKENS.RemoveSmtpConfig)
      .toResolvedValue((...deps: Parameters<typeof commandDeps>) => new RemoveSmtpConfigUseCase(commandDeps(...deps)), commandTokens)
      .inSingletonScope();
    bind<GetSmtpSenderConfig>(TOKENS.GetSmtpSenderConfig)
      .toResolvedValue((events: EventStore, encryptor: SecretEncryptor) => new GetSmtpSenderConfig({ events, encryptor }), [
        TOKENS.EventStore,
        TOKENS.SecretEncryptor,
      ])
      .inSingletonScope();
    bind<SmtpMailer>(TOKENS.SmtpMailer)
      .toResolvedValue(options.mailer ?? (() => lazyNodemailer()))
      .inSingletonScope();
    bind<TestSmtpConfigUseCase>(TOKENS.TestSmtpConfig)
      .toResolvedValue(
        (mailer: SmtpMailer, permissions: PermissionChecker, senderConfig: GetSmtpSenderConfig) =>
          new TestSmtpConfigUseCase({ mailer, permissions, senderConfig }),
        [TOKENS.SmtpMailer, TOKENS.PermissionChecker, TOKENS.GetSmtpSenderConfig],
      )
      .inSingletonScope();
    bind<TestStoredSmtpConfigUseCase>(TOKENS.TestStoredSmtpConfig)
      .toResolvedValue(
        (mailer: SmtpMailer, permissions: PermissionChecker, senderConfig: GetSmtpSenderConfig) =>
          new TestStoredSmtpConfigUseCase({ mailer, permissions, senderConfig }),
        [TOKENS.SmtpMailer, TOKENS.PermissionChecker, TOKENS.GetSmtpSenderConfig],
      )
      .inSingletonScope();
    bind<SetUpInstanceUseCase>(TOKENS.SetUpInstance)
      .toResolvedValue(
        (events: EventStore, clock: Clock, ids: IdGenerator) => new SetUpInstanceUseCase({ events, clock, ids }),
        [TOKENS.EventStore, TOKENS.Clock, TOKENS.InstanceIdGenerator],
      )
      .inSingletonScope();
  });
};

/**
 * The default mailer, nodemailer (an optional peer), loaded at the first test mail: an embedder
 * that never sends one, or passes its own `mailer`, never loads it.
 */
const lazyNodemailer = (): SmtpMailer => {
  let mailer: Promise<SmtpMailer> | undefined;
  return {
    async send(config, mail) {
      mailer ??= import('./mail/nodemailer-smtp-mailer.js').then(({ NodemailerSmtpMailer }) => new NodemailerSmtpMailer());
      return (await mailer).send(config, mail);
    },
  };
};
