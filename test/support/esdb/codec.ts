/**
 * The in-process EventStoreDB's wire vocabulary: stored events and proposals, UUIDs in both of the
 * client's encodings, stream identifiers, positions, and gRPC errors shaped the way the server sends
 * them (the `exception` trailer the client maps to its error classes).
 */
import * as grpc from '@grpc/grpc-js';
import streamsPb from '@eventstore/db-client/generated/streams_pb.js';
import sharedPb from '@eventstore/db-client/generated/shared_pb.js';

export type ReadReq = InstanceType<typeof streamsPb.ReadReq>;
export type ReadResp = InstanceType<typeof streamsPb.ReadResp>;
export type ReadOptions = InstanceType<typeof streamsPb.ReadReq.Options>;
type UUIDMessage = InstanceType<typeof sharedPb.UUID>;

export interface Position {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export interface StoredEvent extends Position {
  readonly streamId: string;
  readonly revision: bigint;
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
  readonly created: bigint;
}

export interface Proposed {
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
}

export type Expected = { kind: 'any' } | { kind: 'no_stream' } | { kind: 'stream_exists' } | { kind: 'revision'; revision: bigint };

export const comparePos = (a: Position, b: Position) =>
  a.commit !== b.commit ? (a.commit < b.commit ? -1 : 1) : a.prepare === b.prepare ? 0 : a.prepare < b.prepare ? -1 : 1;

export const uuidToString = (uuid: UUIDMessage | undefined): string => {
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

export const uuidMessage = (id: string, structured: boolean): UUIDMessage => {
  const uuid = new sharedPb.UUID();
  if (!structured) return uuid.setString(id);
  const buf = Buffer.from(id.replace(/-/g, ''), 'hex');
  const s = new sharedPb.UUID.Structured();
  s.setMostSignificantBits(BigInt.asIntN(64, buf.readBigUInt64BE(0)).toString());
  s.setLeastSignificantBits(BigInt.asIntN(64, buf.readBigUInt64BE(8)).toString());
  return uuid.setStructured(s);
};

export const streamIdentifier = (name: string) => new sharedPb.StreamIdentifier().setStreamName(Buffer.from(name, 'utf8'));
export const streamNameOf = (identifier: InstanceType<typeof sharedPb.StreamIdentifier> | undefined) =>
  Buffer.from(identifier?.getStreamName_asU8() ?? new Uint8Array()).toString('utf8');

/** Append and BatchAppend name the expected revision differently; the rest is the same. */
export const expectedOf = (o: { hasNoStream(): boolean; hasStreamExists(): boolean }, revision: string | undefined): Expected =>
  revision !== undefined
    ? { kind: 'revision', revision: BigInt(revision) }
    : o.hasNoStream()
      ? { kind: 'no_stream' }
      : o.hasStreamExists()
        ? { kind: 'stream_exists' }
        : { kind: 'any' };

export const proposedOf = (m: any): Proposed => {
  const metadata = m.getMetadataMap();
  return {
    id: uuidToString(m.getId()),
    type: metadata.get('type') ?? '',
    contentType: metadata.get('content-type') ?? 'application/octet-stream',
    data: m.getData_asU8(),
    customMetadata: m.getCustomMetadata_asU8(),
  };
};

export const eventResp = (e: StoredEvent, structured: boolean): ReadResp => {
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
};

/** A gRPC error as the server raises it: a status code and, for the client's mapping, an `exception` trailer. */
export const serverError = (code: grpc.status, details: string, trailers: Record<string, string> = {}): grpc.ServiceError => {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(trailers)) metadata.set(k, v);
  return Object.assign(new Error(details), { code, details, metadata });
};

export const streamDeletedError = (stream: string) =>
  serverError(grpc.status.FAILED_PRECONDITION, `Event stream '${stream}' is deleted.`, { exception: 'stream-deleted', 'stream-name': stream });
export const maxAppendSizeError = (max: number) =>
  serverError(grpc.status.INVALID_ARGUMENT, `Maximum Append Size of ${max} Exceeded.`, { exception: 'maximum-append-size-exceeded', 'maximum-append-size': String(max) });
export const accessDeniedError = () => serverError(grpc.status.PERMISSION_DENIED, 'Access Denied', { exception: 'access-denied' });
