import { z } from 'zod';
import { Errors, type FieldViolation } from './errors.js';
import { DomainClaimEventTypes, type DomainClaimEvent } from './instance/domain-claim.js';
import { InstanceEventTypes, type InstanceEvent } from './instance/events.js';

/**
 * What every stored event's payload must look like, one schema per event type, and the upcasters
 * that turn a payload recorded in an older shape into the current one when it is read. Stored
 * history is never rewritten: an old event is upcast every time it is read.
 *
 * To add an event type: add its type string, then an entry here (TypeScript refuses a registry
 * that misses a known type). To change a payload's shape: raise `schemaVersion` and add an upcaster
 * from the previous version.
 */

/** What an upcaster may use besides the payload: where the event was recorded. */
export interface UpcastContext {
  readonly instanceId: string;
  readonly streamId: string;
}

/** Turns a payload of version n (its key) into one of version n + 1. Pure. */
export type Upcaster = (data: unknown, context: UpcastContext) => unknown;

export interface EventDefinition<D = unknown> {
  /** The version written today. */
  readonly schemaVersion: number;
  readonly schema: z.ZodType<D>;
  /** Keyed by the version they upcast from. */
  readonly upcasters?: Readonly<Record<number, Upcaster>>;
}

const encryptedSecret = z.object({
  cryptoType: z.literal('encryption'),
  algorithm: z.literal('AES-256-GCM'),
  keyId: z.string().min(1),
  crypted: z.string().min(1),
});

const smtpConfigAddedV1 = z.object({
  id: z.string().min(1),
  senderAddress: z.string(),
  senderName: z.string(),
  tls: z.boolean(),
  host: z.string(),
  user: z.string(),
  password: encryptedSecret.optional(),
  replyToAddress: z.string(),
  description: z.string(),
});

/** Only the fields that changed, besides the id (at least one of them: a no-op update is refused, never stored). */
const smtpConfigChangedV1 = z
  .object({
    id: z.string().min(1),
    senderAddress: z.string().optional(),
    senderName: z.string().optional(),
    tls: z.boolean().optional(),
    host: z.string().optional(),
    user: z.string().optional(),
    password: encryptedSecret.optional(),
    replyToAddress: z.string().optional(),
    description: z.string().optional(),
  })
  .refine((d) => Object.keys(d).some((k) => k !== 'id' && d[k as keyof typeof d] !== undefined), { message: 'a change event changes at least one field' });

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `instance.smtp.config.added` from before configurations had ids (schemaVersion 0): the
 * configuration takes the instance's id, as ZITADEL's own projection does for such events.
 */
export const upcastSmtpConfigAddedV0: Upcaster = (data, { instanceId }) => (isRecord(data) && data.id === undefined ? { ...data, id: instanceId } : data);

type KnownEvent = InstanceEvent | DomainClaimEvent;
export type KnownEventType = KnownEvent['type'];
type DataOf<T extends KnownEventType> = Extract<KnownEvent, { type: T }>['data'];

/** The registry: every known event type with its schema. */
export const EventSchemas: { readonly [T in KnownEventType]: EventDefinition<DataOf<T>> } = {
  [InstanceEventTypes.InstanceAdded]: { schemaVersion: 1, schema: z.object({ name: z.string() }) },
  [InstanceEventTypes.InstanceDomainAdded]: { schemaVersion: 1, schema: z.object({ domain: z.string().min(1), generated: z.boolean() }) },
  [InstanceEventTypes.SMTPConfigAdded]: { schemaVersion: 1, schema: smtpConfigAddedV1, upcasters: { 0: upcastSmtpConfigAddedV0 } },
  [InstanceEventTypes.SMTPConfigChanged]: { schemaVersion: 1, schema: smtpConfigChangedV1 as z.ZodType<DataOf<typeof InstanceEventTypes.SMTPConfigChanged>> },
  [InstanceEventTypes.SMTPConfigPasswordChanged]: { schemaVersion: 1, schema: z.object({ id: z.string().min(1), password: encryptedSecret }) },
  [InstanceEventTypes.SMTPConfigRemoved]: { schemaVersion: 1, schema: z.object({ id: z.string().min(1) }) },
  [DomainClaimEventTypes.Claimed]: { schemaVersion: 1, schema: z.object({ domain: z.string().min(1), instanceId: z.string().min(1) }) },
  [DomainClaimEventTypes.Released]: { schemaVersion: 1, schema: z.object({ domain: z.string().min(1), instanceId: z.string().min(1) }) },
};

export const isKnownEventType = (type: string): type is KnownEventType => Object.hasOwn(EventSchemas, type);

/** The schemaVersion to write with a new event of this type (1 for types without a schema). */
export const currentSchemaVersion = (type: string): number => (isKnownEventType(type) ? EventSchemas[type].schemaVersion : 1);

/** A stored event as the decoder needs it; `where` names it in errors (position and stream). */
export interface StoredEventData {
  readonly type: string;
  readonly schemaVersion: number | undefined;
  readonly data: unknown;
  readonly context: UpcastContext;
  readonly where: { readonly position: string; readonly streamId: string };
}

const violationsOf = (error: z.ZodError): FieldViolation[] =>
  error.issues.map((issue) => ({ field: ['data', ...issue.path.map(String)].join('.'), description: issue.message }));

/**
 * Upcasts and checks one stored payload: the typed event, or undefined for a type this registry does
 * not know. Throws a DomainError `EVENT-DEC-7m3q` naming the position, stream and fields when the
 * payload does not fit, and `EVENT-VER-2k8d` for a version that no upcaster leads from.
 */
export const decodeStoredEvent = (stored: StoredEventData): KnownEvent | undefined => {
  const { type } = stored;
  if (!isKnownEventType(type)) return undefined;
  const definition = EventSchemas[type] as EventDefinition;
  let version = stored.schemaVersion ?? definition.schemaVersion;
  let data = stored.data;
  while (version < definition.schemaVersion) {
    const upcast = definition.upcasters?.[version];
    if (!upcast) break;
    data = upcast(data, stored.context);
    version++;
  }
  if (version !== definition.schemaVersion) throw Errors.unknownEventVersion(stored.where, type, stored.schemaVersion ?? version, definition.schemaVersion);
  const parsed = definition.schema.safeParse(data);
  if (!parsed.success) throw Errors.malformedEvent(stored.where, type, version, violationsOf(parsed.error));
  return { type, data: parsed.data } as KnownEvent;
};
