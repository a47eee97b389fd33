import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, ConnectError, type Transport } from '@connectrpc/connect';
import { toBinary } from '@bufbuild/protobuf';
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { createServerTransport } from '@zitadel/client/node';
import { createAdminServiceClient } from '@zitadel/client/v1';
import { createClientTransport } from '@zitadel/client/web';
import { GetSMTPConfigByIdResponseSchema, GetSMTPConfigResponseSchema } from '@zitadel/proto/zitadel/admin_pb.js';
import { ErrorDetailSchema } from '@zitadel/proto/zitadel/message_pb.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateDevSigningKey, signToken } from '../support/everything.js';
import { BadRequestSchema } from '../../src/infrastructure/grpc/index.js';
import { CLI, runCli, spawnServer, waitForLine } from '../support/cli.js';
import { seedRequest } from '../support/fixtures.js';
import { send } from '../support/http-server.js';
import { toLoopback } from '../support/grpc.js';
import { startTestSmtpServer, type TestSmtpServer } from '../support/smtp-test-server.js';

/** The official client, as its README shows it; only the socket is pointed at 127.0.0.1 (see toLoopback). */
const TRANSPORTS = {
  'gRPC (createServerTransport)': (token: string, baseUrl: string, port: number) =>
    createServerTransport(token, { baseUrl, nodeOptions: toLoopback(port).nodeOptions }),
  'gRPC-web (createClientTransport)': (token: string, baseUrl: string, port: number) =>
    createClientTransport(token, { baseUrl, fetch: toLoopback(port).fetch } as Parameters<typeof createClientTransport>[1]),
} as const;

describe('ZITADEL’s official client against the server started as `npm start` starts it', () => {
  let dataDir: string;
  let server: ChildProcess;
  let restUrl: string;
  let grpcPort: number;
  let privateJwk: Awaited<ReturnType<typeof loadOrCreateDevSigningKey>>['privateJwk'];
  const instances: Record<string, string> = {};

  const tokenFor = (domain: string, roles: string[] = ['IAM_OWNER']) =>
    signToken(privateJwk, { userId: '69629023906488001', instanceId: instances[domain]!, roles });
  const addInstance = (domain: string) => {
    const run = runCli(CLI.instance, ['add', '--name', domain, '--domain', domain], dataDir);
    expect(run.status, run.stderr).toBe(0);
    instances[domain] = (JSON.parse(run.stdout) as { id: string }).id;
  };
  const client = (name: keyof typeof TRANSPORTS, token: string, domain: string) =>
    createAdminServiceClient(TRANSPORTS[name](token, `http://${domain}:${grpcPort}`, grpcPort) as Transport);
  const failure = async (call: Promise<unknown>): Promise<ConnectError> => {
    const error = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectError);
    return error as ConnectError;
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'smtp-grpc-'));
    server = spawnServer(dataDir, { GRPC_PORT: '0' });
    let out = '';
    server.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
    // The REST port comes up first, then gRPC (once @zitadel/proto has loaded).
    const grpcLine = JSON.parse(await waitForLine(server, /gRPC, gRPC-web and Connect on/, 60_000)) as { url: string };
    grpcPort = Number(new URL(grpcLine.url).port);
    const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    restUrl = lines.find((l) => String(l.msg).startsWith('listening on'))!.url as string;
    instances.localhost = lines.find((l) => typeof l.instanceId === 'string')!.instanceId as string;
    ({ privateJwk } = await loadOrCreateDevSigningKey(dataDir));
    addInstance('web.example.com');
    addInstance('json.example.com');
    addInstance('life.example.com');
    addInstance('life-web.example.com');
    await new Promise((r) => setTimeout(r, 300)); // the server sees the tool's events within 100 ms
  }, 90_000);
  afterAll(() => {
    if (server.exitCode === null) server.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  const domainOf = { 'gRPC (createServerTransport)': 'localhost', 'gRPC-web (createClientTransport)': 'web.example.com' } as const;

  describe.each(Object.keys(TRANSPORTS) as (keyof typeof TRANSPORTS)[])('%s', (name) => {
    const domain = domainOf[name];

    it('adds a configuration, reads it back as REST does, and gets AlreadyExists with ZITADEL’s message and ErrorDetail the second time', async () => {
      const admin = client(name, await tokenFor(domain), domain);
      const added = await admin.addSMTPConfig(seedRequest);
      expect(added.id).toMatch(/^\d+$/);
      expect(added.details?.resourceOwner).toBe(instances[domain]);
      expect(typeof added.details?.sequence).toBe('bigint');
      expect(added.details!.sequence).toBeGreaterThan(0n);

      const got = await admin.getSMTPConfigById({ id: added.id });
      const rest = await send(restUrl, { path: `/admin/v1/smtp/${added.id}`, host: domain, headers: { authorization: `Bearer ${await tokenFor(domain)}` } });
      expect(rest.status).toBe(200);
      const c = got.smtpConfig!;
      expect({
        details: {
          sequence: c.details!.sequence.toString(),
          creationDate: timestampDate(c.details!.creationDate!).toISOString(),
          changeDate: timestampDate(c.details!.changeDate!).toISOString(),
          resourceOwner: c.details!.resourceOwner,
        },
        id: c.id,
        senderAddress: c.senderAddress,
        senderName: c.senderName,
        tls: c.tls,
        host: c.host,
        user: c.user,
        replyToAddress: c.replyToAddress,
        description: c.description,
      }).toEqual(rest.json.smtpConfig);
      expect(c.details!.sequence).toBe(added.details!.sequence);

      const again = await failure(admin.addSMTPConfig(seedRequest));
      expect(again.code).toBe(Code.AlreadyExists);
      expect(again.rawMessage).toMatch(/ \(COMMAND-en9lw\)$/);
      expect(again.findDetails(ErrorDetailSchema)).toEqual([expect.objectContaining({ id: 'COMMAND-en9lw', message: 'SMTP configuration already exists' })]);
    });

    it('without a token: Unauthenticated (16), with its ErrorDetail', async () => {
      const e = await failure(client(name, '', domain).addSMTPConfig(seedRequest));
      expect(e.code).toBe(16);
      expect(e.findDetails(ErrorDetailSchema)[0]?.id).toBe('AUTH-7fs1e');
    });

    it('with a token without the role: PermissionDenied (7)', async () => {
      const e = await failure(client(name, await tokenFor(domain, []), domain).addSMTPConfig(seedRequest));
      expect(e.code).toBe(7);
      expect(e.rawMessage).toBe('No matching permissions found (AUTHZ-HdgL7)');
    });

    it('with an invalid field: InvalidArgument (3), the field named in the message and in google.rpc.BadRequest', async () => {
      const e = await failure(client(name, await tokenFor(domain), domain).addSMTPConfig({ ...seedRequest, host: 'smtp.example.com' }));
      expect(e.code).toBe(3);
      expect(e.rawMessage).toContain('host');
      const badRequest = e.findDetails(BadRequestSchema) as unknown as { fieldViolations: { field: string }[] }[];
      expect(badRequest[0]?.fieldViolations.map((v) => v.field)).toEqual(['host']);
      expect(e.findDetails(ErrorDetailSchema)[0]?.id).toBe('SMTP-VAL-4xq1');
    });

    it('on a host that is no instance’s domain: NotFound (5)', async () => {
      const e = await failure(client(name, await tokenFor(domain), 'nowhere.example.com').addSMTPConfig(seedRequest));
      expect(e.code).toBe(5);
      expect(e.rawMessage).toBe('Instance not found (INST-NotFound)');
    });

    it('a method we do not implement: Unimplemented (12)', async () => {
      const e = await failure(client(name, await tokenFor(domain), domain).listSMTPConfigs({}));
      expect(e.code).toBe(Code.Unimplemented);
    });
  });

  describe.each(Object.keys(TRANSPORTS) as (keyof typeof TRANSPORTS)[])('the configuration’s life through %s', (name) => {
    const domain = { 'gRPC (createServerTransport)': 'life.example.com', 'gRPC-web (createClientTransport)': 'life-web.example.com' }[name];
    let smtp: TestSmtpServer | undefined;
    afterEach(async () => {
      await smtp?.close();
      smtp = undefined;
    });
    const ms = (t: Timestamp | undefined) => timestampDate(t!).getTime();
    const refused = async (call: Promise<unknown>, code: Code, id: string) => {
      const e = await failure(call);
      expect({ code: e.code, detail: e.findDetails(ErrorDetailSchema)[0]?.id }).toEqual({ code, detail: id });
      expect(e.rawMessage).toMatch(new RegExp(` \\(${id}\\)$`));
      return e;
    };
    /** The instance's configuration; added from the seed when a test runs on its own (-t) and none is set. */
    const currentConfig = async (admin: ReturnType<typeof client>) =>
      (
        await admin.getSMTPConfig({}).catch(async (e: unknown) => {
          if (ConnectError.from(e).code !== Code.NotFound) throw e;
          await admin.addSMTPConfig(seedRequest);
          return admin.getSMTPConfig({});
        })
      ).smtpConfig!;

    it('add → get → update → password → remove → add again, each answered with ObjectDetails (uint64 sequence, Timestamps) and never a password', async () => {
      // The SMTP server accepts only the password set later, so the test mails show which one is used.
      smtp = await startTestSmtpServer({ mode: 'plain', auth: { user: 'mailer', password: 'second-secret' } });
      const admin = client(name, await tokenFor(domain), domain);
      const viewer = client(name, await tokenFor(domain, ['IAM_OWNER_VIEWER']), domain);
      const fields = {
        senderAddress: `noreply@${domain}`,
        senderName: 'Life',
        tls: false,
        host: smtp.host,
        user: 'mailer',
        replyToAddress: `support@${domain}`,
        description: 'the in-process SMTP server',
      };

      const added = await admin.addSMTPConfig({ ...fields, password: 'first-secret' });
      const first = added.details!.sequence;
      expect(added.details!.resourceOwner).toBe(instances[domain]);

      const got = await viewer.getSMTPConfig({});
      expect(got.smtpConfig).toMatchObject({ ...fields, id: added.id });
      expect(got.smtpConfig!.details).toMatchObject({ sequence: first, resourceOwner: instances[domain] });
      expect(ms(got.smtpConfig!.details!.creationDate)).toBe(ms(added.details!.creationDate));
      expect(Buffer.from(toBinary(GetSMTPConfigResponseSchema, got)).toString('latin1')).not.toContain('first-secret');

      const updated = await admin.updateSMTPConfig({ ...fields, id: added.id, senderName: 'Life 2', password: '' });
      expect(updated.details!.sequence).toBe(first + 1n);
      expect(updated.details!.resourceOwner).toBe(instances[domain]);
      expect(updated.details!.creationDate).toBeUndefined(); // a change has no creation date, as in ZITADEL
      const afterUpdate = await admin.getSMTPConfigById({ id: added.id });
      expect(afterUpdate.smtpConfig).toMatchObject({ ...fields, senderName: 'Life 2' });
      expect(afterUpdate.smtpConfig!.details!.sequence).toBe(first + 1n);
      expect(ms(afterUpdate.smtpConfig!.details!.changeDate)).toBe(ms(updated.details!.changeDate));
      expect(ms(afterUpdate.smtpConfig!.details!.creationDate)).toBe(ms(added.details!.creationDate));

      // The stored password is still the first one: the server refuses it.
      const wrong = await failure(admin.testSMTPConfigById({ id: added.id, receiverAddress: `admin@${domain}` }));
      expect(wrong.code).toBe(Code.FailedPrecondition);
      expect(wrong.rawMessage).toMatch(/authentication failed/);
      expect(wrong.rawMessage).not.toMatch(/first-secret|second-secret/);

      const password = await admin.updateSMTPConfigPassword({ id: added.id, password: 'second-secret' });
      expect(password.details!.sequence).toBe(first + 2n);
      await admin.testSMTPConfigById({ id: added.id, receiverAddress: `admin@${domain}` });
      expect(smtp.mails.map((m) => ({ to: m.envelopeTo, user: m.user, from: m.parsed.from?.value[0] }))).toEqual([
        { to: [`admin@${domain}`], user: 'mailer', from: { name: 'Life 2', address: `noreply@${domain}` } },
      ]);
      expect(smtp.authAttempts.map((a) => a.ok)).toEqual([false, true]);
      const afterPassword = await admin.getSMTPConfigById({ id: added.id });
      expect(afterPassword.smtpConfig!.details!.sequence).toBe(first + 2n);
      expect(Buffer.from(toBinary(GetSMTPConfigByIdResponseSchema, afterPassword)).toString('latin1')).not.toContain('second-secret');

      const removed = await admin.removeSMTPConfig({ id: added.id });
      expect(removed.details!.sequence).toBe(first + 3n);
      expect(removed.details!.resourceOwner).toBe(instances[domain]);
      await refused(admin.getSMTPConfigById({ id: added.id }), Code.NotFound, 'QUERY-B8ers');
      await refused(viewer.getSMTPConfig({}), Code.NotFound, 'QUERY-B8ers');

      const again = await admin.addSMTPConfig({ ...fields, password: 'second-secret' });
      expect(again.id).not.toBe(added.id);
      expect(again.details!.sequence).toBe(first + 4n);
      expect((await viewer.getSMTPConfig({})).smtpConfig).toMatchObject({ id: again.id, details: { sequence: first + 4n } });
    });

    it('an update that changes nothing: FailedPrecondition (9) with COMMAND-SMTP-nc9q; an invalid field: InvalidArgument (3); a viewer: PermissionDenied (7)', async () => {
      const admin = client(name, await tokenFor(domain), domain);
      const current = await currentConfig(admin);
      const same = {
        id: current.id,
        senderAddress: current.senderAddress,
        senderName: current.senderName,
        tls: current.tls,
        host: current.host,
        user: current.user,
        replyToAddress: current.replyToAddress,
        description: current.description,
        password: '',
      };
      await refused(admin.updateSMTPConfig(same), Code.FailedPrecondition, 'COMMAND-SMTP-nc9q');

      const invalid = await refused(admin.updateSMTPConfig({ ...same, host: 'no-port.example.com' }), Code.InvalidArgument, 'SMTP-VAL-4xq1');
      const badRequest = invalid.findDetails(BadRequestSchema) as unknown as { fieldViolations: { field: string }[] }[];
      expect(badRequest[0]?.fieldViolations.map((v) => v.field)).toEqual(['host']);
      await refused(admin.updateSMTPConfigPassword({ id: current.id, password: '' }), Code.InvalidArgument, 'SMTP-VAL-4xq1');

      const viewer = client(name, await tokenFor(domain, ['IAM_OWNER_VIEWER']), domain);
      await refused(viewer.removeSMTPConfig({ id: current.id }), Code.PermissionDenied, 'AUTHZ-HdgL7');
      await refused(viewer.testSMTPConfigById({ id: current.id, receiverAddress: `admin@${domain}` }), Code.PermissionDenied, 'AUTHZ-HdgL7');
      expect((await admin.getSMTPConfig({})).smtpConfig!.details!.sequence).toBe(current.details!.sequence); // nothing appended
    });

    it('an unknown id: NotFound (5) from every method that takes one', async () => {
      const admin = client(name, await tokenFor(domain), domain);
      const unknown = '4242424242';
      await refused(admin.getSMTPConfigById({ id: unknown }), Code.NotFound, 'QUERY-B8ers');
      await refused(admin.updateSMTPConfig({ ...seedRequest, id: unknown }), Code.NotFound, 'COMMAND-SMTP-nf4k');
      await refused(admin.updateSMTPConfigPassword({ id: unknown, password: 'x' }), Code.NotFound, 'COMMAND-SMTP-nf4k');
      await refused(admin.removeSMTPConfig({ id: unknown }), Code.NotFound, 'COMMAND-SMTP-nf4k');
      await refused(admin.testSMTPConfigById({ id: unknown, receiverAddress: `admin@${domain}` }), Code.NotFound, 'COMMAND-SMTP-nf4k');
      // TestSMTPConfig without a password uses the stored one of the configuration its id names.
      await refused(admin.testSMTPConfig({ ...seedRequest, password: '', id: unknown, receiverAddress: `admin@${domain}` }), Code.NotFound, 'COMMAND-SMTP-nf4k');
    });

    it('TestSMTPConfig sends a test mail with the request’s configuration and stores nothing', async () => {
      smtp = await startTestSmtpServer({ mode: 'plain' });
      const admin = client(name, await tokenFor(domain), domain);
      const before = await currentConfig(admin);
      await admin.testSMTPConfig({ senderAddress: `probe@${domain}`, senderName: 'Probe', tls: false, host: smtp.host, user: '', password: '', receiverAddress: `ops@${domain}`, id: '' });
      expect(smtp.mails.map((m) => ({ to: m.envelopeTo, from: m.parsed.from?.value[0], subject: m.parsed.subject }))).toEqual([
        { to: [`ops@${domain}`], from: { name: 'Probe', address: `probe@${domain}` }, subject: 'Test email' },
      ]);
      const after = (await admin.getSMTPConfig({})).smtpConfig!;
      expect(after).toEqual(before);
    });
  });

  it('gRPC with the +json content type takes and gives the REST body’s field names', async () => {
    const session = http2Connect(`http://127.0.0.1:${grpcPort}`);
    try {
      const json = Buffer.from(JSON.stringify(seedRequest));
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), json]);
      frame.writeUInt32BE(json.length, 1);
      const stream = session.request({
        ':method': 'POST',
        ':path': '/zitadel.admin.v1.AdminService/AddSMTPConfig',
        ':authority': `json.example.com:${grpcPort}`,
        'content-type': 'application/grpc+json',
        te: 'trailers',
        authorization: `Bearer ${await tokenFor('json.example.com')}`,
      });
      const trailers = new Promise<Record<string, unknown>>((r) => stream.once('trailers', (t) => r(t)));
      const headers = new Promise<Record<string, unknown>>((r) => stream.once('response', (h) => r(h)));
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      const ended = new Promise((r) => stream.once('end', r));
      stream.end(frame);
      await ended;
      expect((await headers)['content-type']).toBe('application/grpc+json');
      expect((await trailers)['grpc-status']).toBe('0');
      const body = Buffer.concat(chunks);
      const response = JSON.parse(body.subarray(5, 5 + body.readUInt32BE(1)).toString('utf8')) as Record<string, any>;
      // The same keys, in the same JSON form, as POST /admin/v1/smtp answers.
      expect(Object.keys(response).sort()).toEqual(['details', 'id']);
      expect(Object.keys(response.details).sort()).toEqual(['changeDate', 'creationDate', 'resourceOwner', 'sequence']);
      expect(response.details.sequence).toMatch(/^\d+$/);
      expect(response.details.resourceOwner).toBe(instances['json.example.com']);
      const rest = await send(restUrl, { path: `/admin/v1/smtp/${response.id}`, host: 'json.example.com', headers: { authorization: `Bearer ${await tokenFor('json.example.com')}` } });
      expect(rest.json.smtpConfig.details).toEqual({ ...response.details, creationDate: expect.any(String), changeDate: expect.any(String) });
      expect(Date.parse(rest.json.smtpConfig.details.creationDate)).toBe(Date.parse(response.details.creationDate));
    } finally {
      session.close();
    }
  });

  it('SIGTERM stops the gRPC port with the REST port, and the process exits 0', async () => {
    const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    const e = await failure(client('gRPC (createServerTransport)', await tokenFor('localhost'), 'localhost').getSMTPConfigById({ id: '1' }));
    expect(e.code).toBe(Code.Unavailable); // connection refused: nothing listens any more
  });
});
