// The contenders of the command-path benchmark, each a store of `size` instances that can add an
// SMTP configuration to one of them:
//  - ours: the real use case (AddSmtpConfigUseCase) on InMemoryEventStore + InMemoryProjectionStore
//    with the projection running, exactly as the test harness wires it;
//  - hand: a hand-written loop that uses the project's own schema, decider, encryptor and event ids
//    over two Maps (one of streams, one for the read model), with no ports, no projection, no waiting;
//  - emmett: Emmett's in-memory DeciderCommandHandler on the same decider (same parse and encryption
//    before it; Emmett keeps no read model here, so it does less than ours).
import { DeciderCommandHandler, getInMemoryEventStore } from '@event-driven-io/emmett';
import {
  AesGcmEncryptor,
  deriveEventId,
  fold,
  Instance,
  instanceStreamId,
  parseAddSmtpConfigRequest,
  smtpConfigViewOf,
  type SMTPConfigAddedData,
  type AddSmtpConfig,
  type InstanceEvent,
  type SmtpConfigView,
} from '../support/everything.js';
import { createHarness, ManualClock, owner, seedRequest, SequentialIds, testKeyRing, type Harness } from '../support/fixtures.js';

export interface Contender {
  readonly name: string;
  /** Adds the configuration to the instance with this index (0 ≤ index < size). */
  add(index: number): Promise<unknown>;
  close(): Promise<void>;
}

const instanceIdOf = (i: number) => `inst${i}`;

export const createOurs = async (size: number): Promise<Contender & { harness: Harness }> => {
  const h = createHarness();
  for (let i = 0; i < size; i++) {
    await h.setUpInstance.execute({ instanceId: instanceIdOf(i), name: `i${i}`, domains: [`i${i}.example.com`] });
    // A turn of the event loop now and then, as a server setting up instances has between requests:
    // the projection runner follows the log as it grows rather than all of it after the seeding, in
    // the rounds (the in-memory cursor gives the loop a turn every 2 048 events it hands over).
    if (i % 1_024 === 1_023) await new Promise((resolve) => setImmediate(resolve));
  }
  return {
    name: 'ours (use case, in-memory stores, projection)',
    harness: h,
    add: (i) => {
      const instanceId = instanceIdOf(i);
      return h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    },
    close: () => h.close(),
  };
};

interface HandEvent {
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: object;
}

/** The same work a command needs, written by hand over two Maps. */
export const createHandLoop = async (size: number): Promise<Contender & { streams: Map<string, HandEvent[]>; configs: Map<string, SmtpConfigView> }> => {
  const streams = new Map<string, HandEvent[]>();
  const configs = new Map<string, SmtpConfigView>();
  const clock = new ManualClock();
  const ids = new SequentialIds();
  const encryptor = new AesGcmEncryptor(testKeyRing());
  const at = clock.now().toISOString();
  for (let i = 0; i < size; i++) {
    const instanceId = instanceIdOf(i);
    const streamId = instanceStreamId(instanceId);
    const metadata = { instanceId, editorUserId: 'system', createdAt: at, correlationId: `setup-${i}`, causationId: `setup-${i}`, schemaVersion: 1 };
    const events = Instance.decide({ type: 'SetUpInstance', instanceId, name: `i${i}`, domains: [`i${i}.example.com`], now: clock.now() }, Instance.initialState());
    streams.set(
      streamId,
      events.map((e, n) => ({ id: deriveEventId(`setup-${i}`, streamId, 'no_stream', n), type: e.type, data: e.data, metadata })),
    );
  }
  return {
    name: 'hand loop (schema, decider, encryptor, ids over two Maps)',
    streams,
    configs,
    async add(i) {
      const instanceId = instanceIdOf(i);
      const { password, ...config } = parseAddSmtpConfigRequest(seedRequest);
      const encrypted = password === '' ? undefined : await encryptor.encrypt(password);
      const configId = ids.nextId();
      const now = clock.now();
      const streamId = instanceStreamId(instanceId);
      const stream = streams.get(streamId)!;
      const state = fold(Instance, stream as unknown as InstanceEvent[]);
      const command: AddSmtpConfig = { type: 'AddSmtpConfig', instanceId, configId, config, password: encrypted, now };
      const [event] = Instance.decide(command, state);
      const createdAt = now.toISOString();
      const commandId = `add-smtp-${configId}`;
      stream.push({ id: deriveEventId(commandId, streamId, String(stream.length - 1), 0), type: event!.type, data: event!.data, metadata: { instanceId, editorUserId: '69629023906488001', createdAt, correlationId: commandId, causationId: commandId, schemaVersion: 1 } });
      const sequence = BigInt(stream.length);
      const view = smtpConfigViewOf(event!.data as SMTPConfigAddedData, instanceId, sequence, createdAt);
      configs.set(`${instanceId}/${configId}`, view);
      return { details: { sequence: sequence.toString(), creationDate: createdAt, changeDate: createdAt, resourceOwner: instanceId }, id: configId };
    },
    close: async () => {},
  };
};

/** Emmett 0.42's in-memory store and DeciderCommandHandler on our decider. */
export const createEmmett = async (size: number): Promise<Contender> => {
  const store = getInMemoryEventStore();
  const clock = new ManualClock();
  const ids = new SequentialIds();
  const encryptor = new AesGcmEncryptor(testKeyRing());
  const handle = DeciderCommandHandler({
    decide: (command: any, state: any) => Instance.decide(command, state) as any,
    evolve: (state: any, event: any) => Instance.evolve(state, event),
    initialState: Instance.initialState,
  });
  for (let i = 0; i < size; i++) {
    const instanceId = instanceIdOf(i);
    const events = Instance.decide({ type: 'SetUpInstance', instanceId, name: `i${i}`, domains: [`i${i}.example.com`], now: clock.now() }, Instance.initialState());
    await store.appendToStream(instanceStreamId(instanceId), events as any);
  }
  return {
    name: 'Emmett 0.42 DeciderCommandHandler (in-memory, no read model)',
    async add(i) {
      const instanceId = instanceIdOf(i);
      const { password, ...config } = parseAddSmtpConfigRequest(seedRequest);
      const encrypted = password === '' ? undefined : await encryptor.encrypt(password);
      const command = { type: 'AddSmtpConfig', instanceId, configId: ids.nextId(), config, password: encrypted, now: clock.now() } satisfies AddSmtpConfig;
      return handle(store, instanceStreamId(instanceId), command as any);
    },
    close: async () => {},
  };
};
