/**
 * The in-process EventStoreDB's reads of one stream or of `$all`, forwards and backwards, with a
 * count. A missing stream answers `stream_not_found`; a tombstoned one fails with stream-deleted.
 * `$all` holds every event, system events included, as a server's does.
 */
import { once } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import streamsPb from '@eventstore/db-client/generated/streams_pb.js';
import { comparePos, eventResp, streamDeletedError, streamIdentifier, streamNameOf, type ReadOptions, type ReadReq, type ReadResp, type StoredEvent } from './codec.js';
import type { EventLog } from './event-log.js';

export const handleRead = async (log: EventLog, call: grpc.ServerWritableStream<ReadReq, ReadResp>, options: ReadOptions): Promise<void> => {
  const structured = options.getUuidOption()?.hasStructured() ?? false;
  const backwards = options.getReadDirection() === streamsPb.ReadReq.Options.ReadDirection.BACKWARDS;
  const count = options.hasCount() ? Number(BigInt(options.getCount())) : Number.MAX_SAFE_INTEGER;
  let selected: StoredEvent[];
  if (options.hasStream()) {
    const so = options.getStream()!;
    const name = streamNameOf(so.getStreamIdentifier());
    const stream = log.stream(name);
    if (stream === 'deleted') {
      call.emit('error', streamDeletedError(name));
      return;
    }
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
    const p = ao.hasPosition() ? ao.getPosition()! : undefined;
    const at = p ? { commit: BigInt(p.getCommitPosition()), prepare: BigInt(p.getPreparePosition()) } : undefined;
    if (backwards) {
      selected = (at ? log.events.filter((e) => comparePos(e, at) < 0) : ao.hasStart() ? [] : log.events.slice()).reverse();
    } else {
      selected = at ? log.events.filter((e) => comparePos(e, at) >= 0) : ao.hasEnd() ? [] : log.events.slice();
    }
  }
  for (const e of selected.slice(0, count)) {
    if (!call.write(eventResp(e, structured))) await once(call, 'drain');
  }
  call.end();
};
