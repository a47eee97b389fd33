/**
 * The in-process EventStoreDB's Append (unary, client-streamed) and BatchAppend (duplex) calls.
 * Outcomes of the log's rules go back as the server sends them: success with the last event's
 * position, a wrong expected version (in the response body), a deleted stream or an oversized write
 * (as gRPC errors on Append, as a status with typed details on BatchAppend). An injected fault ends
 * the call with its status, before or after the write happened (a lost acknowledgement).
 */
import * as grpc from '@grpc/grpc-js';
import anyPb from 'google-protobuf/google/protobuf/any_pb.js';
import emptyPb from 'google-protobuf/google/protobuf/empty_pb.js';
import streamsPb from '@eventstore/db-client/generated/streams_pb.js';
import sharedPb from '@eventstore/db-client/generated/shared_pb.js';
import statusPb from '@eventstore/db-client/generated/status_pb.js';
import { expectedOf, maxAppendSizeError, proposedOf, serverError, streamDeletedError, streamIdentifier, streamNameOf, uuidToString, type Expected, type Proposed } from './codec.js';
import type { EventLog, WriteOutcome } from './event-log.js';

/** A failure to inject into the next append: its status, and whether the events were written first. */
export interface AppendFault {
  readonly code: grpc.status;
  readonly afterWrite?: boolean;
  readonly details?: string;
  readonly trailers?: Record<string, string>;
}

export interface AppendHost {
  readonly log: EventLog;
  readonly calls: { append: number; batchAppend: number };
  takeAppendFault(): AppendFault | undefined;
}

/** Writes, unless a fault says otherwise; returns the outcome, or the fault's error to end the call with. */
const writeWithFaults = (host: AppendHost, stream: string, proposed: Proposed[], expected: Expected): WriteOutcome | grpc.ServiceError => {
  const fault = host.takeAppendFault();
  if (fault && !fault.afterWrite) return serverError(fault.code, fault.details ?? 'injected fault', fault.trailers);
  const outcome = host.log.write(stream, proposed, expected);
  if (fault) return serverError(fault.code, fault.details ?? 'injected fault after the write', fault.trailers);
  return outcome;
};

export const handleAppend = (host: AppendHost, call: grpc.ServerReadableStream<any, any>, callback: grpc.sendUnaryData<any>): void => {
  host.calls.append++;
  let options: any;
  const proposed: Proposed[] = [];
  call.on('data', (req: any) => {
    if (req.hasOptions()) options = req.getOptions();
    else if (req.hasProposedMessage()) proposed.push(proposedOf(req.getProposedMessage()));
  });
  call.on('end', () => {
    const expected = expectedOf(options, options.hasRevision() ? options.getRevision() : undefined);
    const stream = streamNameOf(options.getStreamIdentifier());
    const outcome = writeWithFaults(host, stream, proposed, expected);
    if (outcome instanceof Error) return callback(outcome);
    if (outcome.kind === 'stream-deleted') return callback(streamDeletedError(stream));
    if (outcome.kind === 'too-large') return callback(maxAppendSizeError(outcome.max));
    const resp = new streamsPb.AppendResp();
    if (outcome.kind === 'ok') {
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
};

const packedStatus = (code: number, message: string, typeName: string, details: { serializeBinary(): Uint8Array }) => {
  const any = new anyPb.Any();
  any.pack(details.serializeBinary(), typeName);
  return new statusPb.Status().setCode(code).setMessage(message).setDetails(any);
};

export const handleBatchAppend = (host: AppendHost, call: grpc.ServerDuplexStream<any, any>): void => {
  host.calls.batchAppend++;
  const pending = new Map<string, { options: any; proposed: Proposed[]; correlation: InstanceType<typeof sharedPb.UUID> }>();
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
    const outcome = writeWithFaults(host, streamName, batch.proposed, expected);
    if (outcome instanceof Error) {
      call.emit('error', outcome);
      return;
    }
    const resp = new streamsPb.BatchAppendResp().setCorrelationId(batch.correlation).setStreamIdentifier(streamIdentifier(streamName));
    if (expected.kind === 'revision') resp.setStreamPosition(expected.revision.toString());
    else if (expected.kind === 'no_stream') resp.setNoStream(new emptyPb.Empty());
    else if (expected.kind === 'stream_exists') resp.setStreamExists(new emptyPb.Empty());
    else resp.setAny(new emptyPb.Empty());
    if (outcome.kind === 'ok') {
      const success = new streamsPb.BatchAppendResp.Success();
      if (outcome.currentRevision === undefined) success.setNoStream(new emptyPb.Empty());
      else success.setCurrentRevision(outcome.currentRevision.toString());
      if (outcome.position) success.setPosition(new sharedPb.AllStreamPosition().setCommitPosition(outcome.position.commit.toString()).setPreparePosition(outcome.position.prepare.toString()));
      else success.setNoPosition(new emptyPb.Empty());
      resp.setSuccess(success);
    } else if (outcome.kind === 'stream-deleted') {
      resp.setError(packedStatus(9, 'StreamDeleted', 'event_store.client.StreamDeleted', new sharedPb.StreamDeleted().setStreamIdentifier(streamIdentifier(streamName))));
    } else if (outcome.kind === 'too-large') {
      resp.setError(packedStatus(3, 'MaximumAppendSizeExceeded', 'event_store.client.MaximumAppendSizeExceeded', new sharedPb.MaximumAppendSizeExceeded().setMaxappendsize(outcome.max)));
    } else {
      const wrong = new sharedPb.WrongExpectedVersion();
      if (outcome.currentRevision === undefined) wrong.setCurrentNoStream(new emptyPb.Empty());
      else wrong.setCurrentStreamRevision(outcome.currentRevision.toString());
      if (expected.kind === 'revision') wrong.setExpectedStreamPosition(expected.revision.toString());
      else if (expected.kind === 'no_stream') wrong.setExpectedNoStream(new emptyPb.Empty());
      else if (expected.kind === 'stream_exists') wrong.setExpectedStreamExists(new emptyPb.Empty());
      else wrong.setExpectedAny(new emptyPb.Empty());
      resp.setError(packedStatus(9, 'WrongExpectedVersion', 'event_store.client.WrongExpectedVersion', wrong));
    }
    call.write(resp);
  });
  call.on('end', () => call.end());
};
