import {
  AddSmtpConfigUseCase,
  GetInstanceSmtpConfigQuery,
  GetSmtpConfigQuery,
  GetSmtpSenderConfig,
  RemoveSmtpConfigUseCase,
  UpdateSmtpConfigPasswordUseCase,
  UpdateSmtpConfigUseCase,
  InMemoryEventStore,
  InMemoryProjectionStore,
  PostgresEventStore,
  PostgresProjectionStore,
  ProjectionRunner,
  RoleBasedPermissionChecker,
  SetUpInstanceUseCase,
  TestSmtpConfigUseCase,
  TestStoredSmtpConfigUseCase,
  AesGcmEncryptor,
  catchUpReadModel,
  INSTANCE_STREAM_PREFIX,
  keyRingFrom,
  projectEvent,
  type Clock,
  type EventMetadata,
  type EventStore,
  type IdGenerator,
  type Principal,
  type PositionedChanges,
  type SmtpConfigView,
  type PermissionChecker,
  type ProjectionStore,
  type SmtpMailer,
} from './everything.js';
import { SMTP_DEFAULTS } from '../../src/domain/testing.js';

/** The request body of the API document's curl example (the testing kit's default request, one copy). */
export const seedRequest = SMTP_DEFAULTS.request;

export const testKeyRing = () => keyRingFrom('key-2026-11', { 'key-2026-11': Buffer.alloc(32, 7), 'key-2025-01': Buffer.alloc(32, 3) });

/** A clock the test moves by hand; nothing global is patched. */
export class ManualClock implements Clock {
  constructor(private current = new Date('2024-06-11T10:37:15.680Z')) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

/** ZITADEL-looking ids, one after another. */
export class SequentialIds implements IdGenerator {
  constructor(private next = 69629023906488334n) {}
  nextId(): string {
    return (this.next++).toString();
  }
}

export const owner = (instanceId: string, userId = '69629023906488001'): Principal => ({ userId, instanceId, roles: ['IAM_OWNER'] });

export interface Harness {
  readonly events: EventStore;
  readonly readModel: ProjectionStore;
  readonly runner: ProjectionRunner;
  readonly clock: ManualClock;
  readonly encryptor: AesGcmEncryptor;
  readonly addSmtpConfig: AddSmtpConfigUseCase;
  readonly getSmtpConfig: GetSmtpConfigQuery;
  readonly getInstanceSmtpConfig: GetInstanceSmtpConfigQuery;
  readonly updateSmtpConfig: UpdateSmtpConfigUseCase;
  readonly updateSmtpConfigPassword: UpdateSmtpConfigPasswordUseCase;
  readonly removeSmtpConfig: RemoveSmtpConfigUseCase;
  readonly smtpSenderConfig: GetSmtpSenderConfig;
  readonly setUpInstance: SetUpInstanceUseCase;
  /** Sets up an instance (with the domain `<name>.example.com`) and returns its id. */
  newInstance(name?: string): Promise<string>;
  close(): Promise<void>;
}

/** The SMTP lifecycle use cases of a harness, as the HTTP server and the gRPC service take them, sending through `mailer`. */
export const smtpLifecycleOf = (h: Harness, mailer: SmtpMailer, permissions: PermissionChecker = new RoleBasedPermissionChecker()) => ({
  getInstanceSmtpConfig: h.getInstanceSmtpConfig,
  updateSmtpConfig: h.updateSmtpConfig,
  updateSmtpConfigPassword: h.updateSmtpConfigPassword,
  removeSmtpConfig: h.removeSmtpConfig,
  testSmtpConfig: new TestSmtpConfigUseCase({ mailer, permissions, senderConfig: h.smtpSenderConfig }),
  testStoredSmtpConfig: new TestStoredSmtpConfigUseCase({ mailer, permissions, senderConfig: h.smtpSenderConfig }),
});

export interface HarnessOptions {
  readonly events?: EventStore;
  readonly readModel?: ProjectionStore;
  readonly ids?: IdGenerator;
  /** The store outlives the test (a real server): start ids at a random point so runs do not collide. */
  readonly shared?: boolean;
  /** PostgreSQL and in memory: project inline in the append's transaction or step (default true, as the server does). */
  readonly inline?: boolean;
}

/** The use cases wired by hand on the given (default: in-memory) adapters, with a running projection. */
export const createHarness = (options: HarnessOptions = {}): Harness => {
  const events = options.events ?? new InMemoryEventStore();
  const readModel = options.readModel ?? new InMemoryProjectionStore();
  const clock = new ManualClock();
  const ids = options.ids ?? new SequentialIds(options.shared ? 69629023906488334n + BigInt(Date.now()) * 1000n : undefined);
  const encryptor = new AesGcmEncryptor(testKeyRing());
  const permissions = new RoleBasedPermissionChecker();
  const runner = new ProjectionRunner(events, readModel, { handler: projectEvent, streamPrefixes: [INSTANCE_STREAM_PREFIX] });
  runner.start();
  // PostgreSQL events and read model in one schema project inline, as the server's do (see openStores).
  if (options.inline !== false && events instanceof PostgresEventStore && readModel instanceof PostgresProjectionStore && readModel.schemaName === events.schemaName) {
    events.projectInline(readModel, { handler: projectEvent, streamPrefixes: [INSTANCE_STREAM_PREFIX], onProjected: (p) => runner.reached(p) });
  }
  // The in-memory stores likewise, in the append's own synchronous step.
  if (options.inline !== false && events instanceof InMemoryEventStore && readModel instanceof InMemoryProjectionStore) {
    events.projectInline(readModel, { handler: projectEvent, streamPrefixes: [INSTANCE_STREAM_PREFIX], onProjected: (p) => runner.reached(p) });
  }
  const setUpInstance = new SetUpInstanceUseCase({ events, clock, ids });
  const commandDeps = { events, projection: runner, clock, ids, encryptor, permissions };
  let instances = 0;
  // A store that outlives the test keeps earlier runs' domain claims: make this run's domains its own.
  const domainSuffix = options.shared ? `-${Date.now().toString(36)}` : '';
  return {
    events,
    readModel,
    runner,
    clock,
    encryptor,
    addSmtpConfig: new AddSmtpConfigUseCase({ events, queries: readModel, projection: runner, clock, ids, encryptor, permissions }),
    getSmtpConfig: new GetSmtpConfigQuery({ queries: readModel, permissions }),
    getInstanceSmtpConfig: new GetInstanceSmtpConfigQuery({ queries: readModel, permissions }),
    updateSmtpConfig: new UpdateSmtpConfigUseCase(commandDeps),
    updateSmtpConfigPassword: new UpdateSmtpConfigPasswordUseCase(commandDeps),
    removeSmtpConfig: new RemoveSmtpConfigUseCase(commandDeps),
    smtpSenderConfig: new GetSmtpSenderConfig({ events, encryptor }),
    setUpInstance,
    async newInstance(name = `instance${++instances}`) {
      const { instanceId } = await setUpInstance.execute({ name, domains: [`${name}${domainSuffix}.example.com`] });
      return instanceId;
    },
    async close() {
      await runner.stop();
      await events.close();
    },
  };
};

/**
 * Every configuration command on one instance, in the order a user would give them (add, update,
 * new password, remove, add again, update), the clock moving a second between them so that change
 * dates differ from creation dates. Answers the last add.
 */
export const runLifecycle = async (h: Harness, instanceId: string) => {
  const principal = owner(instanceId);
  const { id } = await h.addSmtpConfig.execute({ principal, instanceId, body: seedRequest });
  h.clock.advance(1_000);
  await h.updateSmtpConfig.execute({ principal, instanceId, id, body: { ...seedRequest, tls: false, description: `changed ${instanceId}` } });
  h.clock.advance(1_000);
  await h.updateSmtpConfigPassword.execute({ principal, instanceId, id, body: { password: 'another one' } });
  h.clock.advance(1_000);
  await h.removeSmtpConfig.execute({ principal, instanceId, id });
  h.clock.advance(1_000);
  const added = await h.addSmtpConfig.execute({ principal, instanceId, body: { ...seedRequest, host: 'smtp.example.com:465' } });
  h.clock.advance(1_000);
  await h.updateSmtpConfig.execute({ principal, instanceId, id: added.id, body: { ...seedRequest, host: 'smtp.example.com:465', senderName: 'Changed' } });
  return added;
};

/** What a runner alone makes of `events`, from nothing, in a read model of its own: the reference a read model projected otherwise must equal. */
export const rebuiltSnapshot = async (events: EventStore): Promise<unknown> => {
  const fresh = new InMemoryProjectionStore();
  await catchUpReadModel(events, fresh, 30_000);
  return fresh.snapshot();
};

/** The metadata of a test event appended by hand (a fixed editor, time and correlation). */
export const testMetadata = (instanceId: string): EventMetadata => ({
  instanceId,
  editorUserId: 'u',
  createdAt: '2024-06-11T10:37:15.680Z',
  correlationId: 'c',
  causationId: 'c',
  schemaVersion: 1,
});

/** A configuration row as a read model shows it (instance i1, configuration c1, with a password), for read-model specs. */
export const configView = (overrides: Partial<SmtpConfigView> = {}): SmtpConfigView => ({
  instanceId: 'i1',
  id: 'c1',
  senderAddress: 'a@example.com',
  senderName: 'A',
  tls: true,
  host: 'smtp.example.com:587',
  user: 'u',
  replyToAddress: '',
  description: '',
  hasPassword: true,
  sequence: 3n,
  creationDate: '2026-11-26T00:00:00.000Z',
  changeDate: '2026-11-26T00:00:00.000Z',
  resourceOwner: 'i1',
  ...overrides,
});

/** A position whose commit and prepare are both `n`. */
export const positionOf = (n: bigint) => ({ commit: n, prepare: n });

/**
 * Committed read-model changes for the specs of rows handed to the commands that made them: `c1`
 * added at 10; `c2` added and patched at 12; `c3` added and removed at 14.
 */
export const projectedRowsBatch = (view: SmtpConfigView = configView()): PositionedChanges[] => [
  { position: positionOf(10n), changes: [{ kind: 'upsertSmtpConfig', config: view }] },
  {
    position: positionOf(12n),
    changes: [
      { kind: 'upsertSmtpConfig', config: { ...view, id: 'c2' } },
      { kind: 'patchSmtpConfig', instanceId: view.instanceId, id: 'c2', changes: { senderName: 'B' }, sequence: 5n, changeDate: '2026-11-26T00:00:01.000Z' },
    ],
  },
  { position: positionOf(14n), changes: [{ kind: 'upsertSmtpConfig', config: { ...view, id: 'c3' } }, { kind: 'removeSmtpConfig', instanceId: view.instanceId, id: 'c3' }] },
];
