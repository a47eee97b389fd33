/**
 * The in-process EventStoreDB's transaction log: the rules of a write, nothing about gRPC.
 * - Each event of a write gets its own log position, and its commit position equals its prepare
 *   position (what a server writes for an explicit-transaction-free append since v20); the write
 *   reports the position of its last event.
 * - The expected revision is checked (any, no_stream, stream_exists, or a revision); appending the
 *   same event ids again at the revision they were first written at is an idempotent success.
 * - A tombstoned (hard-deleted) stream refuses reads and appends; a write larger than the maximum
 *   append size (1 MiB by default, counted as data + metadata) is refused.
 * - System events (`$statsCollected`, scavenge records, `$>` links) can be written in runs, as a busy
 *   server writes them into `$all`.
 */
import type { Expected, Position, Proposed, StoredEvent } from './codec.js';

export type WriteOutcome =
  | { kind: 'ok'; currentRevision: bigint | undefined; position: Position | undefined }
  | { kind: 'wrong-expected-version'; currentRevision: bigint | undefined; expected: Expected }
  | { kind: 'stream-deleted' }
  | { kind: 'too-large'; max: number };

const TICKS_PER_MS = 10_000n;
export const DEFAULT_MAX_APPEND_SIZE = 1024 * 1024;

/** The system events a busy server writes on its own, cycled through by {@link EventLog.writeSystemEvents}. */
const SYSTEM_WRITES: readonly { stream: string; type: string }[] = [
  { stream: '$stats-127.0.0.1:2113', type: '$statsCollected' },
  { stream: '$scavenges-1', type: '$scavengeChunksCompleted' },
  { stream: '$ce-instance', type: '$>' },
];

export class EventLog {
  readonly events: StoredEvent[] = [];
  private readonly streams = new Map<string, StoredEvent[]>();
  private readonly tombstoned = new Set<string>();
  private offset = 0n;
  private wakers: (() => void)[] = [];
  private systemCount = 0;

  constructor(private readonly maxAppendSize = DEFAULT_MAX_APPEND_SIZE) {}

  stream(name: string): StoredEvent[] | 'deleted' | undefined {
    return this.tombstoned.has(name) ? 'deleted' : this.streams.get(name);
  }

  /** The position after the last event: where the next write begins. */
  get end(): bigint {
    return this.offset;
  }

  write(streamId: string, proposed: readonly Proposed[], expected: Expected): WriteOutcome {
    if (this.tombstoned.has(streamId)) return { kind: 'stream-deleted' };
    const size = proposed.reduce((n, p) => n + p.data.length + p.customMetadata.length, 0);
    if (size > this.maxAppendSize) return { kind: 'too-large', max: this.maxAppendSize };
    const stream = this.streams.get(streamId);
    const current = stream ? BigInt(stream.length - 1) : undefined;
    const retried = this.idempotentRetry(stream, proposed, expected);
    if (retried) return retried;
    const ok =
      expected.kind === 'any' ||
      (expected.kind === 'no_stream' && current === undefined) ||
      (expected.kind === 'stream_exists' && current !== undefined) ||
      (expected.kind === 'revision' && current === expected.revision);
    if (!ok) return { kind: 'wrong-expected-version', currentRevision: current, expected };
    if (proposed.length === 0) return { kind: 'ok', currentRevision: current, position: undefined };
    const created = BigInt(Date.now()) * TICKS_PER_MS;
    const list = stream ?? [];
    if (!stream) this.streams.set(streamId, list);
    for (const p of proposed) {
      const at = this.offset;
      this.offset += 64n + BigInt(p.data.length + p.customMetadata.length);
      const event: StoredEvent = { streamId, revision: BigInt(list.length), ...p, created, commit: at, prepare: at };
      list.push(event);
      this.events.push(event);
    }
    this.wake();
    const last = list.at(-1)!;
    return { kind: 'ok', currentRevision: last.revision, position: { commit: last.commit, prepare: last.prepare } };
  }

  private idempotentRetry(stream: StoredEvent[] | undefined, proposed: readonly Proposed[], expected: Expected): WriteOutcome | undefined {
    if (!stream || proposed.length === 0) return undefined;
    const start = expected.kind === 'no_stream' ? 0 : expected.kind === 'revision' ? Number(expected.revision) + 1 : stream.findIndex((e) => e.id === proposed[0]!.id);
    if (start < 0 || start + proposed.length > stream.length) return undefined;
    if (!proposed.every((p, i) => stream[start + i]!.id === p.id)) return undefined;
    const last = stream[start + proposed.length - 1]!;
    return { kind: 'ok', currentRevision: last.revision, position: { commit: last.commit, prepare: last.prepare } };
  }

  /** Hard-deletes a stream: its events stay in `$all`, but reading or appending to it fails from now on. */
  tombstone(streamId: string): void {
    this.tombstoned.add(streamId);
    this.streams.delete(streamId);
    this.wake();
  }

  /** Writes `count` system events, one write each, cycling through stats, scavenge records and `$>` links. */
  writeSystemEvents(count: number): void {
    for (let i = 0; i < count; i++) {
      const kind = SYSTEM_WRITES[this.systemCount++ % SYSTEM_WRITES.length]!;
      const data = Buffer.from(kind.type === '$>' ? `${i}@instance-x` : '{}');
      this.write(kind.stream, [{ id: systemEventId(this.systemCount), type: kind.type, contentType: 'application/json', data, customMetadata: new Uint8Array() }], { kind: 'any' });
    }
  }

  /** Resolves at the next write (or when woken by a drop). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.wakers.push(resolve));
  }

  wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }
}

const systemEventId = (n: number) => `00000000-0000-4000-9000-${n.toString(16).padStart(12, '0')}`;
