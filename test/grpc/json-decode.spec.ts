// The JSON decoder each Admin API method gets (json-decode.ts): what its refusals say, for every kind of field.
import { ConnectError } from '@connectrpc/connect';
import {
  AddSMTPConfigRequestSchema,
  MigrateGenericOIDCProviderRequestSchema,
  SetSecurityPolicyRequestSchema,
  SetUpOrgRequestSchema,
  UpdateSecretGeneratorRequestSchema,
} from '@zitadel/proto/zitadel/admin_pb.js';
import type { DescMessage } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { strictJsonOptions } from '../../src/infrastructure/grpc/json-decode.js';

/** What connect-es would answer for `json` sent to a method taking `desc`, or the JSON it reads on. */
const decode = (desc: DescMessage, json: string | Uint8Array) => {
  try {
    return { read: strictJsonOptions(desc).textDecoder.decode(typeof json === 'string' ? new TextEncoder().encode(json) : json) };
  } catch (e) {
    const error = ConnectError.from(e);
    const details = JSON.stringify(error.details.map((d) => d.value));
    return { code: error.code, message: error.rawMessage, quotes: `${error.rawMessage} ${details}`.includes('hunter2') };
  }
};
const refused = (message: string) => ({ code: 3, message: `${message} (GRPC-JSON-4v8e)`, quotes: false });

describe('the JSON decoder of a method', () => {
  it('passes a message that decodes on as it came, unknown fields and unknown enum names included (connect-es ignores them)', () => {
    const json = '{"senderAddress":"a@b.c","password":"hunter2","notAField":1}';
    expect(decode(AddSMTPConfigRequestSchema, json)).toEqual({ read: json });
    expect(decode(UpdateSecretGeneratorRequestSchema, '{"generatorType":"NO_SUCH_TYPE"}')).toEqual({ read: '{"generatorType":"NO_SUCH_TYPE"}' });
  });

  it('names the field and what it must be for each kind of field, never the value', () => {
    expect(decode(UpdateSecretGeneratorRequestSchema, '{"length":"hunter2"}')).toEqual(
      refused('invalid UpdateSecretGeneratorRequest: length: must be an unsigned 32-bit integer (a number or a decimal string)'),
    );
    expect(decode(UpdateSecretGeneratorRequestSchema, '{"generatorType":{"hunter2":1}}')).toEqual(
      refused("invalid UpdateSecretGeneratorRequest: generatorType: must be one of SecretGeneratorType's value names or numbers"),
    );
    expect(decode(SetSecurityPolicyRequestSchema, '{"allowedOrigins":"hunter2"}')).toEqual(refused('invalid SetSecurityPolicyRequest: allowedOrigins: must be an array of strings'));
    expect(decode(SetSecurityPolicyRequestSchema, '{"allowedOrigins":["a", {"hunter2":1}]}')).toEqual(
      refused('invalid SetSecurityPolicyRequest: allowedOrigins: must be an array of strings'),
    );
    expect(decode(SetUpOrgRequestSchema, '{"org":"hunter2"}')).toEqual(refused('invalid SetUpOrgRequest: org: must be an object'));
    // A nested message's field by its path (protobuf-es's own error names no path).
    expect(decode(SetUpOrgRequestSchema, '{"org":{"name":["hunter2"]}}')).toEqual(refused('invalid SetUpOrgRequest: org.name: must be a string'));
  });

  it('names a oneof set twice, and an enum or a well-known type whose own error names no field', () => {
    expect(decode(MigrateGenericOIDCProviderRequestSchema, '{"azure":{"name":"hunter2"},"google":{"name":"hunter2"}}')).toEqual(
      refused('invalid MigrateGenericOIDCProviderRequest: template: only one of azure, google may be set'),
    );
    // protobuf-es's own errors for these name the type, not the field.
    expect(decode(UpdateSecretGeneratorRequestSchema, '{"length":8,"expiry":"hunter2"}')).toEqual(
      refused('invalid UpdateSecretGeneratorRequest: expiry: must be a duration string such as "1.5s"'),
    );
    expect(decode(UpdateSecretGeneratorRequestSchema, '{"generatorType":true}')).toEqual(
      refused("invalid UpdateSecretGeneratorRequest: generatorType: must be one of SecretGeneratorType's value names or numbers"),
    );
  });

  it('says what is wrong with a body that is no message at all', () => {
    expect(decode(AddSMTPConfigRequestSchema, '["hunter2"]')).toEqual(refused('invalid AddSMTPConfigRequest: must be a JSON object'));
    expect(decode(AddSMTPConfigRequestSchema, 'null')).toEqual(refused('invalid AddSMTPConfigRequest: must be a JSON object'));
    expect(decode(AddSMTPConfigRequestSchema, '{"password":"hunter2"')).toEqual(refused('invalid AddSMTPConfigRequest: not valid JSON'));
    expect(decode(AddSMTPConfigRequestSchema, '')).toEqual(refused('invalid AddSMTPConfigRequest: not valid JSON'));
    // A duplicate key that is no field of the message (a map's key may be anything) is not named.
    expect(decode(SetUpOrgRequestSchema, '{"org":{"hunter2":1,"hunter2":2}}')).toEqual(refused('invalid SetUpOrgRequest: an object has the same key twice'));
  });

  it("names a field given twice only when the message's own object gives it twice, not a nested object with a key of that name", () => {
    // "host" is given once; the duplicate is inside a value protojson skips (an unknown field's).
    expect(decode(AddSMTPConfigRequestSchema, '{"host":"h:25","notAField":{"host":"hunter2","host":"hunter2"}}')).toEqual(
      refused('invalid AddSMTPConfigRequest: an object has the same key twice'),
    );
    expect(decode(SetUpOrgRequestSchema, '{"org":{"name":"a","name":"hunter2"}}')).toEqual(refused('invalid SetUpOrgRequest: an object has the same key twice'));
    // Given twice in the message itself, after a nested duplicate: still named.
    expect(decode(AddSMTPConfigRequestSchema, '{"notAField":{"a":1,"a":2},"host":"h:25","host":"hunter2"}')).toEqual(
      refused('invalid AddSMTPConfigRequest: host: is given twice; send it once'),
    );
  });

  it('refuses bytes that are not UTF-8 and a leading byte-order mark, as the REST port does, instead of reading U+FFFD or dropping the mark', () => {
    const utf8 = (s: string) => new TextEncoder().encode(s);
    const withBadByte = new Uint8Array([...utf8('{"password":"hunter2'), 0xff, ...utf8('"}')]);
    expect(decode(AddSMTPConfigRequestSchema, withBadByte)).toEqual(refused('invalid AddSMTPConfigRequest: not valid UTF-8'));
    expect(decode(AddSMTPConfigRequestSchema, new Uint8Array([0xef, 0xbb, 0xbf, ...utf8('{"password":"hunter2"}')]))).toEqual(
      refused('invalid AddSMTPConfigRequest: must not start with a byte-order mark'),
    );
    // A U+FEFF inside a string is text like any other.
    expect(decode(AddSMTPConfigRequestSchema, '{"description":"\ufeffx"}')).toEqual({ read: '{"description":"\ufeffx"}' });
  });
});
