import { InstanceEventTypes, type SMTPConfigAddedData } from '../../domain/index.js';
import { decodeRecordedEvent } from '../decode-event.js';
import { nextOf } from '../small-bigints.js';
import type { RecordedEvent } from '../ports/event-store.js';
import { ADDED_FROM, type ReadModelChange, type SmtpConfigPatch, type SmtpConfigView } from '../ports/read-model.js';

/**
 * The configuration row an SMTPConfigAdded event makes: its payload without the password (only
 * whether one is set), with the instance's sequence after the event and the event's time. The one
 * rule for it: the projection writes it, and a read model that keeps the payload instead of the row
 * (the in-memory one) makes it again when the row is read.
 */
export const smtpConfigViewOf = (data: SMTPConfigAddedData, instanceId: string, sequence: bigint, at: string): SmtpConfigView => ({
  instanceId,
  id: data.id,
  senderAddress: data.senderAddress,
  senderName: data.senderName,
  tls: data.tls,
  host: data.host,
  user: data.user,
  replyToAddress: data.replyToAddress,
  description: data.description,
  hasPassword: data.password !== undefined,
  sequence,
  creationDate: at,
  changeDate: at,
  resourceOwner: instanceId,
});

/**
 * The projection's pure handler: one recorded event in, the read-model changes out. It reads no
 * state and no clock: dates come from the event's metadata and the sequence from its revision, so
 * replaying the same events always builds the same read model. Unknown event types change nothing.
 * Every payload is upcast and checked first: a malformed one throws `EVENT-DEC-7m3q` (naming its
 * position, stream and field), and the runner stops there instead of writing a broken row.
 */
export const projectEvent = (event: RecordedEvent): ReadModelChange[] => {
  const decoded = decodeRecordedEvent(event);
  if (!decoded) return [];
  const instanceId = event.metadata.instanceId;
  // Shared when small (see small-bigints.ts): a read model in memory keeps it in every row.
  const sequence = nextOf(event.revision);
  const at = event.metadata.createdAt;
  switch (decoded.type) {
    case InstanceEventTypes.InstanceAdded: {
      const data = decoded.data;
      return [{ kind: 'upsertInstance', instance: { id: instanceId, name: data.name, domains: [], sequence, creationDate: at } }];
    }
    case InstanceEventTypes.InstanceDomainAdded: {
      const data = decoded.data;
      return [{ kind: 'addInstanceDomain', instanceId, domain: data.domain, sequence }];
    }
    case InstanceEventTypes.SMTPConfigAdded: {
      const data = decoded.data;
      const change: ReadModelChange = { kind: 'upsertSmtpConfig', config: smtpConfigViewOf(data, instanceId, sequence, at) };
      // The payload, for a read model in memory to keep (see ADDED_FROM): not enumerable, so that a
      // change logged (util.inspect, console.log) or spread does not show its encrypted password.
      Object.defineProperty(change, ADDED_FROM, { value: data });
      return [change];
    }
    case InstanceEventTypes.SMTPConfigChanged: {
      const { id, password, ...fields } = decoded.data;
      const changes: SmtpConfigPatch = { ...fields, ...(password !== undefined ? { hasPassword: true } : {}) };
      return [{ kind: 'patchSmtpConfig', instanceId, id, changes, sequence, changeDate: at }];
    }
    case InstanceEventTypes.SMTPConfigPasswordChanged: {
      const { id } = decoded.data;
      return [{ kind: 'patchSmtpConfig', instanceId, id, changes: { hasPassword: true }, sequence, changeDate: at }];
    }
    case InstanceEventTypes.SMTPConfigRemoved: {
      const { id } = decoded.data;
      return [{ kind: 'removeSmtpConfig', instanceId, id }];
    }
    default:
      return [];
  }
};
