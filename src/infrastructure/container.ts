import { ContainerModule } from 'inversify';
import {
  AddSmtpConfigUseCase,
  GetInstanceSmtpConfigQuery,
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
import { NodemailerSmtpMailer } from './mail/nodemailer-smtp-mailer.js';
import { SonyflakeIdGenerator } from './system/sonyflake-id-generator.js';
import { SystemClock } from './system/system-clock.js';

/** Service identifiers. Symbols, so that they never clash with an embedding application's own. */
export const TOKENS = {
  EventStore: Symbol.for('smtp-config/EventStore'),
  ProjectionStore: Symbol.for('smtp-config/ProjectionStore'),
  Clock: Symbol.for('smtp-config/Clock'),
  IdGenerator: Symbol.for('smtp-config/IdGenerator'),
  KeyRing: Symbol.for('smtp-config/KeyRing'),
  SecretEncryptor: Symbol.for('smtp-config/SecretEncryptor'),
  PermissionChecker: Symbol.for('smtp-config/PermissionChecker'),
  ProjectionRunner: Symbol.for('smtp-config/ProjectionRunner'),
  /** What a use case waits on for read-your-writes: the runner itself, or a watcher of a shared read model. */
  ProjectionProgress: Symbol.for('smtp-config/ProjectionProgress'),
  AddSmtpConfig: Symbol.for('smtp-config/AddSmtpConfig'),
  GetSmtpConfig: Symbol.for('smtp-config/GetSmtpConfig'),
  SetUpInstance: Symbol.for('smtp-config/SetUpInstance'),
  GetInstanceSmtpConfig: Symbol.for('smtp-config/GetInstanceSmtpConfig'),
  UpdateSmtpConfig: Symbol.for('smtp-config/UpdateSmtpConfig'),
  UpdateSmtpConfigPassword: Symbol.for('smtp-config/UpdateSmtpConfigPassword'),
  RemoveSmtpConfig: Symbol.for('smtp-config/RemoveSmtpConfig'),
  /** The stored configuration with its password decrypted in memory, for an embedder's mailer. */
  GetSmtpSenderConfig: Symbol.for('smtp-config/GetSmtpSenderConfig'),
  SmtpMailer: Symbol.for('smtp-config/SmtpMailer'),
  TestSmtpConfig: Symbol.for('smtp-config/TestSmtpConfig'),
  TestStoredSmtpConfig: Symbol.for('smtp-config/TestStoredSmtpConfig'),
} as const;

export interface SmtpConfigModuleOptions {
  /** Keys for the SMTP password. Required: the module never makes up a key of its own. */
  readonly keyRing: KeyRing;
  /** Defaults to the in-memory store. */
  readonly eventStore?: () => EventStore;
  /** Defaults to the in-memory read model. */
  readonly projectionStore?: () => ProjectionStore;
  readonly clock?: Clock;
  /** Sonyflake machine id (16 bits); random when absent. */
  readonly machineId?: number;
  readonly projectionTimeoutMs?: number;
  readonly onProjectionError?: (error: unknown) => void;
  /** Told when a command's answer could not wait for the read model (see AddSmtpConfigUseCase). */
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

/** Something that can tell when the read model has processed a position. */
export type ProjectionProgress = Pick<ProjectionRunner, 'waitFor'>;

/**
 * The composition root as an inversify container module. Every binding names its dependencies
 * explicitly (`toResolvedValue(factory, [tokens])`): no decorators and no emitted metadata are needed.
 * The projection runner starts when it is first resolved and stops when the container unbinds it.
 */
export const smtpConfigModule = (options: SmtpConfigModuleOptions): ContainerModule =>
  new ContainerModule(({ bind, onActivation, onDeactivation }) => {
    bind<EventStore>(TOKENS.EventStore).toResolvedValue(options.eventStore ?? (() => new InMemoryEventStore())).inSingletonScope();
    bind<ProjectionStore>(TOKENS.ProjectionStore)
      .toResolvedValue(options.projectionStore ?? (() => new InMemoryProjectionStore()))
      .inSingletonScope();
    bind<Clock>(TOKENS.Clock).toConstantValue(options.clock ?? new SystemClock());
    bind<IdGenerator>(TOKENS.IdGenerator)
      .toResolvedValue((clock: Clock) => new SonyflakeIdGenerator(clock, options.machineId), [TOKENS.Clock])
      .inSingletonScope();
    bind<KeyRing>(TOKENS.KeyRing).toConstantValue(options.keyRing);
    bind<SecretEncryptor>(TOKENS.SecretEncryptor)
      .toResolvedValue((ring: KeyRing) => new AesGcmEncryptor(ring), [TOKENS.KeyRing])
      .inSingletonScope();
    bind<PermissionChecker>(TOKENS.PermissionChecker).toConstantValue(new RoleBasedPermissionChecker());
    bind<ProjectionRunner>(TOKENS.ProjectionRunner)
      .toResolvedValue(
        (events: EventStore, target: ProjectionStore) =>
          new ProjectionRunner(events, target, {
            handler: projectEvent,
            streamPrefixes: [INSTANCE_STREAM_PREFIX],
            // Well under the commands' projection timeout, so that a POST after a long outage is not the one that waits it out.
            maxBackoffMs: 1_000,
            // Catching up after downtime: fewer, larger transactions (each is a few round trips on PostgreSQL).
            maxBatchSize: 2_000,
            ...(options.onProjectionError ? { onError: options.onProjectionError } : {}),
          }),
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
        ) =>
          new AddSmtpConfigUseCase({
            events,
            queries,
            projection,
            clock,
            ids,
            encryptor,
            permissions,
            ...(options.projectionTimeoutMs ? { projectionTimeoutMs: options.projectionTimeoutMs } : {}),
            ...(options.onReadModelLag ? { onReadModelLag: options.onReadModelLag } : {}),
          }),
        [
          TOKENS.EventStore,
          TOKENS.ProjectionStore,
          TOKENS.ProjectionProgress,
          TOKENS.Clock,
          TOKENS.IdGenerator,
          TOKENS.SecretEncryptor,
          TOKENS.PermissionChecker,
        ],
      )
      .inSingletonScope();
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
      projection,
      clock,
      ids,
      encryptor,
      permissions,
      ...(options.projectionTimeoutMs ? { projectionTimeoutMs: options.projectionTimeoutMs } : {}),
      ...(options.onReadModelLag ? { onReadModelLag: options.onReadModelLag } : {}),
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
      .toResolvedValue(options.mailer ?? (() => new NodemailerSmtpMailer()))
      .inSingletonScope();
    bind<TestSmtpConfigUseCase>(TOKENS.TestSmtpConfig)
      .toResolvedValue((mailer: SmtpMailer, permissions: PermissionChecker) => new TestSmtpConfigUseCase({ mailer, permissions }), [
        TOKENS.SmtpMailer,
        TOKENS.PermissionChecker,
      ])
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
        [TOKENS.EventStore, TOKENS.Clock, TOKENS.IdGenerator],
      )
      .inSingletonScope();
  });
