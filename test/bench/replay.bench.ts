// Replay benchmark (BENCH_PARTS=replay), in one run:
// - replay of REPLAY_EVENTS (default 1 000 000) recorded events through the generic projection
//   runner with the SMTP handler (decode, upcast, check, project) into the in-memory read model
//   (goal ≥ 500 000 events/s) and into the SQLite read model (goal ≥ 100 000 events/s), against a
//   bare loop that decodes the same events into a Map. The events come from an array-backed feed,
//   so that the figures are the projection's, not an event store's.
// - export and import throughput of REPLAY_IO_EVENTS (default 200 000) events between two SQLite
//   event stores (readAllEvents + toExportLine; fromExportLine + importEvents).
import { performance } from 'node:perf_hooks';
import {
  decodeRecordedEvent,
  fromExportLine,
  importEvents,
  InMemoryProjectionStore,
  readAllEvents,
  smtpConfigProjection,
  SqliteEventStore,
  SqliteProjectionStore,
  toExportLine,
  type AppendRequest,
  type EventStore,
  type RecordedEvent,
  type SubscribeOptions,
  type SubscriptionItem,
} from '../support/everything.js';
import { envNumber, fmt, tempDir } from './bench-util.js';

const smtp = { senderAddress: 'noreply@example.com', senderName: 'Acme', tls: true, host: 'smtp.example.com:587', user: 'mailer', replyToAddress: '', description: 'main' };

/** Instances of three events each: added, domain added, SMTP configuration added. */
const makeEvents = (count: number): RecordedEvent[] => {
  const out: RecordedEvent[] = [];
  for (let i = 0; out.length < count; i++) {
    const instanceId = `${231_000_000_000_000_000n + BigInt(i)}`;
    const metadata = { instanceId, editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 };
    const payloads = [
      ['instance.added', { name: `bench${i}` }],
      ['instance.domain.added', { domain: `bench${i}.example.com`, generated: true }],
      ['instance.smtp.config.added', { ...smtp, id: `${instanceId}1` }],
    ] as const;
    payloads.forEach(([type, data], r) => {
      if (out.length >= count) return;
      const p = BigInt(out.length + 1);
      out.push({ id: `e${out.length}`, streamId: `instance-${instanceId}`, revision: BigInt(r), position: { commit: p, prepare: p }, type, data, metadata });
    });
  }
  return out;
};

/** A feed over an array: what the projection sees, without any store's cost. */
const arrayStore = (events: readonly RecordedEvent[]): EventStore => ({
  readStream: () => Promise.reject(new Error('not here')),
  appendToStream: () => Promise.reject(new Error('not here')),
  headPosition: async () => events.at(-1)?.position,
  close: async () => undefined,
  subscribeToAll: (options: SubscribeOptions = {}): AsyncIterable<SubscriptionItem> => ({
    async *[Symbol.asyncIterator]() {
      const start = options.after ? Number(options.after.commit) : 0;
      for (let i = start; i < events.length; i++) yield { kind: 'event', event: events[i]! };
      yield { kind: 'caught-up' };
      await new Promise<void>((resolve) => options.signal?.addEventListener('abort', () => resolve(), { once: true }));
    },
  }),
});

const rate = (n: number, ms: number) => (n / ms) * 1000;

export interface ReplayBenchResult {
  readonly bare: number;
  readonly memory: number;
  readonly sqlite: number;
  readonly exportRate: number;
  readonly importRate: number;
  readonly memoryGoalMet: boolean;
  readonly sqliteGoalMet: boolean;
}

export const runReplayBench = async (): Promise<ReplayBenchResult> => {
  const n = envNumber('REPLAY_EVENTS', 1_000_000);
  const events = makeEvents(n);
  console.log(`\nReplay: ${fmt(n)} events`);

  let t = performance.now();
  const map = new Map<string, unknown>();
  for (const e of events) {
    const decoded = decodeRecordedEvent(e);
    if (decoded) map.set(`${e.streamId}/${e.revision}`, decoded.data);
  }
  const bare = rate(n, performance.now() - t);
  console.log(`  bare decode loop into a Map:     ${fmt(bare)} events/s`);

  const replay = async (target: InMemoryProjectionStore | SqliteProjectionStore) => {
    const runner = smtpConfigProjection(arrayStore(events), target);
    const started = performance.now();
    runner.start();
    await runner.waitForCaughtUp(3_600_000);
    const r = rate(n, performance.now() - started);
    await runner.stop();
    return r;
  };
  const memory = await replay(new InMemoryProjectionStore());
  console.log(`  in-memory read model:            ${fmt(memory)} events/s (${((memory / bare) * 100).toFixed(0)} % of the bare loop; goal ≥ 500 000)`);
  const dir = tempDir('replay');
  const sqliteStore = SqliteProjectionStore.open(dir.dir);
  const sqlite = await replay(sqliteStore);
  await sqliteStore.close();
  dir.remove();
  console.log(`  SQLite read model:               ${fmt(sqlite)} events/s (${((sqlite / bare) * 100).toFixed(0)} % of the bare loop; goal ≥ 100 000)`);

  const ioCount = envNumber('REPLAY_IO_EVENTS', 200_000);
  const from = tempDir('export');
  const to = tempDir('import');
  const source = SqliteEventStore.open(from.dir);
  const ioEvents = makeEvents(ioCount);
  for (let i = 0; i < ioEvents.length; i += 3_000) {
    const requests: AppendRequest[] = [];
    for (const e of ioEvents.slice(i, i + 3_000)) {
      requests.push({ streamId: e.streamId, expected: e.revision === 0n ? 'no_stream' : e.revision - 1n, events: [{ id: `00000000-0000-4000-8000-${e.id.slice(1).padStart(12, '0')}`, type: e.type, data: e.data, metadata: e.metadata }] });
    }
    source.appendMany(requests);
  }
  t = performance.now();
  const lines: string[] = [];
  for await (const e of readAllEvents(source)) lines.push(toExportLine(e));
  const exportRate = rate(ioCount, performance.now() - t);
  console.log(`\nExport / import, ${fmt(ioCount)} events, SQLite to SQLite`);
  console.log(`  export (read + JSON line):       ${fmt(exportRate)} events/s`);
  const target = SqliteEventStore.open(to.dir);
  t = performance.now();
  async function* parsed() {
    let i = 0;
    for (const l of lines) yield fromExportLine(l, ++i);
  }
  await importEvents(target, parsed());
  const importRate = rate(ioCount, performance.now() - t);
  console.log(`  import (parse + append):         ${fmt(importRate)} events/s`);
  await source.close();
  await target.close();
  from.remove();
  to.remove();
  return { bare, memory, sqlite, exportRate, importRate, memoryGoalMet: memory >= 500_000, sqliteGoalMet: sqlite >= 100_000 };
};
