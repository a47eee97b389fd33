// A request message in JSON (Connect's application/json, application/grpc+json, application/grpc-web+json)
// that protobuf-es cannot decode, refused without quoting what was sent.
import { fromJson, fromJsonString, ScalarType, type DescEnum, type DescField, type DescMessage, type JsonValue } from '@bufbuild/protobuf';
import { isFieldError } from '@bufbuild/protobuf/reflect';
import { DomainError, ErrorIds, ErrorKind, type FieldViolation } from '../../domain/index.js';
import { repeatedTopLevelKeys } from '../http/json-keys.js';
import { connectErrorOf } from './error-details.js';

type Noun = { readonly one: string; readonly many: string };

const scalarNoun = (scalar: ScalarType): Noun => {
  switch (scalar) {
    case ScalarType.STRING:
      return { one: 'a string', many: 'strings' };
    case ScalarType.BYTES:
      return { one: 'a base64 string', many: 'base64 strings' };
    case ScalarType.BOOL:
      return { one: 'a boolean', many: 'booleans' };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { one: 'a 32-bit integer (a number or a decimal string)', many: '32-bit integers' };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { one: 'an unsigned 32-bit integer (a number or a decimal string)', many: 'unsigned 32-bit integers' };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { one: 'a 64-bit integer (a number or a decimal string)', many: '64-bit integers' };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { one: 'an unsigned 64-bit integer (a number or a decimal string)', many: 'unsigned 64-bit integers' };
    default:
      return { one: 'a number', many: 'numbers' };
  }
};

/** The JSON forms of the well-known types that have their own (protojson's), by type name. */
const wellKnown: Record<string, Noun> = {
  'google.protobuf.Timestamp': { one: 'an RFC 3339 timestamp string', many: 'RFC 3339 timestamp strings' },
  'google.protobuf.Duration': { one: 'a duration string such as "1.5s"', many: 'duration strings' },
  'google.protobuf.FieldMask': { one: 'a string of comma-separated lowerCamelCase paths', many: 'field mask strings' },
  'google.protobuf.Value': { one: 'a JSON value', many: 'JSON values' },
  'google.protobuf.ListValue': { one: 'an array', many: 'arrays' },
  'google.protobuf.Any': { one: 'an object with a known "@type"', many: 'objects with a known "@type"' },
  'google.protobuf.StringValue': scalarNoun(ScalarType.STRING),
  'google.protobuf.BytesValue': scalarNoun(ScalarType.BYTES),
  'google.protobuf.BoolValue': scalarNoun(ScalarType.BOOL),
  'google.protobuf.Int32Value': scalarNoun(ScalarType.INT32),
  'google.protobuf.UInt32Value': scalarNoun(ScalarType.UINT32),
  'google.protobuf.Int64Value': scalarNoun(ScalarType.INT64),
  'google.protobuf.UInt64Value': scalarNoun(ScalarType.UINT64),
  'google.protobuf.FloatValue': scalarNoun(ScalarType.FLOAT),
  'google.protobuf.DoubleValue': scalarNoun(ScalarType.DOUBLE),
};
const messageNoun = (message: DescMessage): Noun => wellKnown[message.typeName] ?? { one: 'an object', many: 'objects' };
const enumNoun = (e: DescEnum): Noun => ({ one: `one of ${e.name}'s value names or numbers`, many: `${e.name} value names or numbers` });

/** What a field's JSON must be: "must be a string", "must be an array of booleans". */
const expected = (field: DescField): string => {
  switch (field.fieldKind) {
    case 'scalar':
      return `must be ${scalarNoun(field.scalar).one}`;
    case 'enum':
      return `must be ${enumNoun(field.enum).one}`;
    case 'message':
      return `must be ${messageNoun(field.message).one}`;
    case 'list': {
      const item = field.listKind === 'scalar' ? scalarNoun(field.scalar) : field.listKind === 'enum' ? enumNoun(field.enum) : messageNoun(field.message);
      return `must be an array of ${item.many}`;
    }
    case 'map': {
      const value = field.mapKind === 'scalar' ? scalarNoun(field.scalar) : field.mapKind === 'enum' ? enumNoun(field.enum) : messageNoun(field.message);
      return `must be an object whose keys are ${scalarNoun(field.mapKey).many} and whose values are ${value.many}`;
    }
  }
};

const readOptions = { ignoreUnknownFields: true } as const;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const causes = (error: unknown): unknown[] => {
  const chain: unknown[] = [];
  for (let e = error; e !== undefined && chain.length < 8; e = (e as { cause?: unknown } | null)?.cause) chain.push(e);
  return chain;
};

/** The error protobuf-es raises reading `json` as `desc`, if any. */
const attempt = (desc: DescMessage, json: JsonValue): unknown => {
  try {
    fromJson(desc, json, readOptions);
    return undefined;
  } catch (error) {
    return error;
  }
};

/** Two fields of one message that decode alone but not together: a oneof set twice, or one field under both its names. */
const conflictIn = (json: Record<string, JsonValue>, error: unknown, path: string): FieldViolation | undefined => {
  const fieldError = causes(error).find(isFieldError);
  if (!fieldError) return undefined;
  const target = fieldError.field();
  if (target.kind === 'oneof') return { field: path + target.name, description: `only one of ${target.fields.map((f) => f.jsonName).join(', ')} may be set` };
  if (fieldError.message !== 'set multiple times') return undefined;
  // As the REST port words it: the two keys are the field's names, never what was sent.
  const names = Object.keys(json).filter((k) => k === target.jsonName || k === target.name);
  return { field: path + target.jsonName, description: `is given twice, as ${names.map((k) => `"${k}"`).join(' and as ')}; send one` };
};

/**
 * The field of `json` that does not decode as `desc`, by its path of JSON names (`org.name`):
 * protobuf-es's errors name a nested field without its path, and some (an enum's, a well-known
 * type's) name no field at all, so each field is decoded alone until one fails.
 */
const locate = (desc: DescMessage, json: Record<string, JsonValue>, path: string): FieldViolation | undefined => {
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    if (field === undefined || attempt(desc, { [key]: value }) === undefined) continue;
    const name = path + field.jsonName;
    const nested = field.fieldKind === 'message' && wellKnown[field.message.typeName] === undefined && isPlainObject(value);
    return (nested ? locate(field.message, value, `${name}.`) : undefined) ?? { field: name, description: expected(field) };
  }
  return conflictIn(json, attempt(desc, json), path);
};

/**
 * Why protobuf-es could not read `text` as `desc`, in words that name the field and what it must
 * be, never the value: its own messages quote the value (`expected string, got 12345678`), and
 * JSON.parse's quote the text around a syntax error.
 */
export const describeJsonDecodeFailure = (desc: DescMessage, text: string, error: unknown): { violations: FieldViolation[]; problem?: string } => {
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch {
    return { violations: [], problem: 'not valid JSON' };
  }
  if (!isPlainObject(json)) return { violations: [], problem: 'must be a JSON object' };
  const message = error instanceof Error ? error.message : '';
  if (/^cannot decode message \S+ from JSON: duplicate object key /.test(message)) {
    // protobuf-es names the first key repeated in any object, at any depth: a field is named only
    // when the message's own object repeats it (a nested object may have a key of that name), and
    // a map's or an unknown field's key, which may be anything, never.
    const fields = new Set(repeatedTopLevelKeys(text).flatMap((key) => desc.fields.filter((f) => f.jsonName === key || f.name === key)));
    return fields.size > 0
      ? { violations: [...fields].map((f) => ({ field: f.jsonName, description: 'is given twice; send it once' })) }
      : { violations: [], problem: 'an object has the same key twice' };
  }
  if (/maximum recursion depth/.test(message)) return { violations: [], problem: 'nested too deeply' };
  const violation = locate(desc, json as Record<string, JsonValue>, '');
  return violation ? { violations: [violation] } : { violations: [], problem: 'cannot be decoded' };
};

/**
 * The error for a JSON request message that does not decode: InvalidArgument, GRPC-JSON-4v8e. It
 * keeps no cause: protobuf-es's error quotes the value, and a logger may print causes.
 */
export const jsonDecodeError = (desc: DescMessage, text: string, error: unknown): DomainError => {
  const { violations, problem } = describeJsonDecodeFailure(desc, text, error);
  return undecodable(desc, problem, violations);
};

const undecodable = (desc: DescMessage, problem: string | undefined, violations: FieldViolation[] = []): DomainError => {
  const what = problem ?? violations.map((v) => `${v.field}: ${v.description}`).join('; ');
  return new DomainError(ErrorKind.InvalidArgument, ErrorIds.GrpcJsonUndecodable, 'Errors.Invalid.Argument', `invalid ${desc.name}: ${what}`, violations);
};

/**
 * connect-es's JSON options for one method: a `textDecoder` that decodes the request message once
 * itself, with connect's own read options (unknown fields ignored), and throws our error when it
 * does not decode. connect reads request bytes with `jsonOptions.textDecoder` right before
 * `fromJsonString`, in every protocol, and passes a ConnectError it meets on unchanged; it would
 * otherwise answer with protobuf-es's message, which quotes the value (a password sent as a number).
 * A request that decodes is decoded again by connect: at most 16 KiB, twice.
 */
export const strictJsonOptions = (input: DescMessage) => {
  // Fatal, and keeping a byte-order mark: connect's default TextDecoder read bytes that are not
  // UTF-8 as U+FFFD (a password stored other than sent) and dropped a leading mark, both of which
  // the REST port (json-body.ts) and Go's protojson refuse.
  const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  return {
    ...readOptions,
    textDecoder: {
      decode(bytes?: Uint8Array): string {
        let json: string;
        try {
          json = utf8.decode(bytes);
        } catch {
          throw connectErrorOf(undecodable(input, 'not valid UTF-8'));
        }
        if (json.charCodeAt(0) === 0xfeff) throw connectErrorOf(undecodable(input, 'must not start with a byte-order mark'));
        try {
          fromJsonString(input, json, readOptions);
        } catch (error) {
          throw connectErrorOf(jsonDecodeError(input, json, error));
        }
        return json;
      },
    },
  };
};
