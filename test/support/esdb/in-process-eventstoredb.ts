/**
 * An in-process EventStoreDB for tests: a gRPC server that implements EventStoreDB's Streams
 * service (Append, BatchAppend, Read for streams and $all, forwards and backwards, and
 * subscriptions with filters, checkpoints and caught-up) and ServerFeatures, from the client
 * package's own generated definitions, so the real `@eventstore/db-client` talks to it over
 * loopback TCP exactly as it talks to a server.
 *
 * Semantics follow the server's documented ones; each is named by a test in
 * test/infrastructure/in-process-eventstoredb.spec.ts:
 * - appends check the expected revision (any, no_stream, stream_exists, or a revision) and are
 *   idempotent when the same event ids are appended again at the revision they were first written at;
 * - a write is a transaction: its events share the commit position and have their own prepare
 *   positions, so commit and prepare differ (and a lossy adapter would show it);
 * - reading a missing stream answers stream_not_found;
 * - subscriptions start with a confirmation, deliver events strictly after the requested position,
 *   send caught_up when they switch to live events, and with a filter send a checkpoint every
 *   window (32) × checkpointIntervalMultiplier scanned events and when they reach the end of the log;
 * - the log starts with a system event (`$settings`), as a real server's does;
 * - `mode: 'batch-append'` advertises BatchAppend through ServerFeatures, as servers since 21.10 do;
 *   `mode: 'append-only'` has no ServerFeatures service (UNIMPLEMENTED), which makes the client use Append.
 */
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import anyPb from 'google-protobuf/google/protobuf/any_pb.js';
import emptyPb from 'google-protobuf/google/protobuf/empty_pb.js';
import streamsGrpc from '@eventstore/db-client/generated/streams_grpc_pb.js';
import streamsPb from '@eventstore/db-client/generated/streams_pb.js';
import sharedPb from '@eventstore/db-client/generated/shared_pb.js';
import statusPb from '@eventstore/db-client/generated/status_pb.js';
import featuresGrpc from '@eventstore/db-client/generated/serverfeatures_grpc_pb.js';
import featuresPb from '@eventstore/db-client/generated/serverfeatures_pb.js';

type ReadReq = InstanceType<typeof streamsPb.ReadReq>;
type ReadResp = InstanceType<typeof streamsPb.ReadResp>;
type UUIDMessage = InstanceType<typeof sharedPb.UUID>;

export interface StoredEvent {
  readonly streamId: string;
  readonly revision: bigint;
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
  readonly created: bigint;
  readonly commit: bigint;
  readonly prepare: bigint;
}

type Expected = { kind: 'any' } | { kind: 'no_stream' } | { kind: 'stream_exists' } | { kind: 'revision'; revision: bigint };

type AppendOutcome =
  | { ok: true; currentRevision: bigint | undefined; position: { commit: bigint; prepare: bigint } | undefined }
  | { ok: false; currentRevision: bigint | undefined; expected: Expected };

interface Proposed {
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
}

const FILTER_WINDOW = 32;
const TICKS_PER_MS = 10_000n;

const uuidToString = (uuid: UUIDMessage | undefined): string => {
  if (!uuid) return '';
  if (uuid.hasStructured()) {
    const s = uuid.getStructured()!;
    const buf = Buffer.alloc(16);
    buf.writeBigUInt64BE(BigInt.asUintN(64, BigInt(s.getMostSignificantBits())), 0);
    buf.writeBigUInt64BE(BigInt.asUintN(64, BigInt(s.getLeastSignificantBits())), 8);
    const h = buf.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  return uuid.getString();
};

const uuidMessage = (id: string, structured: boolean): UUIDMessage => {
  const uuid = new sharedPb.UUID();
  if (!structured) return uuid.setString(id);
  const buf = Buffer.from(id.replace(/-/g, ''), 'hex');
  const s = new sharedPb.UUID.Structured();
  s.setMostSignificantBits(BigInt.asIntN(64, buf.readBigUInt64BE(0)).toString());
  s.setLeastSignificantBits(BigInt.asIntN(64, buf.readBigUInt64BE(8)).toString());
  return uuid.setStructured(s);
};

const streamIdentifier = (name: string) => new sharedPb.StreamIdentifier().setStreamName(Buffer.from(name, 'utf8'));
const streamNameOf = (identifier: InstanceType<typeof sharedPb.StreamIdentifier> | undefined) =>
  Buffer.from(identifier?.getStreamName_asU8() ?? new Uint8Array()).toString('utf8');
const comparePos = (a: { commit: bigint; prepare: bigint }, b: { commit: bigint; prepare: bigint }) =>
  a.commit !== b.commit ? (a.commit < b.commit ? -1 : 1) : a.prepare === b.prepare ? 0 : a.prepare < b.prepare ? -1 : 1;

export interface InProcessEventStoreDBOptions {
  readonly mode: 'batch-append' | 'append-only';
}

export class InProcessEventStoreDB {
  readonly log: StoredEvent[] = [];
  private readonly streams = new Map<string, StoredEvent[]>();
  private offset = 0n;
  private wakers: (() => void)[] = [];
  private readonly subscriptions = new Set<grpc.ServerWritableStream<ReadReq, ReadResp>>();
  /** Calls per method, so tests can tell which client path ran. */
  readonly calls = { append: 0, batchAppend: 0, read: 0, supportedMethods: 0 };
  private server: grpc.Server | undefined;
  port = 0;

  constructor(readonly options: InProcessEventStoreDBOptions = { mode: 'batch-append' }) {
    this.write('$settings', [{ id: '00000000-0000-4000-8000-00000000beef', type: '$settings', contentType: 'application/json', data: Buffer.from('{}'), customMetadata: new Uint8Array() }], { kind: 'any' });
  }

  get connectionString(): string {
    return `esdb://127.0.0.1:${this.port}?tls=false`;
  }

  async start(): Promise<this> {
    const server = new grpc.Server();
    server.addService(streamsGrpc.StreamsService, {
      read: (call: grpc.ServerWritableStream<ReadReq, ReadResp>) => void this.read(call),
      append: (call: grpc.ServerReadableStream<any, any>, callback: grpc.sendUnaryData<any>) => this.append(call, callback),
      batchAppend: (call: grpc.ServerDuplexStream<any, any>) => this.batchAppend(call),
      delete: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback({ code: grpc.status.UNIMPLEMENTED }),
      tombstone: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback({ code: grpc.status.UNIMPLEMENTED }),
    });
    if (this.options.mode === 'batch-append') {
      server.addService(featuresGrpc.ServerFeaturesService, {
        getSupportedMethods: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
          this.calls.supportedMethods++;
          const method = (service: string, name: string) => new featuresPb.SupportedMethod().setServiceName(service).setMethodName(name);
          const streams = 'event_store.client.streams.Streams';
          callback(
            null,
            new featuresPb.SupportedMethods()
              .setEventStoreServerVersion('24.10.0')
              .setMethodsList([method(streams, 'Read'), method(streams, 'Append'), method(streams, 'BatchAppend')]),
          );
        },
      });
    }
    this.server = server;
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    return this;
  }

  async stop(): Promise<void> {
    this.dropSubscriptions();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }

  /** Ends every open subscription with UNAVAILABLE, the way a restarting node or a broken connection does. */
  dropSubscriptions(): void {
    for (const call of this.subscriptions) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'subscription dropped by the server' });
    this.subscriptions.clear();
    this.wake();
  }

  // ---- the write path ----------------------------------------------------------------------

  write(streamId: string, proposed: readonly Proposed[], expected: Expected): AppendOutcome {
    const stream = this.streams.get(streamId);
    const current = stream ? BigInt(stream.length - 1) : undefined;
    const retried = this.idempotentRetry(stream, proposed, expected);
    if (retried) return retried;
    const ok =
      expected.kind === 'any' ||
      (expected.kind === 'no_stream' && current === undefined) ||
      (expected.kind === 'stream_exists' && current !== undefined) ||
      (expected.kind === 'revision' && current === expected.revision);
    if (!ok) return { ok: false, currentRevision: current, expected };
    if (proposed.length === 0) return { ok: true, currentRevision: current, position: undefined };
    const prepares: bigint[] = [];
    for (const p of proposed) {
      prepares.push(this.offset);
      this.offset += 64n + BigInt(p.data.length + p.customMetadata.length);
    }
    const commit = this.offset;
    this.offset += 32n;
    const created = BigInt(Date.now()) * TICKS_PER_MS;
    const list = stream ?? [];
    if (!stream) this.streams.set(streamId, list);
    proposed.forEach((p, i) => {
      const event: StoredEvent = { streamId, revision: BigInt(list.length), ...p, created, commit, prepare: prepares[i]! };
      list.push(event);
      this.log.push(event);
    });
    this.wake();
    const last = list.at(-1)!;
    return { ok: true, currentRevision: last.revision, position: { commit: last.commit, prepare: last.prepare } };
  }

  private idempotentRetry(stream: StoredEvent[] | undefined, proposed: readonly Proposed[], expected: Expected): AppendOutcome | undefined {
    if (!stream || proposed.length === 0) return undefined;
    const start = expected.kind === 'no_stream' ? 0 : expected.kind === 'revision' ? Number(expected.revision) + 1 : stream.findIndex((e) => e.id === proposed[0]!.id);
    if (start < 0 || start + proposed.length > stream.length) return undefined;
    if (!proposed.every((p, i) => stream[start + i]!.id === p.id)) return undefined;
    const last = stream[start + proposed.length - 1]!;
    return { ok: true, currentRevision: last.revision, position: { commit: last.commit, prepare: last.prepare } };
  }

  private append(call: grpc.ServerReadableStream<any, any>, callback: grpc.sendUnaryData<any>): void {
    this.calls.append++;
    let options: any;
    const proposed: Proposed[] = [];
    call.on('data', (req: any) => {
      if (req.hasOptions()) options = req.getOptions();
      else if (req.hasProposedMessage()) proposed.push(proposedOf(req.getProposedMessage()));
    });
    call.on('end', () => {
      const expected = expectedOf(options, options.hasRevision() ? options.getRevision() : undefined);
      const outcome = this.write(streamNameOf(options.getStreamIdentifier()), proposed, expected);
      const resp = new streamsPb.AppendResp();
      if (outcome.ok) {
        const success = new streamsPb.AppendResp.Success();
        if (outcome.currentRevision === undefined) success.setNoStream(new sharedPb.Empty());
        else success.setCurrentRevision(outcome.currentRevision.toString());
        if (outcome.position) success.setPosition(new streamsPb.AppendResp.Position().setCommitPosition(outcome.position.commit.toString()).setPreparePosition(outcome.position.prepare.toString()));
        else success.setNoPosition(new sharedPb.Empty());
        resp.setSuccess(success);
      } else {
        const wrong = new streamsPb.AppendResp.WrongExpectedVersion();
        if (outcome.currentRevision === undefined) wrong.setCurrentNoStream(new sharedPb.Empty());
        else wrong.setCurrentRevision(outcome.currentRevision.toString());
        if (expected.kind === 'revision') wrong.setExpectedRevision(expected.revision.toString());
        else if (expected.kind === 'no_stream') wrong.setExpectedNoStream(new sharedPb.Empty());
        else if (expected.kind === 'stream_exists') wrong.setExpectedStreamExists(new sharedPb.Empty());
        else wrong.setExpectedAny(new sharedPb.Empty());
        resp.setWrongExpectedVersion(wrong);
      }
      callback(null, resp);
    });
  }

  private batchAppend(call: grpc.ServerDuplexStream<any, any>): void {
    this.calls.batchAppend++;
    const pending = new Map<string, { options: any; proposed: Proposed[]; correlation: UUIDMessage }>();
    call.on('data', (req: any) => {
      const key = uuidToString(req.getCorrelationId());
      let batch = pending.get(key);
      if (!batch) pending.set(key, (batch = { options: req.getOptions(), proposed: [], correlation: req.getCorrelationId() }));
      for (const m of req.getProposedMessagesList()) batch.proposed.push(proposedOf(m));
      if (!req.getIsFinal()) return;
      pending.delete(key);
      const o = batch.options;
      const expected = expectedOf(o, o.hasStreamPosition() ? o.getStreamPosition() : undefined);
      const streamName = streamNameOf(o.getStreamIdentifier());
      const outcome = this.write(streamName, batch.proposed, expected);
      const resp = new streamsPb.BatchAppendResp().setCorrelationId(batch.correlation).setStreamIdentifier(streamIdentifier(streamName));
      if (expected.kind === 'revision') resp.setStreamPosition(expected.revision.toString());
      else if (expected.kind === 'no_stream') resp.setNoStream(new emptyPb.Empty());
      else if (expected.kind === 'stream_exists') resp.setStreamExists(new emptyPb.Empty());
      else resp.setAny(new emptyPb.Empty());
      if (outcome.ok) {
        const success = new streamsPb.BatchAppendResp.Success();
        if (outcome.currentRevision === undefined) success.setNoStream(new emptyPb.Empty());
        else success.setCurrentRevision(outcome.currentRevision.toString());
        if (outcome.position) success.setPosition(new sharedPb.AllStreamPosition().setCommitPosition(outcome.position.commit.toString()).setPreparePosition(outcome.position.prepare.toString()));
        else success.setNoPosition(new emptyPb.Empty());
        resp.setSuccess(success);
      } else {
        const wrong = new sharedPb.WrongExpectedVersion();
        if (outcome.currentRevision === undefined) wrong.setCurrentNoStream(new emptyPb.Empty());
        else wrong.setCurrentStreamRevision(outcome.currentRevision.toString());
        if (expected.kind === 'revision') wrong.setExpectedStreamPosition(expected.revision.toString());
        else if (expected.kind === 'no_stream') wrong.setExpectedNoStream(new emptyPb.Empty());
        else if (expected.kind === 'stream_exists') wrong.setExpectedStreamExists(new emptyPb.Empty());
        else wrong.setExpectedAny(new emptyPb.Empty());
        const details = new anyPb.Any();
        details.pack(wrong.serializeBinary(), 'event_store.client.WrongExpectedVersion');
        resp.setError(new statusPb.Status().setCode(9).setMessage('WrongExpectedVersion').setDetails(details));
      }
      call.write(resp);
    });
    call.on('end', () => call.end());
  }

  // ---- the read path -----------------------------------------------------------------------

  private async read(call: grpc.ServerWritableStream<ReadReq, ReadResp>): Promise<void> {
    this.calls.read++;
    const options = call.request.getOptions()!;
    const structured = options.getUuidOption()?.hasStructured() ?? false;
    const backwards = options.getReadDirection() === streamsPb.ReadReq.Options.ReadDirection.BACKWARDS;
    const toResp = (e: StoredEvent) => this.eventResp(e, structured);
    if (options.hasSubscription()) return this.subscribe(call, options, toResp);

    const count = options.hasCount() ? Number(BigInt(options.getCount())) : Number.MAX_SAFE_INTEGER;
    let selected: StoredEvent[];
    if (options.hasStream()) {
      const so = options.getStream()!;
      const name = streamNameOf(so.getStreamIdentifier());
      const stream = this.streams.get(name);
      if (!stream) {
        call.write(new streamsPb.ReadResp().setStreamNotFound(new streamsPb.ReadResp.StreamNotFound().setStreamIdentifier(streamIdentifier(name))));
        call.end();
        return;
      }
      if (backwards) {
        const from = so.hasRevision() ? Number(BigInt(so.getRevision())) : stream.length - 1;
        selected = stream.slice(0, from + 1).reverse();
      } else {
        const from = so.hasRevision() ? Number(BigInt(so.getRevision())) : so.hasEnd() ? stream.length : 0;
        selected = stream.slice(from);
      }
    } else {
      const ao = options.getAll()!;
      const at = ao.hasPosition() ? { commit: BigInt(ao.getPosition()!.getCommitPosition()), prepare: BigInt(ao.getPosition()!.getPreparePosition()) } : undefined;
      if (backwards) {
        selected = (at ? this.log.filter((e) => comparePos(e, at) < 0) : ao.hasStart() ? [] : this.log.slice()).reverse();
      } else {
        selected = at ? this.log.filter((e) => comparePos(e, at) >= 0) : ao.hasEnd() ? [] : this.log.slice();
      }
    }
    for (const e of selected.slice(0, count)) {
      if (!call.write(toResp(e))) await once(call, 'drain');
    }
    call.end();
  }

  private async subscribe(call: grpc.ServerWritableStream<ReadReq, ReadResp>, options: InstanceType<typeof streamsPb.ReadReq.Options>, toResp: (e: StoredEvent) => ReadResp): Promise<void> {
    this.subscriptions.add(call);
    let closed = false;
    call.on('cancelled', () => {
      closed = true;
      this.subscriptions.delete(call);
      this.wake();
    });
    call.on('error', () => {
      closed = true;
    });
    const isOpen = () => !closed && this.subscriptions.has(call);
    call.write(new streamsPb.ReadResp().setConfirmation(new streamsPb.ReadResp.SubscriptionConfirmation().setSubscriptionId(`sub-${Math.random().toString(36).slice(2)}`)));

    let next: number;
    let accepts: (e: StoredEvent) => boolean = () => true;
    let interval = 0;
    if (options.hasStream()) {
      const so = options.getStream()!;
      const name = streamNameOf(so.getStreamIdentifier());
      const from = so.hasRevision() ? BigInt(so.getRevision()) : so.hasEnd() ? undefined : -1n;
      const streamEvents = (e: StoredEvent) => e.streamId === name;
      accepts = streamEvents;
      if (from === undefined) next = this.log.length;
      else {
        const startAfter = this.log.findIndex((e) => streamEvents(e) && e.revision === from);
        next = from === -1n ? 0 : startAfter < 0 ? this.log.length : startAfter + 1;
      }
    } else {
      const ao = options.getAll()!;
      if (ao.hasPosition()) {
        const at = { commit: BigInt(ao.getPosition()!.getCommitPosition()), prepare: BigInt(ao.getPosition()!.getPreparePosition()) };
        const idx = this.log.findIndex((e) => comparePos(e, at) > 0);
        next = idx < 0 ? this.log.length : idx;
      } else next = ao.hasEnd() ? this.log.length : 0;
      if (options.hasFilter()) {
        const f = options.getFilter()!;
        const expr = f.hasStreamIdentifier() ? f.getStreamIdentifier()! : f.getEventType()!;
        const prefixes = expr.getPrefixList();
        const regex = expr.getRegex() ? new RegExp(expr.getRegex()) : undefined;
        const field = (e: StoredEvent) => (f.hasStreamIdentifier() ? e.streamId : e.type);
        accepts = (e) => (prefixes.length > 0 ? prefixes.some((p) => field(e).startsWith(p)) : true) && (regex ? regex.test(field(e)) : true);
        interval = (f.hasMax() ? f.getMax() : FILTER_WINDOW) * Math.max(1, f.getCheckpointintervalmultiplier());
      }
    }

    let scanned = 0;
    let lastScanned: StoredEvent | undefined;
    const checkpoint = async () => {
      if (!lastScanned || interval === 0) return;
      const resp = new streamsPb.ReadResp().setCheckpoint(new streamsPb.ReadResp.Checkpoint().setCommitPosition(lastScanned.commit.toString()).setPreparePosition(lastScanned.prepare.toString()));
      scanned = 0;
      if (!call.write(resp)) await once(call, 'drain');
    };
    let caughtUp = false;
    while (isOpen()) {
      while (next < this.log.length && isOpen()) {
        const e = this.log[next++]!;
        lastScanned = e;
        scanned++;
        if (accepts(e) && !call.write(toResp(e))) await once(call, 'drain');
        if (interval > 0 && scanned >= interval) await checkpoint();
      }
      if (!isOpen()) break;
      if (!caughtUp) {
        if (scanned > 0) await checkpoint();
        call.write(new streamsPb.ReadResp().setCaughtUp(new streamsPb.ReadResp.CaughtUp()));
        caughtUp = true;
      }
      await new Promise<void>((resolve) => this.wakers.push(resolve));
    }
  }

  private eventResp(e: StoredEvent, structured: boolean): ReadResp {
    const recorded = new streamsPb.ReadResp.ReadEvent.RecordedEvent()
      .setId(uuidMessage(e.id, structured))
      .setStreamIdentifier(streamIdentifier(e.streamId))
      .setStreamRevision(e.revision.toString())
      .setCommitPosition(e.commit.toString())
      .setPreparePosition(e.prepare.toString())
      .setData(e.data)
      .setCustomMetadata(e.customMetadata);
    recorded.getMetadataMap().set('type', e.type).set('content-type', e.contentType).set('created', e.created.toString());
    return new streamsPb.ReadResp().setEvent(new streamsPb.ReadResp.ReadEvent().setEvent(recorded).setCommitPosition(e.commit.toString()));
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }
}

/** Append and BatchAppend name the expected revision differently; the rest is the same. */
const expectedOf = (o: { hasNoStream(): boolean; hasStreamExists(): boolean }, revision: string | undefined): Expected =>
  revision !== undefined
    ? { kind: 'revision', revision: BigInt(revision) }
    : o.hasNoStream()
      ? { kind: 'no_stream' }
      : o.hasStreamExists()
        ? { kind: 'stream_exists' }
        : { kind: 'any' };

const proposedOf = (m: any): Proposed => {
  const metadata = m.getMetadataMap();
  return {
    id: uuidToString(m.getId()),
    type: metadata.get('type') ?? '',
    contentType: metadata.get('content-type') ?? 'application/octet-stream',
    data: m.getData_asU8(),
    customMetadata: m.getCustomMetadata_asU8(),
  };
};
