// The gRPC listener in process, on the in-memory adapters: shutdown, faults, timeouts and logs.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Code, ConnectError } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { createServerTransport } from '@zitadel/client/node';
import { createAdminServiceClient } from '@zitadel/client/v1';
import { ErrorDetailSchema } from '@zitadel/proto/zitadel/message_pb.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, JwtAuthenticator, loadOrCreateDevSigningKey, signToken, verificationKeyFrom, DEV_ISSUER, type AddSmtpConfigUseCase, type GetSmtpConfigQuery } from '../support/everything.js';
import { startGrpcServer, type GrpcServer } from '../../src/infrastructure/grpc/index.js';
import { pgStoreError } from '../../src/infrastructure/postgres/errors.js';
import { createHarness, seedRequest, type Harness } from '../support/fixtures.js';
import { answerText, errorOfAnswer, grpcFrame, rawPost, toLoopback } from '../support/grpc.js';
import { validationTable } from '../support/validation-table.js';
import { BadRequestSchema } from '../../src/infrastructure/grpc/index.js';

const LIMITS = { headersTimeoutMs: 300, requestTimeoutMs: 400, keepAliveTimeoutMs: 5_000, maxConnections: 16 };

describe('the gRPC listener', () => {
  let harness: Harness;
  let dir: string;
  let server: GrpcServer | undefined;
  let logs: string[];
  let instanceId: string;
  let token: string;

  const start = async (overrides: { addSmtpConfig?: AddSmtpConfigUseCase; getSmtpConfig?: GetSmtpConfigQuery } = {}) => {
    const dev = await loadOrCreateDevSigningKey(dir);
    token = await signToken(dev.privateJwk, { userId: 'u1', instanceId, roles: ['IAM_OWNER'] });
    const logStream = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    server = await startGrpcServer({
      addSmtpConfig: overrides.addSmtpConfig ?? harness.addSmtpConfig,
      getSmtpConfig: overrides.getSmtpConfig ?? harness.getSmtpConfig,
      queries: harness.readModel,
      authenticator: new JwtAuthenticator({ key: await verificationKeyFrom({ publicJwk: dev.publicJwk }), issuer: DEV_ISSUER }),
      logger: createLogger({ LOG_LEVEL: 'info' }, logStream),
      host: '127.0.0.1',
      port: 0,
      limits: LIMITS,
    });
    return server;
  };
  const client = () => {
    const port = Number(new URL(server!.url).port);
    return createAdminServiceClient(createServerTransport(token, { baseUrl: `http://acme.example.com:${port}`, nodeOptions: toLoopback(port).nodeOptions }));
  };
  const failure = (call: Promise<unknown>) =>
    call.then(
      () => expect.unreachable('the call succeeded'),
      (e: unknown) => ConnectError.from(e),
    );

  beforeEach(async () => {
    harness = createHarness();
    dir = mkdtempSync(join(tmpdir(), 'smtp-grpc-unit-'));
    logs = [];
    const setUp = await harness.setUpInstance.execute({ name: 'acme', domains: ['acme.example.com'] });
    await harness.runner.waitFor(setUp.position, 5_000);
    instanceId = setUp.instanceId;
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await harness.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('while draining answers new calls UNAVAILABLE (14) with ErrorDetail HTTP-SHUTDOWN, and lets the call in flight finish', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    await start({
      addSmtpConfig: {
        execute: async (call: Parameters<AddSmtpConfigUseCase['execute']>[0]) => {
          entered();
          await gate;
          return harness.addSmtpConfig.execute(call);
        },
      } as AddSmtpConfigUseCase,
    });
    const inFlight = client().addSMTPConfig(seedRequest);
    await inside;
    const drained = server!.drain(10_000);
    const refused = await failure(client().getSMTPConfigById({ id: '1' }));
    expect(refused.code).toBe(Code.Unavailable);
    expect(refused.findDetails(ErrorDetailSchema)[0]?.id).toBe('HTTP-SHUTDOWN');
    release();
    expect((await inFlight).id).toMatch(/^\d+$/);
    expect(await drained).toEqual({ inFlight: 0 });
  });

  it('speaks the Connect protocol too (HTTP/1.1, JSON): the answer, then ZITADEL’s error with its ErrorDetail', async () => {
    await start();
    const port = Number(new URL(server!.url).port);
    const admin = createAdminServiceClient(
      createConnectTransport({
        baseUrl: `http://acme.example.com:${port}`,
        httpVersion: '1.1',
        useBinaryFormat: false,
        interceptors: [(next) => (req) => (req.header.set('authorization', `Bearer ${token}`), next(req))],
        nodeOptions: { createConnection: () => netConnect(port, '127.0.0.1') },
      }),
    );
    const added = await admin.addSMTPConfig(seedRequest);
    expect((await admin.getSMTPConfigById({ id: added.id })).smtpConfig?.senderAddress).toBe(seedRequest.senderAddress);
    const e = await failure(admin.addSMTPConfig(seedRequest));
    expect([e.code, e.rawMessage]).toEqual([Code.AlreadyExists, 'SMTP configuration already exists (COMMAND-en9lw)']);
    expect(e.findDetails(ErrorDetailSchema)[0]?.id).toBe('COMMAND-en9lw');
  });

  it('without the lifecycle use cases (as on REST, an embedder’s choice) their methods answer UNIMPLEMENTED (12), and Add and GetById still work', async () => {
    await start();
    const admin = client();
    const { id } = await admin.addSMTPConfig(seedRequest);
    expect((await admin.getSMTPConfigById({ id })).smtpConfig?.id).toBe(id);
    for (const call of [admin.getSMTPConfig({}), admin.removeSMTPConfig({ id }), admin.testSMTPConfigById({ id, receiverAddress: 'a@example.com' })]) {
      expect((await failure(call)).code).toBe(Code.Unimplemented);
    }
  });

  it('answers an unexpected fault INTERNAL (13) without its detail, and logs it', async () => {
    await start({
      getSmtpConfig: { execute: async () => Promise.reject(new Error('connection to db at 10.0.0.5 lost, password hunter2')) } as unknown as GetSmtpConfigQuery,
    });
    const e = await failure(client().getSMTPConfigById({ id: '1' }));
    expect(e.code).toBe(Code.Internal);
    expect(e.rawMessage).toBe('Internal error (HTTP-500)');
    expect(JSON.stringify(e.findDetails(ErrorDetailSchema))).not.toContain('hunter2');
    expect(logs.some((l) => JSON.parse(l).msg === 'request failed' && l.includes('hunter2'))).toBe(true);
  });

  it('answers a store that cannot take the write UNAVAILABLE (14) with its reason, and logs it as a warning with the store’s own error', async () => {
    const cause = Object.assign(new Error('could not extend file "base/1/2": No space left on device'), { code: '53100', hint: 'Check free disk space.' });
    await start({ addSmtpConfig: { execute: async () => Promise.reject(pgStoreError(cause)) } as unknown as AddSmtpConfigUseCase });
    const e = await failure(client().addSMTPConfig(seedRequest));
    expect(e.code).toBe(Code.Unavailable);
    expect(e.rawMessage).toMatch(/^the store cannot write now \(PostgreSQL is out of disk space.*\(STORE-unav-7q3m\)$/);
    expect(e.rawMessage).not.toContain('base/1/2');
    const logged = logs.map((l) => JSON.parse(l) as Record<string, any>).filter((l) => l.method === 'zitadel.admin.v1.AdminService/AddSMTPConfig');
    expect(logged).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'request failed: the store cannot take it',
        code: 14,
        errorId: 'STORE-unav-7q3m',
        reason: expect.stringMatching(/out of disk space/),
        err: expect.objectContaining({ code: '53100', message: cause.message, hint: 'Check free disk space.' }),
      }),
    ]);
  });

  it('logs each call with a request id, the method and its code, and never the token or the password', async () => {
    await start();
    await client().addSMTPConfig(seedRequest);
    await failure(client().addSMTPConfig(seedRequest));
    const calls = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.method === 'zitadel.admin.v1.AdminService/AddSMTPConfig');
    expect(calls.map((l) => [l.msg, l.code])).toEqual([
      ['request completed', 0],
      ['request rejected', 6],
    ]);
    expect(new Set(calls.map((l) => l.reqId)).size).toBe(2);
    expect(logs.join('\n')).not.toContain(token);
    expect(logs.join('\n')).not.toContain(seedRequest.password);
  });

  it('AddSMTPConfig refuses what REST refuses, row for row of the API document’s limits: InvalidArgument (3) naming the one field, in the message and in google.rpc.BadRequest', async () => {
    await start();
    const admin = client();
    // proto3 cannot carry a non-string or an absent field (absent is empty), and protobuf-es writes
    // a lone surrogate as U+FFFD before it leaves the client: those rows are REST's alone.
    const rows = validationTable.filter(
      ([description, patch]) =>
        !/surrogate/.test(description) && Object.entries(patch).every(([k, v]) => v === undefined || typeof v === typeof (seedRequest as Record<string, unknown>)[k]),
    );
    expect(rows.length).toBeGreaterThan(80);
    const outcomes = [];
    for (const [description, patch, field] of rows) {
      const request = Object.fromEntries(Object.entries({ ...seedRequest, ...patch }).filter(([, v]) => v !== undefined));
      const e = await admin.addSMTPConfig(request).then(
        () => undefined,
        (error: unknown) => ConnectError.from(error),
      );
      // Accepted rows add the configuration once, then meet it: AlreadyExists, never InvalidArgument.
      const refusedFor =
        e?.code === Code.InvalidArgument
          ? (e.findDetails(BadRequestSchema) as unknown as { fieldViolations: { field: string }[] }[])[0]?.fieldViolations.map((v) => v.field).join()
          : undefined;
      const named = e !== undefined && field !== undefined && e.rawMessage.includes(`${field}: `);
      outcomes.push({ description, refusedFor, named: field === undefined ? undefined : named });
    }
    expect(outcomes).toEqual(rows.map(([description, , field]) => ({ description, refusedFor: field, named: field === undefined ? undefined : true })));
  });

  it('logs a call refused before it reaches the service (over 16 KiB, not protobuf, an unknown path) once, with its code, and never the password', async () => {
    await start();
    const port = Number(new URL(server!.url).port);
    const tooBig = { ...seedRequest, password: 'hunter2-too-big', description: 'd'.repeat(17 * 1024) };
    expect((await failure(client().addSMTPConfig(tooBig))).code).toBe(Code.ResourceExhausted);
    const web = createAdminServiceClient(
      createGrpcWebTransport({
        baseUrl: `http://acme.example.com:${port}`,
        httpVersion: '1.1',
        nodeOptions: { createConnection: () => netConnect(port, '127.0.0.1') },
      }),
    );
    expect((await failure(web.addSMTPConfig(tooBig))).code).toBe(Code.ResourceExhausted);
    // A frame whose bytes are no AddSMTPConfigRequest, and a path no method has.
    const raw = (path: string, body: Buffer) =>
      new Promise<void>((resolve, reject) => {
        // Written, not ended: `Connection: close` has the server end the connection once it answered.
        const socket = netConnect(port, '127.0.0.1', () =>
          socket.write(
            `POST ${path} HTTP/1.1\r\nHost: acme.example.com\r\nContent-Type: application/grpc-web+proto\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.toString('latin1')}`,
          ),
        );
        socket.resume();
        socket.on('close', () => resolve());
        socket.on('error', reject);
      });
    await raw('/zitadel.admin.v1.AdminService/AddSMTPConfig', Buffer.from([0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]));
    await raw('/zitadel.admin.v1.AdminService/NoSuchMethod', Buffer.alloc(0));
    await new Promise((r) => setTimeout(r, 50));
    const rejected = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request rejected');
    expect(rejected.map((l) => [l.method, l.code, l.status])).toEqual([
      ['zitadel.admin.v1.AdminService/AddSMTPConfig', Code.ResourceExhausted, 200],
      ['zitadel.admin.v1.AdminService/AddSMTPConfig', Code.ResourceExhausted, 200],
      ['zitadel.admin.v1.AdminService/AddSMTPConfig', Code.Internal, 200],
      ['zitadel.admin.v1.AdminService/NoSuchMethod', undefined, 404],
    ]);
    expect(rejected.every((l) => typeof l.reqId === 'string')).toBe(true);
    expect(logs.join('\n')).not.toContain('hunter2-too-big');
  });

  describe('a JSON request message it cannot decode', () => {
    const ADD = '/zitadel.admin.v1.AdminService/AddSMTPConfig';
    const base = { senderAddress: 'a@b.c', senderName: 'x', host: 'h:25' };
    // Each JSON protocol: HTTP version, content type, and how the message goes in the body.
    const protocols = [
      { name: 'Connect, HTTP/1.1', http: '1.1', contentType: 'application/json', frame: (m: string) => m },
      { name: 'Connect, HTTP/2', http: '2', contentType: 'application/json', frame: (m: string) => m },
      { name: 'gRPC', http: '2', contentType: 'application/grpc+json', frame: grpcFrame },
      { name: 'gRPC-web, HTTP/1.1', http: '1.1', contentType: 'application/grpc-web+json', frame: grpcFrame },
      { name: 'gRPC-web, HTTP/2', http: '2', contentType: 'application/grpc-web+json', frame: grpcFrame },
    ] as const;
    const post = (protocol: (typeof protocols)[number], json: string) =>
      rawPost(Number(new URL(server!.url).port), protocol.http, ADD, { 'content-type': protocol.contentType, authorization: `Bearer ${token}` }, protocol.frame(json));

    it('answers INVALID_ARGUMENT (3) naming the field and what it must be, in ZITADEL’s error shape, in every JSON protocol, and never quotes the value', async () => {
      await start();
      const cases = [
        { patch: { password: 12345678 }, field: 'password', description: 'must be a string', value: '12345678' },
        { patch: { host: 987654321 }, field: 'host', description: 'must be a string', value: '987654321' },
        { patch: { tls: 'hunter2-as-tls' }, field: 'tls', description: 'must be a boolean', value: 'hunter2-as-tls' },
        { patch: { password: ['hunter2-in-a-list'] }, field: 'password', description: 'must be a string', value: 'hunter2-in-a-list' },
        { patch: { password: { secret: 'hunter2-in-an-object' } }, field: 'password', description: 'must be a string', value: 'hunter2-in-an-object' },
      ];
      const outcomes = [];
      for (const protocol of protocols) {
        for (const { patch, field, description, value } of cases) {
          const answer = await post(protocol, JSON.stringify({ ...base, ...patch }));
          const e = errorOfAnswer(answer);
          outcomes.push({
            protocol: protocol.name,
            field,
            code: e?.code,
            message: e?.rawMessage,
            errorDetail: e?.findDetails(ErrorDetailSchema).map((d) => [d.id, d.message]),
            violations: (e?.findDetails(BadRequestSchema) as unknown as { fieldViolations: { field: string; description: string }[] }[] | undefined)?.flatMap(
              (b) => b.fieldViolations.map((v) => [v.field, v.description]),
            ),
            quotesValue: answerText(answer).includes(value),
          });
        }
      }
      expect(outcomes).toEqual(
        protocols.flatMap((protocol) =>
          cases.map(({ field, description }) => ({
            protocol: protocol.name,
            field,
            code: Code.InvalidArgument,
            message: `invalid AddSMTPConfigRequest: ${field}: ${description} (GRPC-JSON-4v8e)`,
            errorDetail: [['GRPC-JSON-4v8e', `invalid AddSMTPConfigRequest: ${field}: ${description}`]],
            violations: [[field, description]],
            quotesValue: false,
          })),
        ),
      );
      const logged = logs.join('\n');
      for (const { value } of cases) expect(logged).not.toContain(value);
      // Nothing was added: the next valid call is the first.
      expect((await client().addSMTPConfig(seedRequest)).id).toMatch(/^\d+$/);
    });

    it('answers a body that is not JSON, not an object, or names a field twice INVALID_ARGUMENT (3) without quoting it', async () => {
      await start();
      const cases = [
        { json: '{"senderAddress":"a@b.c","password":"hunter2-unterminated', message: 'invalid AddSMTPConfigRequest: not valid JSON', secret: 'hunter2' },
        { json: '{"password": hunter2-bare}', message: 'invalid AddSMTPConfigRequest: not valid JSON', secret: 'hunter2' },
        { json: '"hunter2-alone"', message: 'invalid AddSMTPConfigRequest: must be a JSON object', secret: 'hunter2' },
        {
          json: '{"password":"hunter2-first","password":"hunter2-second"}',
          message: 'invalid AddSMTPConfigRequest: password: is given twice; send it once',
          secret: 'hunter2',
        },
        {
          json: '{"senderAddress":"a@b.c","sender_address":"hunter2@b.c"}',
          // Worded as the REST port words it.
          message: 'invalid AddSMTPConfigRequest: senderAddress: is given twice, as "senderAddress" and as "sender_address"; send one',
          secret: 'hunter2',
        },
      ];
      const outcomes = [];
      for (const protocol of protocols) {
        for (const { json, secret } of cases) {
          const answer = await post(protocol, json);
          const e = errorOfAnswer(answer);
          outcomes.push({ protocol: protocol.name, json, code: e?.code, message: e?.rawMessage, id: e?.findDetails(ErrorDetailSchema)[0]?.id, quotes: answerText(answer).includes(secret) });
        }
      }
      expect(outcomes).toEqual(
        protocols.flatMap((protocol) =>
          cases.map(({ json, message }) => ({ protocol: protocol.name, json, code: Code.InvalidArgument, message: `${message} (GRPC-JSON-4v8e)`, id: 'GRPC-JSON-4v8e', quotes: false })),
        ),
      );
      // Connect's streaming JSON is no unary method's type: refused before anything is decoded.
      const streaming = await rawPost(Number(new URL(server!.url).port), '2', ADD, { 'content-type': 'application/connect+json' }, grpcFrame('{"password":"hunter2-streamed"}'));
      expect([streaming.status, answerText(streaming).includes('hunter2')]).toEqual([415, false]);
      expect(logs.join('\n')).not.toContain('hunter2');
    });

    it('logs each refusal once with its code, in every JSON protocol (Connect answers it in the body, not in a grpc-status)', async () => {
      await start();
      for (const protocol of protocols) await post(protocol, JSON.stringify({ ...base, password: 12345678 }));
      await new Promise((r) => setTimeout(r, 50));
      const rejected = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request rejected');
      expect(rejected.map((l) => [l.method, l.code])).toEqual(protocols.map(() => ['zitadel.admin.v1.AdminService/AddSMTPConfig', Code.InvalidArgument]));
      expect(logs.join('\n')).not.toContain('12345678');
    });

    it('decodes the other methods’ JSON the same way, implemented or not, and still reads a valid JSON message', async () => {
      await start();
      const port = Number(new URL(server!.url).port);
      const json = (path: string, body: string) =>
        rawPost(port, '1.1', path, { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body).then(errorOfAnswer);
      const byId = await json('/zitadel.admin.v1.AdminService/GetSMTPConfigById', '{"id":424242}');
      expect([byId?.code, byId?.rawMessage]).toEqual([Code.InvalidArgument, 'invalid GetSMTPConfigByIdRequest: id: must be a string (GRPC-JSON-4v8e)']);
      const unimplemented = await json('/zitadel.admin.v1.AdminService/AddEmailProviderSMTP', '{"password":424242}');
      expect([unimplemented?.code, unimplemented?.rawMessage]).toEqual([Code.InvalidArgument, 'invalid AddEmailProviderSMTPRequest: password: must be a string (GRPC-JSON-4v8e)']);
      expect((await json('/zitadel.admin.v1.AdminService/AddEmailProviderSMTP', '{"password":"p"}'))?.code).toBe(Code.Unimplemented);
      // Unknown fields are still ignored, as connect-es ignores them.
      const added = await rawPost(port, '1.1', ADD, { 'content-type': 'application/json', authorization: `Bearer ${token}` }, JSON.stringify({ ...seedRequest, notAField: 1 }));
      expect([added.status, errorOfAnswer(added)]).toEqual([200, undefined]);
      expect(JSON.parse(added.body.toString('utf8')).id).toMatch(/^\d+$/);
    });
  });

  it('answers a request without a Host, with two, or with one no URL can hold, as REST does, instead of ending the process', async () => {
    await start();
    const port = Number(new URL(server!.url).port);
    const empty = Buffer.from([0, 0, 0, 0, 0]); // GetSMTPConfigById {}
    const overHttp1 = (hostLines: string) =>
      new Promise<string>((resolve, reject) => {
        // Written, not ended: `Connection: close` has the server end the connection once it answered.
        const socket = netConnect(port, '127.0.0.1', () =>
          socket.write(
            `POST /zitadel.admin.v1.AdminService/GetSMTPConfigById HTTP/1.1\r\n${hostLines}Content-Type: application/grpc-web+proto\r\n` +
              `Authorization: Bearer ${token}\r\nContent-Length: 5\r\nConnection: close\r\n\r\n${empty.toString('latin1')}`,
          ),
        );
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('close', () => resolve(decodeURIComponent(Buffer.concat(chunks).toString('latin1').match(/grpc-status: ?\d+\r\n|grpc-message: [^\r]*/g)?.join('') ?? '')));
        socket.on('error', reject);
      });
    expect(await overHttp1('')).toBe('grpc-message: the Host header is missing (HTTP-HOST)grpc-status: 3\r\n');
    expect(await overHttp1('Host: acme.example.com\r\nHost: other.example.com\r\n')).toBe('grpc-message: more than one Host header (HTTP-HOST)grpc-status: 3\r\n');
    // A port no URL can hold: the instance is its domain's, as on REST.
    expect(await overHttp1('Host: acme.example.com:99999\r\n')).toBe('grpc-message: SMTP configuration not found (QUERY-B8ers)grpc-status: 5\r\n');

    const session = http2Connect(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/zitadel.admin.v1.AdminService/GetSMTPConfigById',
        ':authority': 'acme.example.com:99999',
        'content-type': 'application/grpc',
        te: 'trailers',
        authorization: `Bearer ${token}`,
      });
      const trailers = new Promise<Record<string, unknown>>((r) => stream.once('trailers', (t) => r(t)));
      stream.resume();
      stream.end(empty);
      expect((await trailers)['grpc-status']).toBe('5');
    } finally {
      session.close();
    }
    // Still serving.
    expect((await client().addSMTPConfig(seedRequest)).id).toMatch(/^\d+$/);
  });

  it('cuts an HTTP/1.1 client whose headers trickle in slower than the headers timeout, on its first request and on a kept-alive one', async () => {
    await start();
    const port = Number(new URL(server!.url).port);
    const trickle = (first: string) =>
      new Promise<{ ms: number; answer: string }>((resolve, reject) => {
        let startedAt = Date.now();
        let answer = '';
        let timer: NodeJS.Timeout | undefined;
        const socket = netConnect(port, '127.0.0.1', () => socket.write(first));
        socket.on('data', (c: Buffer) => {
          answer += c.toString('latin1');
          // The first answer is complete: the connection is kept alive; now a request whose headers trickle.
          if (timer === undefined && answer.includes('\r\n0\r\n\r\n')) start();
        });
        const start = () => {
          startedAt = Date.now();
          socket.write('POST /zitadel.admin.v1.AdminService/GetSMTPConfigById HTTP/1.1\r\n');
          timer = setInterval(() => socket.write('x-slow: 1\r\n'), 100);
        };
        if (first === '') start();
        socket.on('error', () => undefined);
        socket.on('close', () => {
          clearInterval(timer);
          resolve({ ms: Date.now() - startedAt, answer });
        });
        setTimeout(() => reject(new Error('still open after 5 s')), 5_000).unref();
      });
    const cut = await trickle('');
    expect(cut.ms).toBeLessThan(2_000);
    expect(cut.answer).toMatch(/^HTTP\/1.1 408/);
    const ok =
      'POST /zitadel.admin.v1.AdminService/GetSMTPConfigById HTTP/1.1\r\nHost: acme.example.com\r\nContent-Type: application/grpc-web+proto\r\nContent-Length: 5\r\n\r\n\0\0\0\0\0';
    const kept = await trickle(ok);
    expect(kept.answer).toMatch(/^HTTP\/1.1 200/);
    expect(kept.ms).toBeLessThan(2_000);
  });

  it('lets a gRPC-web call whose request arrived run longer than the request timeout', async () => {
    await start({
      getSmtpConfig: {
        execute: async (call: Parameters<GetSmtpConfigQuery['execute']>[0]) => {
          await new Promise((r) => setTimeout(r, LIMITS.requestTimeoutMs * 2));
          return harness.getSmtpConfig.execute(call);
        },
      } as GetSmtpConfigQuery,
    });
    const port = Number(new URL(server!.url).port);
    const web = createAdminServiceClient(
      createGrpcWebTransport({
        baseUrl: `http://acme.example.com:${port}`,
        httpVersion: '1.1',
        interceptors: [(next) => (req) => (req.header.set('authorization', `Bearer ${token}`), next(req))],
        nodeOptions: { createConnection: () => netConnect(port, '127.0.0.1') },
      }),
    );
    const { id } = await web.addSMTPConfig(seedRequest);
    expect((await web.getSMTPConfigById({ id })).smtpConfig?.id).toBe(id);
  });

  it('cuts a connection that sends nothing within the headers timeout, and a request whose body never comes within the request timeout', async () => {
    await start();
    const port = Number(new URL(server!.url).port);
    const closedAfter = (send?: string) =>
      new Promise<number>((resolve, reject) => {
        const startedAt = Date.now();
        const socket = netConnect(port, '127.0.0.1', () => send && socket.write(send));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(Date.now() - startedAt));
        setTimeout(() => reject(new Error('still open after 5 s')), 5_000).unref();
      });
    expect(await closedAfter()).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs - 50);
    const partial =
      'POST /zitadel.admin.v1.AdminService/AddSMTPConfig HTTP/1.1\r\nHost: acme.example.com\r\nContent-Type: application/grpc-web+proto\r\nContent-Length: 100\r\n\r\n';
    expect(await closedAfter(partial)).toBeGreaterThanOrEqual(LIMITS.requestTimeoutMs - 50);
  });
});
