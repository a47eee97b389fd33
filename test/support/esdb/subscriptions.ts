/**
 * The in-process EventStoreDB's catch-up subscriptions to a stream or to `$all`, with the real
 * server's rules for what it sends besides events (each named by a test in
 * test/infrastructure/eventstoredb-server-rules.spec.ts):
 * - a confirmation first; events strictly after the requested position; `caught_up` when it
 *   switches to live events (servers since 23.10 send it);
 * - with a filter, catch-up reads `$all` in pages of the filter's window (32 by default) and sends a
 *   checkpoint every window × checkpointIntervalMultiplier scanned events, live too;
 * - at the end of catch-up, `rules: '24.2'` (24.2 and later) sends one checkpoint at the later of
 *   the last event sent and the start of the last page read, which does not cover a filtered-out
 *   tail; `rules: '23.10'` sends none there;
 * - a checkpoint names a commit position; its prepare position is 0;
 * - reading `$all` can be refused (access denied), and a start position past the end of the log is
 *   refused as invalid.
 */
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import streamsPb from '@eventstore/db-client/generated/streams_pb.js';
import { accessDeniedError, eventResp, serverError, streamNameOf, type ReadOptions, type ReadReq, type ReadResp, type StoredEvent } from './codec.js';
import type { EventLog } from './event-log.js';

export type ServerRules = '24.2' | '23.10';

export interface SubscriptionHost {
  readonly log: EventLog;
  readonly rules: ServerRules;
  readonly subscriptions: Set<grpc.ServerWritableStream<ReadReq, ReadResp>>;
  /** Refuse subscriptions to `$all`, as a server does for a user without read access to it. */
  readonly denyAll: boolean;
}

const FILTER_WINDOW = 32;

export const handleSubscribe = async (host: SubscriptionHost, call: grpc.ServerWritableStream<ReadReq, ReadResp>, options: ReadOptions): Promise<void> => {
  const { log } = host;
  const structured = options.getUuidOption()?.hasStructured() ?? false;
  const ao = options.hasAll() ? options.getAll()! : undefined;
  if (ao && host.denyAll) return void call.emit('error', accessDeniedError());
  const from = ao?.hasPosition() ? { commit: BigInt(ao.getPosition()!.getCommitPosition()), prepare: BigInt(ao.getPosition()!.getPreparePosition()) } : undefined;
  if (from && from.commit > log.end) return void call.emit('error', serverError(grpc.status.INVALID_ARGUMENT, `Invalid position ${from.commit}/${from.prepare}`));

  host.subscriptions.add(call);
  let closed = false;
  call.on('cancelled', () => {
    closed = true;
    host.subscriptions.delete(call);
    log.wake();
  });
  call.on('error', () => {
    closed = true;
  });
  const isOpen = () => !closed && host.subscriptions.has(call);
  const send = async (resp: ReadResp) => {
    if (!call.write(resp)) await once(call, 'drain');
  };
  await send(new streamsPb.ReadResp().setConfirmation(new streamsPb.ReadResp.SubscriptionConfirmation().setSubscriptionId(`sub-${Math.random().toString(36).slice(2)}`)));

  let next: number;
  let accepts: (e: StoredEvent) => boolean = () => true;
  let window = 0;
  let interval = 0;
  if (!ao) {
    const so = options.getStream()!;
    const name = streamNameOf(so.getStreamIdentifier());
    const revision = so.hasRevision() ? BigInt(so.getRevision()) : so.hasEnd() ? undefined : -1n;
    accepts = (e) => e.streamId === name;
    if (revision === undefined) next = log.events.length;
    else {
      const startAfter = log.events.findIndex((e) => accepts(e) && e.revision === revision);
      next = revision === -1n ? 0 : startAfter < 0 ? log.events.length : startAfter + 1;
    }
  } else {
    if (from) {
      const idx = log.events.findIndex((e) => e.commit > from.commit || (e.commit === from.commit && e.prepare > from.prepare));
      next = idx < 0 ? log.events.length : idx;
    } else next = ao.hasEnd() ? log.events.length : 0;
    if (options.hasFilter()) {
      const f = options.getFilter()!;
      const expr = f.hasStreamIdentifier() ? f.getStreamIdentifier()! : f.getEventType()!;
      const prefixes = expr.getPrefixList();
      const regex = expr.getRegex() ? new RegExp(expr.getRegex()) : undefined;
      const field = (e: StoredEvent) => (f.hasStreamIdentifier() ? e.streamId : e.type);
      accepts = (e) => (prefixes.length > 0 ? prefixes.some((p) => field(e).startsWith(p)) : true) && (regex ? regex.test(field(e)) : true);
      window = f.hasMax() ? f.getMax() : FILTER_WINDOW;
      interval = window * Math.max(1, f.getCheckpointintervalmultiplier());
    }
  }

  const checkpoint = (commit: bigint) =>
    send(new streamsPb.ReadResp().setCheckpoint(new streamsPb.ReadResp.Checkpoint().setCommitPosition(commit.toString()).setPreparePosition('0')));
  let scanned = 0;
  /** One event scanned: sent when the filter takes it, and a checkpoint every `interval` scanned. */
  const scan = async (e: StoredEvent): Promise<boolean> => {
    const taken = accepts(e);
    if (taken) await send(eventResp(e, structured));
    if (interval > 0 && ++scanned >= interval) {
      scanned = 0;
      await checkpoint(e.commit);
    }
    return taken;
  };

  // Catch-up, in pages of the filter's window.
  let lastSent: StoredEvent | undefined;
  let pageStart: StoredEvent | undefined;
  let inPage = 0;
  while (next < log.events.length && isOpen()) {
    const e = log.events[next++]!;
    if (inPage++ % Math.max(window, 1) === 0) pageStart = e;
    if (await scan(e)) lastSent = e;
  }
  if (!isOpen()) return;
  if (host.rules === '24.2' && interval > 0 && (lastSent || pageStart)) {
    const at = [lastSent, pageStart].reduce((max, e) => (e && (!max || e.commit > max.commit) ? e : max), undefined as StoredEvent | undefined)!;
    await checkpoint(at.commit);
  }
  await send(new streamsPb.ReadResp().setCaughtUp(new streamsPb.ReadResp.CaughtUp()));

  // Live.
  while (isOpen()) {
    while (next < log.events.length && isOpen()) await scan(log.events[next++]!);
    if (!isOpen()) break;
    await log.changed();
  }
};
