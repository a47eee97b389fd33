import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  catchUpReadModel,
  InMemoryProjectionStore,
  instanceStreamId,
  NodemailerSmtpMailer,
  TOKENS,
  type EventStore,
  type ProjectionStore,
} from '../support/everything.js';
import { seedRequest } from '../support/fixtures.js';
import { send, startTestServer, type HttpResponse, type TestServer } from '../support/http-server.js';
import { startTestSmtpServer, testCertificate, type TestSmtpServer } from '../support/smtp-test-server.js';

const RFC3339_MS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const errorId = (res: HttpResponse): string | undefined =>
  res.json?.details?.find((d: { '@type': string }) => d['@type'] === 'type.googleapis.com/zitadel.v1.ErrorDetail')?.id;

describe('the SMTP configuration’s life over HTTP', () => {
  let server: TestServer;
  let smtpServers: TestSmtpServer[] = [];
  const events = () => server.app.container.get<EventStore>(TOKENS.EventStore);
  const readModel = () => server.app.container.get<ProjectionStore>(TOKENS.ProjectionStore);

  beforeAll(async () => {
    const mailer = new NodemailerSmtpMailer({ tls: { ca: (await testCertificate()).cert }, connectTimeoutMs: 2_000, sendTimeoutMs: 5_000 });
    server = await startTestServer({}, { mailer });
  });
  afterAll(() => server.close());
  afterEach(async () => {
    await Promise.all(smtpServers.map((s) => s.close()));
    smtpServers = [];
  });
  const smtpServer = async (options: Parameters<typeof startTestSmtpServer>[0]) => {
    const s = await startTestSmtpServer(options);
    smtpServers.push(s);
    return s;
  };

  /** A fresh instance on its own domain, and a client for it with the given role. */
  const tenant = async (domain: string, role = 'IAM_OWNER') => {
    const instanceId = await server.newInstance(domain);
    const token = await server.token({ instanceId, roles: [role] });
    const call = (method: string, path: string, body?: object, as = token) =>
      send(server.url, { method, path, host: domain, headers: { authorization: `Bearer ${as}` }, ...(body ? { body } : {}) });
    return { instanceId, token, call };
  };

  it('add → update → password → remove → add again, each with its details; the read model equals a rebuild from the events', async () => {
    const { instanceId, call } = await tenant('life.example.com');
    const viewer = await server.token({ instanceId, roles: ['IAM_OWNER_VIEWER'] });

    const added = await call('POST', '/admin/v1/smtp', seedRequest);
    expect(added.status).toBe(200);
    const id = added.json.id as string;
    expect(added.json.details).toMatchObject({ sequence: '3', resourceOwner: instanceId });

    const read = await call('GET', '/admin/v1/smtp', undefined, viewer);
    expect(read.status).toBe(200);
    expect(read.json.smtpConfig).toEqual({
      details: added.json.details,
      id,
      senderAddress: seedRequest.senderAddress,
      senderName: seedRequest.senderName,
      tls: true,
      host: seedRequest.host,
      user: seedRequest.user,
      replyToAddress: seedRequest.replyToAddress,
      description: seedRequest.description,
    });
    expect(read.text).not.toMatch(/password/i);

    const updated = await call('PUT', `/admin/v1/smtp/${id}`, { ...seedRequest, password: undefined, host: 'smtp.example.com:465', senderName: 'ACME' });
    expect(updated.status).toBe(200);
    expect(Object.keys(updated.json.details)).toEqual(['sequence', 'changeDate', 'resourceOwner']);
    expect(updated.json.details).toMatchObject({ sequence: '4', resourceOwner: instanceId });
    expect(updated.json.details.changeDate).toMatch(RFC3339_MS_UTC);
    const changed = await events().readStream(instanceStreamId(instanceId));
    expect(changed.events.at(-1)).toMatchObject({ type: 'instance.smtp.config.changed', data: { id, host: 'smtp.example.com:465', senderName: 'ACME' } });
    expect(Object.keys(changed.events.at(-1)!.data as object).sort()).toEqual(['host', 'id', 'senderName']);

    const afterUpdate = await call('GET', `/admin/v1/smtp/${id}`, undefined, viewer);
    expect(afterUpdate.json.smtpConfig).toMatchObject({
      host: 'smtp.example.com:465',
      senderName: 'ACME',
      details: { sequence: '4', creationDate: added.json.details.creationDate, changeDate: updated.json.details.changeDate },
    });

    const password = await call('PUT', `/admin/v1/smtp/${id}/password`, { password: 'rotated-secret-2026' });
    expect(password.status).toBe(200);
    expect(password.json.details).toMatchObject({ sequence: '5', resourceOwner: instanceId });
    const passwordEvent = (await events().readStream(instanceStreamId(instanceId))).events.at(-1)!;
    expect(passwordEvent.type).toBe('instance.smtp.config.password.changed');
    expect(JSON.stringify(passwordEvent.data)).not.toContain('rotated-secret-2026');
    expect(passwordEvent.data).toMatchObject({ id, password: { cryptoType: 'encryption', algorithm: 'AES-256-GCM' } });

    const removed = await call('DELETE', `/admin/v1/smtp/${id}`);
    expect(removed.status).toBe(200);
    expect(removed.json.details).toMatchObject({ sequence: '6', resourceOwner: instanceId });
    for (const path of ['/admin/v1/smtp', `/admin/v1/smtp/${id}`]) {
      const gone = await call('GET', path, undefined, viewer);
      expect({ status: gone.status, code: gone.json.code }).toEqual({ status: 404, code: 5 });
    }
    expect(await readModel().smtpConfigById(instanceId, id)).toBeUndefined();

    const again = await call('POST', '/admin/v1/smtp', { ...seedRequest, senderName: 'Second' });
    expect(again.status).toBe(200);
    expect(again.json.id).not.toBe(id);
    expect(again.json.details).toMatchObject({ sequence: '7', resourceOwner: instanceId });
    expect((await call('GET', '/admin/v1/smtp', undefined, viewer)).json.smtpConfig).toMatchObject({ id: again.json.id, senderName: 'Second' });

    const rebuilt = new InMemoryProjectionStore();
    await catchUpReadModel(events(), rebuilt, 10_000);
    expect(await readModel().snapshot()).toEqual(await rebuilt.snapshot());
  });

  it('refuses an update that changes nothing with code 9 and its own id, and stores nothing', async () => {
    const { instanceId, call } = await tenant('noop.example.com');
    const { json } = await call('POST', '/admin/v1/smtp', seedRequest);
    const before = (await events().readStream(instanceStreamId(instanceId))).currentRevision;
    const res = await call('PUT', `/admin/v1/smtp/${json.id}`, { ...seedRequest, password: '' });
    expect({ status: res.status, code: res.json.code, id: errorId(res) }).toEqual({ status: 400, code: 9, id: 'COMMAND-SMTP-nc9q' });
    expect((await events().readStream(instanceStreamId(instanceId))).currentRevision).toBe(before);
  });

  it('removes with DELETE sent with "Content-Type: application/json" and no body, over TCP (with Content-Length: 0 and without)', async () => {
    const { token, call } = await tenant('delete-json.example.com');
    for (const length of [{ 'content-length': '0' }, {}] as Record<string, string>[]) {
      const { json } = await call('POST', '/admin/v1/smtp', seedRequest);
      const res = await send(server.url, {
        method: 'DELETE',
        path: `/admin/v1/smtp/${json.id}`,
        host: 'delete-json.example.com',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...length },
      });
      expect(res.status, res.text).toBe(200);
      expect((await call('GET', '/admin/v1/smtp')).status).toBe(404);
    }
  });

  it('answers 404, code 5 for unknown ids and for another instance’s configuration; 403 for a viewer’s writes; 400 for bad input', async () => {
    const a = await tenant('tenant-a.example.com');
    const b = await tenant('tenant-b.example.com');
    const { json } = await a.call('POST', '/admin/v1/smtp', seedRequest);
    const foreign = json.id as string;
    const attempts: [string, string, object?][] = [
      ['GET', `/admin/v1/smtp/${foreign}`],
      ['PUT', `/admin/v1/smtp/${foreign}`, seedRequest],
      ['PUT', `/admin/v1/smtp/${foreign}/password`, { password: 'x' }],
      ['DELETE', `/admin/v1/smtp/${foreign}`],
      ['POST', `/admin/v1/smtp/${foreign}/_test`, { receiverAddress: 'a@b.example.com' }],
      ['GET', '/admin/v1/smtp'],
      ['DELETE', '/admin/v1/smtp/123'],
    ];
    for (const [method, path, body] of attempts) {
      const res = await b.call(method, path, body);
      expect({ what: `${method} ${path}`, status: res.status, code: res.json.code }).toEqual({ what: `${method} ${path}`, status: 404, code: 5 });
    }
    expect((await a.call('GET', '/admin/v1/smtp')).json.smtpConfig.id).toBe(foreign);

    const viewer = await server.token({ instanceId: a.instanceId, roles: ['IAM_OWNER_VIEWER'] });
    expect((await a.call('DELETE', `/admin/v1/smtp/${foreign}`, undefined, viewer)).status).toBe(403);
    expect((await a.call('PUT', `/admin/v1/smtp/${foreign}/password`, { password: 'x' }, viewer)).status).toBe(403);
    const none = await server.token({ instanceId: a.instanceId, roles: [] });
    expect((await a.call('GET', '/admin/v1/smtp', undefined, none)).status).toBe(403);

    const bad = await a.call('PUT', `/admin/v1/smtp/${foreign}`, { ...seedRequest, host: 'no-port' });
    expect({ status: bad.status, code: bad.json.code }).toEqual({ status: 400, code: 3 });
    expect(bad.json.details[1].fieldViolations.map((v: { field: string }) => v.field)).toEqual(['host']);
    const emptyPassword = await a.call('PUT', `/admin/v1/smtp/${foreign}/password`, { password: '' });
    expect(emptyPassword.json.details[1].fieldViolations).toEqual([{ field: 'password', description: 'must not be empty' }]);
  });

  describe('test mails', () => {
    const config = (smtp: TestSmtpServer, overrides: object = {}) => ({ ...seedRequest, host: smtp.host, user: 'mailer', password: 'pw-right', ...overrides });

    it('sends the request’s configuration over implicit TLS and stores nothing', async () => {
      const { instanceId, call } = await tenant('test-implicit.example.com');
      const smtp = await smtpServer({ mode: 'implicit', auth: { user: 'mailer', password: 'pw-right' } });
      const before = (await events().readStream(instanceStreamId(instanceId))).currentRevision;
      const res = await call('POST', '/admin/v1/smtp/_test', { ...config(smtp), receiverAddress: 'admin@customer.example.com' });
      expect({ status: res.status, body: res.json }).toEqual({ status: 200, body: {} });
      expect(smtp.mails).toHaveLength(1);
      expect(smtp.mails[0]!.secure).toBe(true);
      expect(smtp.mails[0]!.parsed.from?.value).toEqual([{ name: seedRequest.senderName, address: seedRequest.senderAddress }]);
      expect(smtp.mails[0]!.parsed.replyTo?.value).toEqual([{ name: '', address: seedRequest.replyToAddress }]);
      expect(smtp.mails[0]!.envelopeTo).toEqual(['admin@customer.example.com']);
      expect((await events().readStream(instanceStreamId(instanceId))).currentRevision).toBe(before);
    });

    it('sends over STARTTLS and to a server without AUTH', async () => {
      const { call } = await tenant('test-starttls.example.com');
      const starttls = await smtpServer({ mode: 'starttls', auth: { user: 'mailer', password: 'pw-right', methods: ['LOGIN'] } });
      expect((await call('POST', '/admin/v1/smtp/_test', { ...config(starttls), receiverAddress: 'x@customer.example.com' })).status).toBe(200);
      expect(starttls.mails.map((m) => ({ secure: m.secure, user: m.user }))).toEqual([{ secure: true, user: 'mailer' }]);
      const open = await smtpServer({ mode: 'plain' });
      const res = await call('POST', '/admin/v1/smtp/_test', { ...config(open, { tls: false, user: '', password: '' }), receiverAddress: 'y@customer.example.com' });
      expect(res.status).toBe(200);
      expect(open.mails.map((m) => m.envelopeTo)).toEqual([['y@customer.example.com']]);
    });

    it('answers a wrong password with an authentication error in the seed’s shape, and no line of the log has the password', async () => {
      const { call } = await tenant('test-wrong.example.com');
      const smtp = await smtpServer({ mode: 'implicit', auth: { user: 'mailer', password: 'pw-right', methods: ['PLAIN'] } });
      const wrong = 'Wr0ng-Pa55word-in-the-log?';
      const logsBefore = server.logs.length;
      const res = await call('POST', '/admin/v1/smtp/_test', { ...config(smtp, { password: wrong }), receiverAddress: 'a@customer.example.com' });
      expect(res.status).toBe(400);
      expect(res.json).toEqual({
        code: 9,
        message: expect.stringMatching(/^authentication failed: the SMTP server 127\.0\.0\.1:\d+ refused the user name or password \(535.*\) \(SMTP-TEST-auth1\)$/),
        details: [{ '@type': 'type.googleapis.com/zitadel.v1.ErrorDetail', id: 'SMTP-TEST-auth1', message: expect.stringContaining('authentication failed') }],
      });
      expect(res.text).not.toContain(wrong);
      const lines = server.logs.slice(logsBefore);
      expect(lines.some((l) => l.includes('SMTP-TEST-auth1'))).toBe(true);
      for (const line of server.logs) {
        expect(line).not.toContain(wrong);
        expect(line).not.toContain(Buffer.from(wrong).toString('base64'));
      }
      expect(smtp.mails).toEqual([]);
    });

    it('after PUT …/password, the stored configuration’s test mail authenticates with the new password', async () => {
      const { call } = await tenant('test-rotate.example.com');
      const smtp = await smtpServer({ mode: 'implicit', auth: { user: 'mailer', password: 'pw-old' } });
      const { json } = await call('POST', '/admin/v1/smtp', config(smtp, { password: 'pw-old' }));
      const id = json.id as string;
      expect((await call('POST', `/admin/v1/smtp/${id}/_test`, { receiverAddress: 'a@customer.example.com' })).status).toBe(200);

      // The server moves to a new password: the stored one no longer works …
      smtp.authAttempts.length = 0;
      const rotated = await smtpServer({ mode: 'implicit', auth: { user: 'mailer', password: 'pw-new' } });
      expect((await call('PUT', `/admin/v1/smtp/${id}`, config(rotated, { password: '' }))).status).toBe(200);
      const stale = await call('POST', `/admin/v1/smtp/${id}/_test`, { receiverAddress: 'a@customer.example.com' });
      expect({ status: stale.status, id: errorId(stale) }).toEqual({ status: 400, id: 'SMTP-TEST-auth1' });

      // … until the password is changed.
      expect((await call('PUT', `/admin/v1/smtp/${id}/password`, { password: 'pw-new' })).status).toBe(200);
      const fresh = await call('POST', `/admin/v1/smtp/${id}/_test`, { receiverAddress: 'b@customer.example.com' });
      expect(fresh.status).toBe(200);
      expect(rotated.authAttempts).toEqual([
        { method: 'PLAIN', user: 'mailer', ok: false },
        { method: 'PLAIN', user: 'mailer', ok: true },
      ]);
      expect(rotated.mails.map((m) => m.envelopeTo)).toEqual([['b@customer.example.com']]);
      for (const line of server.logs) expect(line).not.toMatch(/pw-(old|new)/);
    });

    it('with the stored configuration’s id and no password, tests the edited fields with the stored password; a given password wins', async () => {
      const { call } = await tenant('test-by-id.example.com');
      const saved = await smtpServer({ mode: 'implicit', auth: { user: 'mailer', password: 'pw-stored' } });
      const { json } = await call('POST', '/admin/v1/smtp', config(saved, { password: 'pw-stored' }));
      const id = json.id as string;

      // The console edits the host and sender name, then tests without sending the password again.
      const edited = await smtpServer({ mode: 'implicit', auth: { user: 'mailer', password: 'pw-stored', methods: ['PLAIN'] } });
      const res = await call('POST', '/admin/v1/smtp/_test', { ...config(edited, { password: '', senderName: 'Edited' }), id, receiverAddress: 'a@customer.example.com' });
      expect({ status: res.status, body: res.json }).toEqual({ status: 200, body: {} });
      expect(edited.authAttempts).toEqual([{ method: 'PLAIN', user: 'mailer', ok: true }]);
      expect(edited.mails[0]!.parsed.from?.value).toEqual([{ name: 'Edited', address: seedRequest.senderAddress }]);
      expect(saved.mails).toEqual([]);

      // A password in the request is the one tried, id or not.
      const given = await call('POST', '/admin/v1/smtp/_test', { ...config(edited, { password: 'pw-typed' }), id, receiverAddress: 'b@customer.example.com' });
      expect({ status: given.status, id: errorId(given) }).toEqual({ status: 400, id: 'SMTP-TEST-auth1' });
      expect(edited.authAttempts.at(-1)).toEqual({ method: 'PLAIN', user: 'mailer', ok: false });
      for (const line of server.logs) expect(line).not.toMatch(/pw-(stored|typed)/);
    });

    it('answers 404, code 5 when the id names no stored configuration of the instance, and sends nothing', async () => {
      const a = await tenant('test-by-id-a.example.com');
      const b = await tenant('test-by-id-b.example.com');
      const smtp = await smtpServer({ mode: 'implicit', auth: { user: 'mailer', password: 'pw-right' } });
      const { json } = await a.call('POST', '/admin/v1/smtp', config(smtp));
      for (const [who, id] of [
        [b, json.id as string],
        [a, '123'],
      ] as const) {
        const res = await who.call('POST', '/admin/v1/smtp/_test', { ...config(smtp, { password: '' }), id, receiverAddress: 'a@customer.example.com' });
        expect({ status: res.status, code: res.json.code, id: errorId(res) }).toEqual({ status: 404, code: 5, id: 'COMMAND-SMTP-nf4k' });
      }
      const tooLong = await a.call('POST', '/admin/v1/smtp/_test', { ...config(smtp, { password: '' }), id: '9'.repeat(201), receiverAddress: 'a@customer.example.com' });
      expect({ status: tooLong.status, violations: tooLong.json.details[1].fieldViolations }).toEqual({
        status: 400,
        violations: [{ field: 'id', description: 'must be at most 200 characters' }],
      });
      expect(smtp.mails).toEqual([]);
      expect(smtp.authAttempts).toEqual([]);
    });
  });
});

describe('the OpenAPI document', () => {
  it('documents every lifecycle route with its request schema and the error shape', async () => {
    const server = await startTestServer();
    try {
      const { json: doc } = await send(server.url, { path: '/openapi.json' });
      const operations = Object.entries(doc.paths as Record<string, Record<string, { operationId: string }>>).flatMap(([path, ops]) =>
        Object.entries(ops).map(([method, op]) => `${method.toUpperCase()} ${path} ${op.operationId}`),
      );
      expect(operations.sort()).toEqual(
        [
          'GET /admin/v1/smtp GetSMTPConfig',
          'POST /admin/v1/smtp AddSMTPConfig',
          'GET /admin/v1/smtp/{id} GetSMTPConfigById',
          'PUT /admin/v1/smtp/{id} UpdateSMTPConfig',
          'DELETE /admin/v1/smtp/{id} RemoveSMTPConfig',
          'PUT /admin/v1/smtp/{id}/password UpdateSMTPConfigPassword',
          'POST /admin/v1/smtp/_test TestSMTPConfig',
          'POST /admin/v1/smtp/{id}/_test TestSMTPConfigById',
        ].sort(),
      );
      const body = (path: string, method: string) => doc.paths[path][method].requestBody.content['application/json'].schema;
      expect(body('/admin/v1/smtp/{id}/password', 'put')).toMatchObject({ required: ['password'], properties: { password: { minLength: 1, maxLength: 1024 } } });
      expect(body('/admin/v1/smtp/_test', 'post').required).toEqual(['senderAddress', 'senderName', 'host', 'receiverAddress']);
      expect(body('/admin/v1/smtp/{id}', 'put').properties.host).toMatchObject({ minLength: 1, maxLength: 500 });
      expect(doc.paths['/admin/v1/smtp/{id}'].delete.responses['200'].content['application/json'].schema.properties.details.required).toEqual([
        'sequence',
        'changeDate',
        'resourceOwner',
      ]);
    } finally {
      await server.close();
    }
  });
});
