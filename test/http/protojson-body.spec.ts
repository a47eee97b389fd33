// The REST bodies as ZITADEL's gateway (grpc-gateway with protojson) reads them: a field under its
// proto name or its JSON name, `null` as absent, a field given twice (under both names, or one name
// twice) refused; DELETE with any
// body; a Content-Type other than JSON named as such; a `__proto__` key dropped like any unknown field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair } from 'jose';
import * as AdminProto from '@zitadel/proto/zitadel/admin_pb.js';
import {
  createLogger,
  instanceStreamId,
  JwtAuthenticator,
  jwtAuthenticate,
  signToken,
  smtpConfigPlugin,
  type SmtpMail,
  type SmtpMailer,
  type SmtpSenderConfig,
} from '../support/everything.js';
import { startGrpcServer, type GrpcServer } from '../../src/infrastructure/grpc/index.js';
import { normaliseProtoJsonBody, protoNameOf, SmtpProtoJsonMessages } from '../../src/infrastructure/http/protojson-body.js';
import { createHarness, seedRequest, smtpLifecycleOf, type Harness } from '../support/fixtures.js';
import { send } from '../support/http-server.js';

const ISSUER = 'https://issuer.example';
const BAD_REQUEST = 'type.googleapis.com/google.rpc.BadRequest';
const JSON_TYPE = { 'content-type': 'application/json' };
/** A host label from a test's name. */
const label = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

/** The seed request under its proto field names, as a client generated from admin.proto might send it. */
const snakeSeed = {
  sender_address: seedRequest.senderAddress,
  sender_name: seedRequest.senderName,
  tls: seedRequest.tls,
  host: seedRequest.host,
  user: seedRequest.user,
  password: seedRequest.password,
  reply_to_address: seedRequest.replyToAddress,
  description: seedRequest.description,
};

describe('REST request bodies read as protojson reads them', () => {
  let h: Harness;
  let app: FastifyInstance;
  let grpc: GrpcServer;
  let privateJwk: Parameters<typeof signToken>[0];
  const mails: { config: SmtpSenderConfig; mail: SmtpMail }[] = [];
  const mailer: SmtpMailer = {
    async send(config, mail) {
      mails.push({ config, mail });
    },
  };

  beforeAll(async () => {
    h = createHarness();
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    privateJwk = { ...(await exportJWK(privateKey)), alg: 'ES256' };
    const authenticator = new JwtAuthenticator({ key: publicKey, issuer: ISSUER });
    const smtpLifecycle = smtpLifecycleOf(h, mailer);
    app = Fastify();
    await app.register(smtpConfigPlugin, {
      addSmtpConfig: h.addSmtpConfig,
      getSmtpConfig: h.getSmtpConfig,
      queries: h.readModel,
      authenticate: jwtAuthenticate(authenticator),
      smtpLifecycle,
    });
    await app.ready();
    grpc = await startGrpcServer({
      addSmtpConfig: h.addSmtpConfig,
      getSmtpConfig: h.getSmtpConfig,
      smtpLifecycle,
      queries: h.readModel,
      authenticator,
      logger: createLogger({ LOG_LEVEL: 'silent' }),
      host: '127.0.0.1',
      port: 0,
      limits: { headersTimeoutMs: 5_000, requestTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, maxConnections: 16 },
    });
  });
  afterAll(async () => {
    await grpc.close();
    await app.close();
    await h.close();
  });

  /** A fresh instance and a REST client for it (`payload` as a string is sent as is). */
  const tenant = async (name: string) => {
    const instanceId = await h.newInstance(name);
    const host = `${name}.example.com`;
    const authorization = `Bearer ${await signToken(privateJwk, { userId: 'admin-1', instanceId, roles: ['IAM_OWNER'], issuer: ISSUER })}`;
    const call = async (method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) => {
      const res = await app.inject({
        method: method as 'POST',
        url,
        headers: { host, authorization, ...(payload !== undefined && typeof payload !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(payload !== undefined ? { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) } : {}),
      });
      return { status: res.statusCode, json: res.json() as any };
    };
    const revision = async () => (await h.events.readStream(instanceStreamId(instanceId))).currentRevision;
    return { instanceId, host, authorization, call, revision };
  };
  const violationsOf = (json: any) => json.details.find((d: { '@type': string }) => d['@type'] === BAD_REQUEST)?.fieldViolations;

  describe('proto field names', () => {
    it('POST /admin/v1/smtp takes the proto names, and stores what the JSON names store', async () => {
      const snake = await tenant('snake');
      const camel = await tenant('camel');
      const added = await snake.call('POST', '/admin/v1/smtp', snakeSeed);
      expect(added.status, JSON.stringify(added.json)).toBe(200);
      expect((await camel.call('POST', '/admin/v1/smtp', seedRequest)).status).toBe(200);
      const viaSnake = (await snake.call('GET', '/admin/v1/smtp')).json.smtpConfig;
      const viaCamel = (await camel.call('GET', '/admin/v1/smtp')).json.smtpConfig;
      const fields = ({ details: _d, id: _i, ...rest }: Record<string, unknown>) => rest;
      expect(fields(viaSnake)).toEqual(fields(viaCamel));
      expect(fields(viaSnake)).toMatchObject({ senderAddress: seedRequest.senderAddress, replyToAddress: seedRequest.replyToAddress });
    });

    it('answers the proto names on the REST port as the Connect JSON endpoint on the gRPC port does', async () => {
      const rest = await tenant('parity-rest');
      const connect = await tenant('parity-connect');
      const viaConnect = await send(grpc.url, {
        method: 'POST',
        path: '/zitadel.admin.v1.AdminService/AddSMTPConfig',
        host: connect.host,
        headers: { authorization: connect.authorization },
        body: snakeSeed,
      });
      expect(viaConnect.status, viaConnect.text).toBe(200);
      const viaRest = await rest.call('POST', '/admin/v1/smtp', snakeSeed);
      expect(viaRest.status).toBe(200);
      const stored = async (t: typeof rest) => {
        const { details: _d, id: _i, ...fields } = (await t.call('GET', '/admin/v1/smtp')).json.smtpConfig;
        return fields;
      };
      expect(await stored(rest)).toEqual(await stored(connect));
    });

    it('every lifecycle route takes the proto names: update, password, test mail, test mail by id', async () => {
      const t = await tenant('lifecycle-snake');
      const id = (await t.call('POST', '/admin/v1/smtp', snakeSeed)).json.id as string;

      const updated = await t.call('PUT', `/admin/v1/smtp/${id}`, { ...snakeSeed, password: undefined, sender_name: 'Renamed', reply_to_address: 'replies@example.com' });
      expect(updated.status, JSON.stringify(updated.json)).toBe(200);
      const read = (await t.call('GET', '/admin/v1/smtp')).json.smtpConfig;
      expect(read).toMatchObject({ senderName: 'Renamed', replyToAddress: 'replies@example.com' });

      expect((await t.call('PUT', `/admin/v1/smtp/${id}/password`, { password: 'new-secret-1', id })).status).toBe(200);

      mails.length = 0;
      const tested = await t.call('POST', '/admin/v1/smtp/_test', { ...snakeSeed, receiver_address: 'inbox@customer.example.com' });
      expect(tested.status, JSON.stringify(tested.json)).toBe(200);
      expect(mails.map((m) => [m.mail.to, m.config.senderAddress])).toEqual([['inbox@customer.example.com', seedRequest.senderAddress]]);

      mails.length = 0;
      const byId = await t.call('POST', `/admin/v1/smtp/${id}/_test`, { receiver_address: 'other@customer.example.com' });
      expect(byId.status, JSON.stringify(byId.json)).toBe(200);
      expect(mails.map((m) => [m.mail.to, m.config.senderName, m.config.password])).toEqual([['other@customer.example.com', 'Renamed', 'new-secret-1']]);
    });

    it('names the JSON field in a violation, whichever name the body used', async () => {
      const t = await tenant('snake-violations');
      const res = await t.call('POST', '/admin/v1/smtp', { ...snakeSeed, sender_address: ' ', reply_to_address: 'x'.repeat(201) });
      expect(res.status).toBe(400);
      expect(violationsOf(res.json)).toEqual([
        { field: 'senderAddress', description: 'must not be blank (it is only white space)' },
        { field: 'replyToAddress', description: 'must be at most 200 characters (got 201)' },
      ]);
      const test = await t.call('POST', '/admin/v1/smtp/_test', { ...snakeSeed, receiver_address: '\t' });
      expect(violationsOf(test.json)).toEqual([{ field: 'receiverAddress', description: 'must not be blank (it is only white space)' }]);
    });

    it.each([
      ['POST', () => '/admin/v1/smtp', { ...seedRequest, sender_address: seedRequest.senderAddress }, 'AddSMTPConfigRequest', 'senderAddress', ['senderAddress', 'sender_address']],
      ['POST', () => '/admin/v1/smtp', { ...snakeSeed, replyToAddress: '' }, 'AddSMTPConfigRequest', 'replyToAddress', ['reply_to_address', 'replyToAddress']],
      // protojson counts a null as the field given, too.
      ['POST', () => '/admin/v1/smtp', { ...seedRequest, sender_name: null }, 'AddSMTPConfigRequest', 'senderName', ['senderName', 'sender_name']],
      ['PUT', (id: string) => `/admin/v1/smtp/${id}`, { ...seedRequest, sender_name: 'B' }, 'UpdateSMTPConfigRequest', 'senderName', ['senderName', 'sender_name']],
      ['POST', () => '/admin/v1/smtp/_test', { ...seedRequest, receiverAddress: 'a@b.co', receiver_address: 'a@b.co' }, 'TestSMTPConfigRequest', 'receiverAddress', ['receiverAddress', 'receiver_address']],
      ['POST', (id: string) => `/admin/v1/smtp/${id}/_test`, { receiver_address: 'a@b.co', receiverAddress: 'c@d.co' }, 'TestSMTPConfigByIdRequest', 'receiverAddress', ['receiver_address', 'receiverAddress']],
    ] as const)('%s %s with both names of one field is 400 naming the field, and changes nothing (%s)', async (method, path, body, request, field, names) => {
      const t = await tenant(`twice-${label(request)}-${label(field)}-${label(names[0])}`);
      const id = (await t.call('POST', '/admin/v1/smtp', seedRequest)).json.id as string;
      const before = await t.revision();
      mails.length = 0;
      const res = await t.call(method, path(id), body);
      expect(res.status).toBe(400);
      expect(res.json.code).toBe(3);
      expect(res.json.message).toContain(`invalid ${request}: ${field}: is given twice`);
      expect(violationsOf(res.json)).toEqual([{ field, description: `is given twice, as "${names[0]}" and as "${names[1]}"; send one` }]);
      expect(await t.revision()).toEqual(before);
      expect(mails).toEqual([]);
    });
  });

  describe('a field given twice under one name', () => {
    /** `body` as JSON text with `key` given once more in front, as `value` (JSON.stringify cannot write that). */
    const withKeyTwice = (body: object, key: string, value: unknown) => `{${JSON.stringify(key)}:${JSON.stringify(value)},${JSON.stringify(body).slice(1)}`;

    it.each([
      ['POST', () => '/admin/v1/smtp', withKeyTwice(seedRequest, 'host', 'other.example.com:25'), 'AddSMTPConfigRequest', 'host'],
      ['POST', () => '/admin/v1/smtp', withKeyTwice(snakeSeed, 'sender_address', 'other@example.com'), 'AddSMTPConfigRequest', 'senderAddress'],
      // protojson counts a null as the field given, too.
      ['POST', () => '/admin/v1/smtp', withKeyTwice({ ...seedRequest, description: null }, 'description', null), 'AddSMTPConfigRequest', 'description'],
      ['PUT', (id: string) => `/admin/v1/smtp/${id}`, withKeyTwice(seedRequest, 'password', 'other-secret'), 'UpdateSMTPConfigRequest', 'password'],
      ['PUT', (id: string) => `/admin/v1/smtp/${id}`, withKeyTwice({ ...seedRequest, id: '1' }, 'id', '1'), 'UpdateSMTPConfigRequest', 'id'],
      ['PUT', (id: string) => `/admin/v1/smtp/${id}/password`, withKeyTwice({ password: 'new-secret' }, 'password', 'other-secret'), 'UpdateSMTPConfigPasswordRequest', 'password'],
      ['POST', () => '/admin/v1/smtp/_test', withKeyTwice({ ...seedRequest, receiverAddress: 'a@b.co' }, 'receiverAddress', 'c@d.co'), 'TestSMTPConfigRequest', 'receiverAddress'],
      ['POST', (id: string) => `/admin/v1/smtp/${id}/_test`, withKeyTwice({ receiver_address: 'a@b.co' }, 'receiver_address', 'a@b.co'), 'TestSMTPConfigByIdRequest', 'receiverAddress'],
    ] as const)('%s %s with one key twice is 400 naming the field, and changes nothing (%s)', async (method, path, body, request, field) => {
      const t = await tenant(`same-key-${label(request)}-${label(field)}-${label(body.slice(2, 12))}`);
      const id = (await t.call('POST', '/admin/v1/smtp', seedRequest)).json.id as string;
      const before = await t.revision();
      mails.length = 0;
      const res = await t.call(method, path(id), body, JSON_TYPE);
      expect(res.status, JSON.stringify(res.json)).toBe(400);
      expect(res.json.code).toBe(3);
      expect(res.json.message).toBe(`invalid ${request}: ${field}: is given twice; send it once (SMTP-VAL-4xq1)`);
      expect(res.json.details[0]).toMatchObject({ id: 'SMTP-VAL-4xq1' });
      expect(violationsOf(res.json)).toEqual([{ field, description: 'is given twice; send it once' }]);
      expect(await t.revision()).toEqual(before);
      expect(mails).toEqual([]);
    });

    it('words it as the Connect JSON endpoint on the gRPC port does, and never quotes either value', async () => {
      const rest = await tenant('same-key-parity-rest');
      const connect = await tenant('same-key-parity-connect');
      const body = withKeyTwice(seedRequest, 'password', 'hunter2-first');
      const viaConnect = await send(grpc.url, {
        method: 'POST',
        path: '/zitadel.admin.v1.AdminService/AddSMTPConfig',
        host: connect.host,
        headers: { authorization: connect.authorization },
        body,
      });
      expect(viaConnect.status).toBe(400);
      const viaRest = await rest.call('POST', '/admin/v1/smtp', body, JSON_TYPE);
      expect(viaRest.status).toBe(400);
      // The same words; each port puts its own error id after them.
      const withoutId = (message: string) => message.replace(/ \([\w-]+\)$/, '');
      expect(withoutId(viaRest.json.message)).toBe(withoutId((JSON.parse(viaConnect.text) as { message: string }).message));
      expect(JSON.stringify(viaRest.json)).not.toMatch(/hunter2|secret/);
    });

    it('a key written with an escape is the same key ("\\u0068ost" is "host")', async () => {
      const t = await tenant('same-key-escaped');
      const res = await t.call('POST', '/admin/v1/smtp', `{"\\u0068ost":"other.example.com:25",${JSON.stringify(seedRequest).slice(1)}`, JSON_TYPE);
      expect(res.status).toBe(400);
      expect(violationsOf(res.json)).toEqual([{ field: 'host', description: 'is given twice; send it once' }]);
    });

    it('one violation per field, however often and under whichever names it is given', async () => {
      const t = await tenant('same-key-thrice');
      const body = `{"sender_address":"a@b.co","senderAddress":"c@d.co",${withKeyTwice(seedRequest, 'host', 'x.example.com:25').slice(1, -1)},"host":"y.example.com:25"}`;
      const res = await t.call('POST', '/admin/v1/smtp', body, JSON_TYPE);
      expect(res.status).toBe(400);
      expect(violationsOf(res.json)).toEqual([
        { field: 'senderAddress', description: 'is given twice; send it once' },
        { field: 'host', description: 'is given twice; send it once' },
      ]);
    });

    it('keys the message does not have may repeat, inside and outside nested objects, as protojson skips them unread', async () => {
      const t = await tenant('same-key-unknown');
      const nested = '{"host":"a","host":"b","deeper":[{"password":1,"password":2}]}';
      const body = `{"extra":1,"extra":${nested},"note":"\\"host\\":\\"x\\",{\\"host\\"",${JSON.stringify(seedRequest).slice(1)}`;
      const res = await t.call('POST', '/admin/v1/smtp', body, JSON_TYPE);
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      const stored = (await t.call('GET', '/admin/v1/smtp')).json.smtpConfig;
      expect(stored).toMatchObject({ host: seedRequest.host, description: seedRequest.description });
    });

    it('backslashes and escaped quotes in values neither hide a key given twice nor make one up', async () => {
      const t = await tenant('same-key-escapes');
      // An unknown key's value that ends in an escaped backslash, then one that looks like a key.
      const tricky = `"extra":"${'\\\\'.repeat(300)}","other":"\\",\\"host\\":\\"x\\"\\\\"`;
      const once = await t.call('POST', '/admin/v1/smtp', `{${tricky},${JSON.stringify(seedRequest).slice(1)}`, JSON_TYPE);
      expect(once.status, JSON.stringify(once.json)).toBe(200);
      const twice = await t.call('POST', '/admin/v1/smtp', `{${tricky},"host":"x.example.com:25",${JSON.stringify(seedRequest).slice(1)}`, JSON_TYPE);
      expect(twice.status).toBe(400);
      expect(violationsOf(twice.json)).toEqual([{ field: 'host', description: 'is given twice; send it once' }]);
    });
  });

  describe('null is an absent field', () => {
    it('POST with null for every optional field adds the defaults', async () => {
      const t = await tenant('nulls');
      const res = await t.call('POST', '/admin/v1/smtp', { ...seedRequest, tls: null, user: null, password: null, replyToAddress: null, description: null });
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      expect((await t.call('GET', '/admin/v1/smtp')).json.smtpConfig).toMatchObject({ tls: false, user: '', replyToAddress: '', description: '' });
    });

    it('null for a field under its proto name is absent too', async () => {
      const t = await tenant('snake-nulls');
      const res = await t.call('POST', '/admin/v1/smtp', { ...snakeSeed, reply_to_address: null, tls: null });
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      expect((await t.call('GET', '/admin/v1/smtp')).json.smtpConfig).toMatchObject({ tls: false, replyToAddress: '', senderName: seedRequest.senderName });
    });

    it('a required field that is null is "is required", under its JSON name', async () => {
      const t = await tenant('null-required');
      const res = await t.call('POST', '/admin/v1/smtp', { ...snakeSeed, host: null, sender_address: null });
      expect(res.status).toBe(400);
      expect(violationsOf(res.json)).toEqual([
        { field: 'senderAddress', description: 'is required' },
        { field: 'host', description: 'is required' },
      ]);
    });

    it('PUT with "password": null keeps the stored password, as an absent one does', async () => {
      const t = await tenant('null-password');
      const id = (await t.call('POST', '/admin/v1/smtp', { ...seedRequest, password: 'stored-secret' })).json.id as string;
      const res = await t.call('PUT', `/admin/v1/smtp/${id}`, { ...seedRequest, password: null, description: null, senderName: 'Changed' });
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      mails.length = 0;
      expect((await t.call('POST', `/admin/v1/smtp/${id}/_test`, { receiverAddress: 'a@customer.example.com' })).status).toBe(200);
      expect(mails.map((m) => m.config.password)).toEqual(['stored-secret']);
    });
  });

  describe('DELETE takes no body', () => {
    it.each([
      ['application/json, empty', { 'content-type': 'application/json' }, ''],
      ['application/json; charset=utf-8, empty', { 'content-type': 'application/json; charset=utf-8' }, ''],
      ['text/plain, empty', { 'content-type': 'text/plain' }, ''],
      ['application/xml, empty', { 'content-type': 'application/xml' }, ''],
      ['application/json with {}', { 'content-type': 'application/json' }, '{}'],
      ['application/json with text that is not JSON', { 'content-type': 'application/json' }, 'not json'],
      ['no Content-Type, with a body', {}, 'whatever'],
    ])('DELETE /admin/v1/smtp/{id} with %s removes the configuration', async (name, headers, payload) => {
      const t = await tenant(`delete-${label(name)}`);
      const id = (await t.call('POST', '/admin/v1/smtp', seedRequest)).json.id as string;
      const res = await t.call('DELETE', `/admin/v1/smtp/${id}`, payload, headers);
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      expect(res.json.details.resourceOwner).toBe(t.instanceId);
      expect((await t.call('GET', '/admin/v1/smtp')).status).toBe(404);
    });
  });

  describe('other content types', () => {
    it.each([
      ['text/plain', 'Content-Type "text/plain" is not supported; send application/json'],
      ['text/plain; charset=utf-8', 'Content-Type "text/plain" is not supported; send application/json'],
      ['application/x-www-form-urlencoded', 'Content-Type "application/x-www-form-urlencoded" is not supported; send application/json'],
    ])('a JSON body sent as %s is 400, code 3, saying the type is not supported', async (type, message) => {
      const t = await tenant(`type-${label(type)}`);
      const before = await t.revision();
      const res = await t.call('POST', '/admin/v1/smtp', JSON.stringify(seedRequest), { 'content-type': type });
      expect(res.status).toBe(400);
      expect(res.json.code).toBe(3);
      expect(res.json.details[0]).toEqual({ '@type': 'type.googleapis.com/zitadel.v1.ErrorDetail', id: 'HTTP-BODY', message });
      expect(await t.revision()).toEqual(before);
    });

    it('a body without a Content-Type says so', async () => {
      const t = await tenant('type-none');
      const res = await t.call('PUT', '/admin/v1/smtp/1/password', '{"password":"x"}');
      expect(res.status).toBe(400);
      expect(res.json.details[0].message).toBe('a body without a Content-Type is not supported; send application/json');
    });
  });

  describe('a "__proto__" key is dropped, as protojson drops a field the message does not have', () => {
    it('POST with "__proto__" beside the fields adds the configuration', async () => {
      const t = await tenant('proto-key');
      const res = await t.call('POST', '/admin/v1/smtp', `{"__proto__":{"x":1},${JSON.stringify(seedRequest).slice(1)}`, JSON_TYPE);
      expect(res.status, JSON.stringify(res.json)).toBe(200);
    });

    it('fields inside "__proto__" are not read as the body’s', async () => {
      const t = await tenant('proto-fields');
      const { host: _host, ...withoutHost } = seedRequest;
      const res = await t.call('POST', '/admin/v1/smtp', `{"__proto__":{"host":"smtp.example.com:25"},${JSON.stringify(withoutHost).slice(1)}`, JSON_TYPE);
      expect(res.status).toBe(400);
      expect(violationsOf(res.json)).toEqual([{ field: 'host', description: 'is required' }]);
    });
  });

  it('says "without a scheme" for a host given as a URL', async () => {
    const t = await tenant('host-scheme');
    const res = await t.call('POST', '/admin/v1/smtp', { ...seedRequest, host: 'smtp://smtp.example.com:25' });
    expect(violationsOf(res.json)).toEqual([{ field: 'host', description: 'must be host:port without a scheme (drop "smtp://")' }]);
  });
});

describe('the proto names the REST routes take', () => {
  const protoMessages = {
    add: AdminProto.AddSMTPConfigRequestSchema,
    update: AdminProto.UpdateSMTPConfigRequestSchema,
    password: AdminProto.UpdateSMTPConfigPasswordRequestSchema,
    test: AdminProto.TestSMTPConfigRequestSchema,
    testById: AdminProto.TestSMTPConfigByIdRequestSchema,
  } as const;

  it.each(Object.keys(protoMessages) as (keyof typeof protoMessages)[])('%s: every field of the proto message, under both its names', (key) => {
    const ours = SmtpProtoJsonMessages[key];
    for (const field of protoMessages[key].fields) {
      expect(ours.fieldByName.get(field.name), field.name).toBe(field.jsonName);
      expect(ours.fieldByName.get(field.jsonName), field.jsonName).toBe(field.jsonName);
    }
    expect(ours.name).toBe(protoMessages[key].name);
  });

  it('derives a proto name from a JSON name as protoc derives the other way', () => {
    expect(['senderAddress', 'replyToAddress', 'tls'].map(protoNameOf)).toEqual(['sender_address', 'reply_to_address', 'tls']);
  });

  it('passes a body that is not an object on unchanged, for validation to judge', () => {
    for (const body of [null, [], 'text', 3, undefined]) expect(normaliseProtoJsonBody(body, SmtpProtoJsonMessages.add)).toBe(body);
  });

  it('keeps unknown keys (the schema strips them) and never touches the prototype', () => {
    const body = JSON.parse('{"extra":null,"constructor":"c","host":"h:1"}') as Record<string, unknown>;
    const out = normaliseProtoJsonBody(body, SmtpProtoJsonMessages.add) as Record<string, unknown>;
    expect(out).toEqual({ extra: null, constructor: 'c', host: 'h:1' });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });
});
