/**
 * How the EventStoreDB adapter meets what a real server or cluster does to it: conflicts the client
 * answers instead of throwing, lost connections, deleted streams, oversized appends, reads that never
 * end, followers, and subscriptions it is not allowed to make.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EventStoreDBEventStore,
  InMemoryProjectionStore,
  INSTANCE_STREAM_PREFIX,
  ProjectionRunner,
  projectEvent,
  SubscriptionRefusedError,
  WrongExpectedRevisionError,
  type NewEvent,
} from '../support/everything.js';
import { esdbConnectionString } from '../support/adapters.js';
import { InProcessEventStoreDB } from '../support/esdb/in-process-eventstoredb.js';

let n = 0;
const event = (data: unknown = { n }): NewEvent => ({
  id: `00000000-0000-4000-8000-${(++n).toString(16).padStart(12, '0')}`,
  type: 'test.happened',
  data,
  metadata: { instanceId: 'i', editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});

describe.skipIf(esdbConnectionString !== undefined).each(['batch-append', 'append-only'] as const)('the EventStoreDB adapter against a failing server (%s)', (mode) => {
  let server: InProcessEventStoreDB;
  let store: EventStoreDBEventStore;
  afterEach(async () => {
    await store.close();
    await server.stop();
  });
  const start = async (query = '', options: { readDeadlineMs?: number; maxAppendSize?: number } = {}) => {
    server = await new InProcessEventStoreDB({ mode, ...(options.maxAppendSize ? { maxAppendSize: options.maxAppendSize } : {}) }).start();
    store = EventStoreDBEventStore.fromConnectionString(server.connectionString + query, { retryBackoffMs: 10, ...(options.readDeadlineMs ? { readDeadlineMs: options.readDeadlineMs } : {}) });
  };

  it('raises the conflict when throwOnAppendFailure=false makes the client answer success:false', async () => {
    await start('&throwOnAppendFailure=false');
    await store.appendToStream('instance-1', [event()], 'no_stream');
    const error = await store.appendToStream('instance-1', [event()], 'no_stream').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WrongExpectedRevisionError);
    expect(error).toMatchObject({ streamId: 'instance-1', actual: 0n });
    expect(server.events.filter((e) => e.streamId === 'instance-1')).toHaveLength(1);
  });

  it.each([false, true])('retries an append once after UNAVAILABLE and writes it once (written before the failure: %s)', async (afterWrite) => {
    await start();
    server.failNextAppends({ code: grpc.status.UNAVAILABLE, afterWrite });
    const result = await store.appendToStream('instance-1', [event()], 'no_stream');
    const written = server.events.filter((e) => e.streamId === 'instance-1');
    expect(written).toHaveLength(1);
    expect(result.position).toEqual({ commit: written[0]!.commit, prepare: written[0]!.prepare });
  });

  it('reports Unavailable (503, code 14) when the retry fails too, and writes nothing', async () => {
    await start();
    server.failNextAppends({ code: grpc.status.UNAVAILABLE }, { code: grpc.status.UNAVAILABLE });
    await expect(store.appendToStream('instance-1', [event()], 'no_stream')).rejects.toMatchObject({ kind: 'Unavailable', id: 'STORE-unav-7q3m', grpcCode: 14 });
    expect(server.events.filter((e) => e.streamId === 'instance-1')).toHaveLength(0);
  });

  it('treats not-leader as transient: retried once', async () => {
    await start();
    server.failNextAppends({ code: grpc.status.NOT_FOUND, details: 'Leader info available', trailers: { exception: 'not-leader', 'leader-endpoint-host': '127.0.0.1', 'leader-endpoint-port': String(server.port) } });
    await store.appendToStream('instance-1', [event()], 'no_stream');
    expect(server.events.filter((e) => e.streamId === 'instance-1')).toHaveLength(1);
  });

  it('gives NotFound for a deleted stream, on append and on read', async () => {
    await start();
    await store.appendToStream('instance-1', [event()], 'no_stream');
    server.log.tombstone('instance-1');
    await expect(store.appendToStream('instance-1', [event()], 0n)).rejects.toMatchObject({ kind: 'NotFound', id: 'ESDB-del-4k8w' });
    await expect(store.readStream('instance-1')).rejects.toMatchObject({ kind: 'NotFound', id: 'ESDB-del-4k8w' });
  });

  it('gives InvalidArgument for an append over the server’s size limit', async () => {
    await start('', { maxAppendSize: 1024 });
    await expect(store.appendToStream('instance-1', [event({ blob: 'x'.repeat(2048) })], 'no_stream')).rejects.toMatchObject({ kind: 'InvalidArgument', id: 'ESDB-size-9p2d' });
    expect(server.events.filter((e) => e.streamId === 'instance-1')).toHaveLength(0);
  });

  it('asks for the leader on appends and on reads for a command', async () => {
    await start();
    await store.appendToStream('instance-1', [event()], 'no_stream');
    await store.readStream('instance-1');
    const calls = server.requiresLeader;
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.every((c) => c.required)).toBe(true);
  });

  it('cancels a read that does not answer within its deadline, as Unavailable, and still closes', async () => {
    await start('', { readDeadlineMs: 200 });
    server.stallReads = true;
    const started = Date.now();
    await expect(store.readStream('instance-1')).rejects.toMatchObject({ kind: 'Unavailable' });
    await expect(store.headPosition()).rejects.toMatchObject({ kind: 'Unavailable' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it.each(['access denied', 'invalid position'] as const)('stops the projection on %s instead of resubscribing forever', async (refusal) => {
    await start();
    const errors: unknown[] = [];
    const target = new InMemoryProjectionStore();
    if (refusal === 'access denied') server.denyAll = true;
    else await target.saveCheckpoint({ commit: 1_000_000n, prepare: 1_000_000n });
    const runner = new ProjectionRunner(store, target, { handler: projectEvent, streamPrefixes: [INSTANCE_STREAM_PREFIX], initialBackoffMs: 5, onError: (e) => errors.push(e) });
    runner.start();
    await expect(runner.waitForCaughtUp(2_000)).rejects.toBeInstanceOf(SubscriptionRefusedError);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(runner.running).toBe(false);
    expect(errors).toHaveLength(1);
    expect(String((errors[0] as Error).message)).toMatch(refusal === 'access denied' ? /access denied/ : /checkpoint/);
  });
});
