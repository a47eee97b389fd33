// Fills a data directory fast, for the start-up benchmark: `count` instances, each with one domain
// (claimed in its own `domain-<domain>` stream first, as SetUpInstanceUseCase does) and one SMTP
// configuration, written with SqliteEventStore.appendMany in large transactions, then
// projected once into read-model.db so that a server started on it resumes from the checkpoint.
//
// The events are the ones the use cases write: the DomainClaim and Instance deciders make them from
// the same commands (ClaimDomain, SetUpInstance, then AddSmtpConfig with an AES-256-GCM password under the data
// directory's development key), with ids derived from the command and metadata as
// handleCommand sets it (instanceId, editorUserId, createdAt, correlationId, causationId, schemaVersion).
import { performance } from 'node:perf_hooks';
import {
  AesGcmEncryptor,
  catchUpReadModel,
  deriveEventId,
  DomainClaim,
  domainClaimStreamId,
  normalizeDomains,
  EVENT_SCHEMA_VERSION,
  fold,
  Instance,
  instanceStreamId,
  loadOrCreateDevKeyRing,
  parseAddSmtpConfigRequest,
  SqliteEventStore,
  SqliteProjectionStore,
  type AddSmtpConfig,
  type AppendRequest,
  type DomainClaimEvent,
  type EventMetadata,
  type ExpectedRevision,
  type InstanceEvent,
  type NewEvent,
  type SetUpInstance,
} from '../support/everything.js';
import { seedRequest } from '../support/fixtures.js';

const OWNER_USER_ID = '69629023906488001';
const APPENDS_PER_TRANSACTION = 10_000;

const toNewEvents = (
  events: readonly (InstanceEvent | DomainClaimEvent)[],
  streamId: string,
  expected: ExpectedRevision,
  ctx: { instanceId: string; editorUserId: string; commandId: string; now: Date },
): NewEvent[] => {
  const metadata: EventMetadata = {
    instanceId: ctx.instanceId,
    editorUserId: ctx.editorUserId,
    createdAt: ctx.now.toISOString(),
    correlationId: ctx.commandId,
    causationId: ctx.commandId,
    schemaVersion: EVENT_SCHEMA_VERSION,
  };
  return events.map((e, i) => ({ id: deriveEventId(ctx.commandId, streamId, String(expected), i), type: e.type, data: e.data, metadata }));
};

export interface SeedReport {
  readonly instances: number;
  readonly events: number;
  readonly appendMs: number;
  readonly projectMs: number;
}

/** Seeds `count` instances into `dir` (which should be empty). */
export const seedSqliteStore = async (dir: string, count: number): Promise<SeedReport> => {
  const encryptor = new AesGcmEncryptor(loadOrCreateDevKeyRing(dir).ring);
  const { password, ...config } = parseAddSmtpConfigRequest(seedRequest);
  const store = SqliteEventStore.open(dir);
  let nextId = 231_000_000_000_000_000n; // Sonyflake-sized numeric ids
  const id = () => (nextId++).toString();
  const base = Date.parse('2024-06-11T10:37:15.680Z');
  let events = 0;
  const t0 = performance.now();
  try {
    for (let start = 0; start < count; start += APPENDS_PER_TRANSACTION) {
      const requests: AppendRequest[] = [];
      for (let i = start; i < Math.min(count, start + APPENDS_PER_TRANSACTION); i++) {
        const instanceId = id();
        const streamId = instanceStreamId(instanceId);
        const now = new Date(base + i);
        const setUp: SetUpInstance = { type: 'SetUpInstance', instanceId, name: `bench${i}`, domains: [`bench${i}.example.com`], now };
        const setUpCommandId = `setup-instance-${instanceId}`;
        const setUpContext = { instanceId, editorUserId: 'SYSTEM', commandId: setUpCommandId, now };
        for (const domain of normalizeDomains(setUp.domains)) {
          const claimStream = domainClaimStreamId(domain);
          const claimEvents = DomainClaim.decide({ type: 'ClaimDomain', domain, instanceId }, DomainClaim.initialState());
          requests.push({ streamId: claimStream, expected: 'no_stream', events: toNewEvents(claimEvents, claimStream, 'no_stream', setUpContext) });
          events += claimEvents.length;
        }
        const setUpEvents = Instance.decide(setUp, Instance.initialState());
        requests.push({
          streamId,
          expected: 'no_stream',
          events: toNewEvents(setUpEvents, streamId, 'no_stream', setUpContext),
        });
        const configId = id();
        const add: AddSmtpConfig = { type: 'AddSmtpConfig', instanceId, configId, config, password: await encryptor.encrypt(password), now };
        const addEvents = Instance.decide(add, fold(Instance, setUpEvents));
        const expected: ExpectedRevision = BigInt(setUpEvents.length - 1);
        requests.push({
          streamId,
          expected,
          events: toNewEvents(addEvents, streamId, expected, { instanceId, editorUserId: OWNER_USER_ID, commandId: `add-smtp-${configId}`, now }),
        });
        events += setUpEvents.length + addEvents.length;
      }
      const outcomes = store.appendMany(requests);
      const failed = outcomes.find((o) => 'error' in o);
      if (failed && 'error' in failed) throw failed.error;
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  const appendMs = performance.now() - t0;
  const t1 = performance.now();
  const readModel = SqliteProjectionStore.open(dir);
  try {
    await catchUpReadModel(store, readModel, 30 * 60_000);
  } finally {
    await store.close();
    await readModel.close();
  }
  return { instances: count, events, appendMs, projectMs: performance.now() - t1 };
};
