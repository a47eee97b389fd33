/**
 * An in-process EventStoreDB for tests: a gRPC server that implements EventStoreDB's Streams
 * service (Append, BatchAppend, Read for streams and $all, forwards and backwards, and
 * subscriptions with filters, checkpoints and caught-up) and ServerFeatures, from the client
 * package's own generated definitions, so the real `@eventstore/db-client` talks to it over
 * loopback TCP exactly as it talks to a server.
 *
 * The rules live by job: event-log.ts (positions, expected revisions, idempotence, deletes, size
 * limit, system events), append.ts, read.ts, subscriptions.ts (checkpoints as 24.2 and 23.10 send
 * them). test/infrastructure/eventstoredb-server-rules.spec.ts names each rule in a test. Here:
 * - the log starts with a system event (`$settings`), as a real server's does;
 * - `mode: 'batch-append'` advertises BatchAppend through ServerFeatures, as servers since 21.10 do;
 *   `mode: 'append-only'` has no ServerFeatures service (UNIMPLEMENTED), which makes the client use Append;
 * - faults can be injected: the next appends fail with a status (before or after writing), reads
 *   stall without answering, `$all` is refused; every call's `requires-leader` header is recorded.
 */
import * as grpc from '@grpc/grpc-js';
import streamsGrpc from '@eventstore/db-client/generated/streams_grpc_pb.js';
import featuresGrpc from '@eventstore/db-client/generated/serverfeatures_grpc_pb.js';
import featuresPb from '@eventstore/db-client/generated/serverfeatures_pb.js';
import { handleAppend, handleBatchAppend, type AppendFault, type AppendHost } from './append.js';
import type { ReadReq, ReadResp, StoredEvent } from './codec.js';
import { EventLog } from './event-log.js';
import { handleRead } from './read.js';
import { handleSubscribe, type ServerRules, type SubscriptionHost } from './subscriptions.js';

export type { StoredEvent } from './codec.js';
export type { ServerRules } from './subscriptions.js';

export interface InProcessEventStoreDBOptions {
  readonly mode: 'batch-append' | 'append-only';
  /** Which server's checkpoint rules subscriptions follow (default 24.2: 24.2 and later). */
  readonly rules?: ServerRules;
  /** The largest write accepted, in bytes of data and metadata (default 1 MiB, the server's default). */
  readonly maxAppendSize?: number;
}

export class InProcessEventStoreDB implements AppendHost, SubscriptionHost {
  readonly log: EventLog;
  readonly rules: ServerRules;
  readonly subscriptions = new Set<grpc.ServerWritableStream<ReadReq, ReadResp>>();
  /** Calls per method, so tests can tell which client path ran. */
  readonly calls = { append: 0, batchAppend: 0, read: 0, supportedMethods: 0 };
  /** The `requires-leader` header of every call, by method. */
  readonly requiresLeader: { method: string; required: boolean }[] = [];
  /** Refuse subscriptions to `$all` with access denied. */
  denyAll = false;
  /** Leave non-subscription reads unanswered, as a stuck node or a lost connection does. */
  stallReads = false;
  private readonly appendFaults: AppendFault[] = [];
  private server: grpc.Server | undefined;
  port = 0;

  constructor(readonly options: InProcessEventStoreDBOptions = { mode: 'batch-append' }) {
    this.log = new EventLog(options.maxAppendSize);
    this.rules = options.rules ?? '24.2';
    this.log.write('$settings', [{ id: '00000000-0000-4000-8000-00000000beef', type: '$settings', contentType: 'application/json', data: Buffer.from('{}'), customMetadata: new Uint8Array() }], { kind: 'any' });
  }

  /** Every event in `$all`, in log order. */
  get events(): readonly StoredEvent[] {
    return this.log.events;
  }

  get connectionString(): string {
    return `esdb://127.0.0.1:${this.port}?tls=false`;
  }

  /** The next appends fail with these faults, one each. */
  failNextAppends(...faults: AppendFault[]): void {
    this.appendFaults.push(...faults);
  }

  takeAppendFault(): AppendFault | undefined {
    return this.appendFaults.shift();
  }

  async start(): Promise<this> {
    const server = new grpc.Server();
    const noted = <C extends grpc.ServerUnaryCall<any, any> | grpc.ServerReadableStream<any, any> | grpc.ServerWritableStream<any, any> | grpc.ServerDuplexStream<any, any>>(method: string, call: C): C => {
      this.requiresLeader.push({ method, required: call.metadata.get('requires-leader')[0] === 'true' });
      return call;
    };
    server.addService(streamsGrpc.StreamsService, {
      read: (call: grpc.ServerWritableStream<ReadReq, ReadResp>) => void this.read(noted('read', call)),
      append: (call: grpc.ServerReadableStream<any, any>, callback: grpc.sendUnaryData<any>) => handleAppend(this, noted('append', call), callback),
      batchAppend: (call: grpc.ServerDuplexStream<any, any>) => handleBatchAppend(this, noted('batchAppend', call)),
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
              .setEventStoreServerVersion(this.rules === '24.2' ? '24.10.0' : '23.10.0')
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
    if (server) {
      // Calls left open on purpose (stalled reads) would keep a graceful shutdown waiting.
      const stopped = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      const timer = setTimeout(() => server.forceShutdown(), 1_000);
      await stopped;
      clearTimeout(timer);
    }
  }

  /** Ends every open subscription with UNAVAILABLE, the way a restarting node or a broken connection does. */
  dropSubscriptions(): void {
    for (const call of this.subscriptions) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'subscription dropped by the server' });
    this.subscriptions.clear();
    this.log.wake();
  }

  private async read(call: grpc.ServerWritableStream<ReadReq, ReadResp>): Promise<void> {
    this.calls.read++;
    const options = call.request.getOptions()!;
    if (options.hasSubscription()) return handleSubscribe(this, call, options);
    if (this.stallReads) return;
    return handleRead(this.log, call, options);
  }
}
