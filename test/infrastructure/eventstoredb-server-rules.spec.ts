/**
 * The in-process EventStoreDB follows a real server's rules for what a filtered `$all`
 * subscription sends besides events. Each rule here can fail: the old in-process server sent a
 * checkpoint at the very end of the log, with the event's own prepare position, which no real
 * server does, and which hid issue 9's start-up hang.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventStoreDBEventStore, type NewEvent, type SubscriptionItem } from '../support/everything.js';
import { esdbConnectionString } from '../support/adapters.js';
import { InProcessEventStoreDB, type ServerRules } from '../support/esdb/in-process-eventstoredb.js';

let n = 0;
const event = (): NewEvent => ({
  id: `00000000-0000-4000-8000-${(++n).toString(16).padStart(12, '0')}`,
  type: 'test.happened',
  data: { n },
  metadata: { instanceId: 'i', editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});

describe.skipIf(esdbConnectionString !== undefined)('the in-process EventStoreDB sends checkpoints as a real server does', () => {
  let server: InProcessEventStoreDB;
  let store: EventStoreDBEventStore;
  afterEach(async () => {
    await store.close();
    await server.stop();
  });
  const start = async (rules: ServerRules) => {
    server = await new InProcessEventStoreDB({ mode: 'batch-append', rules }).start();
    store = EventStoreDBEventStore.fromConnectionString(server.connectionString);
  };
  /** Items of an `instance-` subscription from the start until `until` holds. */
  const items = async (until: (seen: SubscriptionItem[]) => boolean, during?: () => Promise<void>) => {
    const abort = new AbortController();
    const seen: SubscriptionItem[] = [];
    let started = false;
    for await (const item of store.subscribeToAll({ streamPrefixes: ['instance-'], signal: abort.signal })) {
      seen.push(item);
      if (item.kind === 'caught-up' && during && !started) {
        started = true;
        void during();
      }
      if (until(seen)) break;
    }
    abort.abort();
    return seen;
  };
  const checkpoints = (seen: SubscriptionItem[]) => seen.flatMap((i) => (i.kind === 'checkpoint' ? [i.position] : []));

  it('24.2: ends catch-up with one checkpoint at the start of the last page, short of a filtered-out tail', async () => {
    await start('24.2');
    await store.appendToStream('instance-1', [event()], 'no_stream');
    for (let i = 0; i < 39; i++) await store.appendToStream(`domain-${i}`, [event()], 'no_stream');
    const tail = server.events.at(-1)!;
    const seen = await items((s) => s.some((i) => i.kind === 'caught-up'));
    // 41 events: pages [0, 32) and [32, 41). A checkpoint after 32 scanned, then one at the start of
    // the last page (index 32), which is short of the last 8 claims.
    expect(seen.map((i) => i.kind)).toEqual(['event', 'checkpoint', 'checkpoint', 'caught-up']);
    const [, atEnd] = checkpoints(seen);
    expect(atEnd!.commit).toBe(server.events[32]!.commit);
    expect(atEnd!.commit).toBeLessThan(tail.commit);
  });

  it('23.10: sends no checkpoint at the end of catch-up, only caught-up', async () => {
    await start('23.10');
    await store.appendToStream('instance-1', [event()], 'no_stream');
    await store.appendToStream('domain-1', [event()], 'no_stream');
    const seen = await items((s) => s.some((i) => i.kind === 'caught-up'));
    expect(seen.map((i) => i.kind)).toEqual(['event', 'caught-up']);
  });

  it('checkpoints every 32 scanned events during catch-up, with prepare 0', async () => {
    await start('23.10');
    for (let i = 0; i < 70; i++) await store.appendToStream(`domain-${i}`, [event()], 'no_stream');
    const seen = await items((s) => s.some((i) => i.kind === 'caught-up'));
    // 71 events in the log ($settings and 70 claims): checkpoints after the 32nd and the 64th.
    const positions = checkpoints(seen);
    expect(positions).toHaveLength(2);
    expect(positions.map((p) => p.commit)).toEqual([server.events[31]!.commit, server.events[63]!.commit]);
    for (const p of positions) expect(p.prepare).toBe(0n);
  });

  it('while live, checkpoints only every 32 scanned events: none for a few filtered-out ones', async () => {
    await start('24.2');
    const seen = await items(
      (s) => s.filter((i) => i.kind === 'event').length === 2,
      async () => {
        for (let i = 0; i < 10; i++) await store.appendToStream(`domain-a${i}`, [event()], 'no_stream');
        await store.appendToStream('instance-1', [event()], 'no_stream');
        for (let i = 0; i < 25; i++) await store.appendToStream(`domain-b${i}`, [event()], 'no_stream');
        await store.appendToStream('instance-2', [event()], 'no_stream');
      },
    );
    // Catch-up: $settings, then the end-of-catch-up checkpoint. Live: 11 events scanned (no
    // checkpoint), then one after the 32nd scanned in all (the 20th of the second run of claims).
    expect(seen.map((i) => i.kind)).toEqual(['checkpoint', 'caught-up', 'event', 'checkpoint', 'event']);
    const live = seen[3]!;
    expect(live.kind === 'checkpoint' && live.position.commit).toBe(server.events[31]!.commit);
  });

  it('writes runs of system events into $all that subscriptions and the head skip', async () => {
    await start('24.2');
    const { position } = await store.appendToStream('instance-1', [event()], 'no_stream');
    server.log.writeSystemEvents(300);
    expect(new Set(server.events.slice(-300).map((e) => e.type))).toEqual(new Set(['$statsCollected', '$scavengeChunksCompleted', '$>']));
    expect(await store.headPosition()).toEqual(position);
  });
});
