import type { FastifyRequest, preValidationHookHandler } from 'fastify';
import {
  AddSmtpConfigRequestSchema,
  Errors,
  TestSmtpConfigByIdRequestSchema,
  TestSmtpConfigRequestSchema,
  UpdateSmtpConfigPasswordRequestSchema,
  UpdateSmtpConfigRequestSchema,
  type FieldViolation,
} from '../../domain/index.js';
import { jsonTextOf } from './json-body.js';
import { repeatedTopLevelKeys } from './json-keys.js';

/**
 * A request message as ZITADEL's gateway (grpc-gateway with protojson) reads its JSON body: each
 * field under its JSON name (`senderAddress`) or its proto name (`sender_address`).
 */
export interface ProtoJsonMessage {
  /** The proto message's name, for the error (`AddSMTPConfigRequest`). */
  readonly name: string;
  /** Every name a field may have in the body → its JSON name. */
  readonly fieldByName: ReadonlyMap<string, string>;
}

/** `replyToAddress` → `reply_to_address`: protoc's JSON name read backwards (exact for these fields). */
export const protoNameOf = (jsonName: string): string => jsonName.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const message = (name: string, jsonNames: readonly string[]): ProtoJsonMessage => ({
  name,
  fieldByName: new Map(jsonNames.flatMap((json) => [[json, json] as const, [protoNameOf(json), json] as const])),
});

/**
 * The SMTP requests' messages. Their fields are the ones the domain's schemas read (so a field
 * added there is accepted under both names here too), plus `id` where the proto message has it in
 * the body as well as the path (the path's wins; the use cases ignore the body's).
 */
export const SmtpProtoJsonMessages = {
  add: message('AddSMTPConfigRequest', Object.keys(AddSmtpConfigRequestSchema.shape)),
  update: message('UpdateSMTPConfigRequest', [...Object.keys(UpdateSmtpConfigRequestSchema.shape), 'id']),
  password: message('UpdateSMTPConfigPasswordRequest', [...Object.keys(UpdateSmtpConfigPasswordRequestSchema.shape), 'id']),
  test: message('TestSMTPConfigRequest', Object.keys(TestSmtpConfigRequestSchema.shape)),
  testById: message('TestSMTPConfigByIdRequest', [...Object.keys(TestSmtpConfigByIdRequestSchema.shape), 'id']),
} as const satisfies Record<string, ProtoJsonMessage>;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A parsed JSON body as protojson would read it, in the JSON names the domain's schemas expect:
 * - a field's proto name is read as its JSON name (`sender_address` → `senderAddress`);
 * - a field given twice is an error naming the field (protojson: "duplicate field"), whether under
 *   both its names or under one name twice (`repeatedKeys`: the body's top-level keys that its text
 *   gives more than once, which JSON.parse folds into the last one); a key the message does not
 *   have may repeat, as protojson skips it unread;
 * - `null` for a field is the field absent (protojson: null is a singular scalar's default).
 * Anything else (unknown keys, values of the wrong type, a body that is not an object) is passed on
 * unchanged for the domain's validation to judge, so its messages stay the same.
 */
export const normaliseProtoJsonBody = (body: unknown, msg: ProtoJsonMessage, repeatedKeys: readonly string[] = []): unknown => {
  if (!isPlainObject(body)) return body;
  const entries: [string, unknown][] = [];
  const seen = new Map<string, string>();
  const refused = new Set<string>();
  const violations: FieldViolation[] = [];
  for (const [key, value] of Object.entries(body)) {
    const field = msg.fieldByName.get(key);
    if (field === undefined) {
      entries.push([key, value]);
      continue;
    }
    if (refused.has(field)) continue;
    if (repeatedKeys.includes(key)) {
      // As the gRPC port words a key given twice (GRPC-JSON-4v8e).
      violations.push({ field, description: 'is given twice; send it once' });
      refused.add(field);
      continue;
    }
    const earlier = seen.get(field);
    if (earlier !== undefined) {
      violations.push({ field, description: `is given twice, as "${earlier}" and as "${key}"; send one` });
      refused.add(field);
      continue;
    }
    seen.set(field, key);
    if (value !== null) entries.push([field, value]);
  }
  if (violations.length > 0) throw Errors.invalidSmtpConfig(violations, msg.name);
  // fromEntries defines own properties: a key such as "__proto__" stays a key, never the prototype.
  return Object.fromEntries(entries);
};

/**
 * A route's preValidation hook: its body read as {@link normaliseProtoJsonBody} says, with the keys
 * its JSON text repeats at the top level. It runs before the handler authenticates, as the gateway
 * decodes a body before any interceptor runs.
 */
export const protoJsonBody =
  (msg: ProtoJsonMessage): preValidationHookHandler =>
  (request: FastifyRequest, _reply, done) => {
    try {
      const text = isPlainObject(request.body) ? jsonTextOf(request) : undefined;
      request.body = normaliseProtoJsonBody(request.body, msg, text === undefined ? [] : repeatedTopLevelKeys(text));
    } catch (error) {
      done(error as Error);
      return;
    }
    done();
  };
