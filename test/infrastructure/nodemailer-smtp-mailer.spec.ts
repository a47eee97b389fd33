import { afterEach, describe, expect, it } from 'vitest';
import { isDomainError, NodemailerSmtpMailer, testMail, toTestFailure, type DomainError, type SmtpSenderConfig } from '../support/everything.js';
import { closedPort, startEchoingAuthServer, startSilentServer, startTestSmtpServer, testCertificate, type TestSmtpServer } from '../support/smtp-test-server.js';

const PASSWORD = 'correct horse battery staple';
const sender = (host: string, overrides: Partial<SmtpSenderConfig> = {}): SmtpSenderConfig => ({
  host,
  tls: true,
  user: 'mailer',
  password: PASSWORD,
  senderAddress: 'noreply@acme.example.com',
  senderName: 'ACME Login',
  replyToAddress: 'support@acme.example.com',
  ...overrides,
});
const trustingMailer = async (timeouts: { connectTimeoutMs?: number; sendTimeoutMs?: number } = {}) =>
  new NodemailerSmtpMailer({ tls: { ca: (await testCertificate()).cert }, connectTimeoutMs: 2_000, sendTimeoutMs: 5_000, ...timeouts });

const failureOf = async (promise: Promise<unknown>): Promise<DomainError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isDomainError(error)) throw new Error(`expected a DomainError, got ${String(error)}`);
  return error;
};

describe('NodemailerSmtpMailer against an SMTP server in the test process', () => {
  let servers: { close(): Promise<void> }[] = [];
  const server = async (options: Parameters<typeof startTestSmtpServer>[0]): Promise<TestSmtpServer> => {
    const s = await startTestSmtpServer(options);
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
  });

  it('delivers over implicit TLS with AUTH PLAIN: From name and address, Reply-To, recipient', async () => {
    const smtp = await server({ mode: 'implicit', auth: { user: 'mailer', password: PASSWORD, methods: ['PLAIN'] } });
    await (await trustingMailer()).send(sender(smtp.host), testMail('admin@customer.example.com'));
    expect(smtp.mails).toHaveLength(1);
    const [mail] = smtp.mails;
    expect(mail!.secure).toBe(true);
    expect(mail!.user).toBe('mailer');
    expect(smtp.authAttempts).toEqual([{ method: 'PLAIN', user: 'mailer', ok: true }]);
    expect(mail!.parsed.from?.value).toEqual([{ name: 'ACME Login', address: 'noreply@acme.example.com' }]);
    expect(mail!.parsed.replyTo?.value).toEqual([{ name: '', address: 'support@acme.example.com' }]);
    expect((mail!.parsed.to as { value: unknown }).value).toEqual([{ name: '', address: 'admin@customer.example.com' }]);
    expect(mail!.envelopeTo).toEqual(['admin@customer.example.com']);
    expect(mail!.envelopeFrom).toBe('noreply@acme.example.com');
    expect(mail!.parsed.subject).toBe('Test email');
  });

  it('falls back to STARTTLS when the server does not start with TLS, and authenticates with AUTH LOGIN after the upgrade', async () => {
    const smtp = await server({ mode: 'starttls', auth: { user: 'mailer', password: PASSWORD, methods: ['LOGIN'] } });
    await (await trustingMailer()).send(sender(smtp.host), testMail('admin@customer.example.com'));
    expect(smtp.mails.map((m) => ({ secure: m.secure, user: m.user }))).toEqual([{ secure: true, user: 'mailer' }]);
    expect(smtp.authAttempts).toEqual([{ method: 'LOGIN', user: 'mailer', ok: true }]);
  });

  it('sends without authentication over a plain connection when the user is empty; no Reply-To when none is set', async () => {
    const smtp = await server({ mode: 'plain' });
    await (await trustingMailer()).send(sender(smtp.host, { tls: false, user: '', password: '', replyToAddress: '' }), testMail('a@b.example.com'));
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0]!.secure).toBe(false);
    expect(smtp.mails[0]!.user).toBeUndefined();
    expect(smtp.mails[0]!.parsed.replyTo).toBeUndefined();
    expect(smtp.authAttempts).toEqual([]);
  });

  it('delivers with the addresses of a local relay (no dot in the domain), as ZITADEL accepts them', async () => {
    const smtp = await server({ mode: 'plain' });
    const local = sender(smtp.host, { tls: false, user: '', password: '', senderAddress: 'noreply@localhost', replyToAddress: 'support@mailpit' });
    await (await trustingMailer()).send(local, testMail('dev@localhost'));
    expect(smtp.mails.map((m) => [m.envelopeFrom, m.envelopeTo, m.parsed.replyTo?.value])).toEqual([
      ['noreply@localhost', ['dev@localhost'], [{ name: '', address: 'support@mailpit' }]],
    ]);
  });

  it('takes a receiver or Reply-To with a comma as one address, never as a list of recipients', async () => {
    const smtp = await server({ mode: 'plain' });
    const plain = { tls: false, user: '', password: '' };
    const refused = await failureOf((await trustingMailer()).send(sender(smtp.host, plain), testMail('c@x.example, d@y.example')));
    expect(refused.id).toBe('SMTP-TEST-rcpt1');
    expect(refused.message).toContain('refused the recipient c@x.example, d@y.example: 501');
    expect(smtp.mails).toEqual([]);

    await (await trustingMailer()).send(sender(smtp.host, { ...plain, replyToAddress: 'a@x.example, b@y.example' }), testMail('c@x.example'));
    expect(smtp.mails.map((m) => [m.envelopeTo, m.parsed.replyTo?.value.length])).toEqual([[['c@x.example'], 1]]);
  });

  it.each(['PLAIN', 'LOGIN'] as const)('answers a wrong password over AUTH %s with an authentication error that does not contain it', async (method) => {
    const smtp = await server({ mode: 'implicit', auth: { user: 'mailer', password: PASSWORD, methods: [method] } });
    const wrong = 'not-the-password-4711';
    const error = await failureOf((await trustingMailer()).send(sender(smtp.host, { password: wrong }), testMail('a@b.example.com')));
    expect({ id: error.id, code: error.grpcCode }).toEqual({ id: 'SMTP-TEST-auth1', code: 9 });
    expect(error.message).toMatch(/^authentication failed: .*535/);
    expect(JSON.stringify({ message: error.message, violations: error.violations, cause: error.cause })).not.toContain(wrong);
    expect(smtp.authAttempts).toEqual([{ method, user: 'mailer', ok: false }]);
    expect(smtp.mails).toEqual([]);
  });

  describe('a server whose 535 quotes what the client sent', () => {
    const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
    const user = 'bob';
    const password = 'bad-Secret-PW-13';
    /** Every form of the password that must not leave: typed, and base64 of it alone and in AUTH PLAIN's layouts, padded or not. */
    const forms = [password, b64(password), b64(`\u0000${user}\u0000${password}`), b64(`${user}\u0000${user}\u0000${password}`), b64(`${user}\u0000${password}`)].flatMap((f) => [
      f,
      f.replace(/=+$/, ''),
    ]);
    const leaked = (error: DomainError) => {
      const text = JSON.stringify({ message: error.message, violations: error.violations, cause: error.cause });
      return forms.filter((f) => text.includes(f));
    };

    it.each([
      ['PLAIN', `AUTH PLAIN ${b64(`\u0000${user}\u0000${password}`)}`],
      ['LOGIN', b64(password)],
    ] as const)('AUTH %s: the answer is kept, every form of the password is cut out of it', async (method, sent) => {
      const echo = await startEchoingAuthServer(method);
      servers.push(echo);
      const error = await failureOf((await trustingMailer()).send(sender(echo.host, { tls: false, user, password }), testMail('a@b.example.com')));
      expect(echo.received).toContain(sent);
      expect(error.id).toBe('SMTP-TEST-auth1');
      expect(error.message).toMatch(/535.*Auth failed: .*\[REDACTED\]/);
      expect(leaked(error)).toEqual([]);
    });

    it.each([
      ['AUTH PLAIN with an empty authzid', b64(`\u0000${user}\u0000${password}`)],
      ['AUTH PLAIN with the user as authzid', b64(`${user}\u0000${user}\u0000${password}`)],
      ['AUTH PLAIN without authzid', b64(`${user}\u0000${password}`)],
      ['AUTH PLAIN without padding', b64(`\u0000${user}\u0000${password}`).replace(/=+$/, '')],
      ['AUTH PLAIN with an authzid nobody guessed', b64(`admin\u0000${user}\u0000${password}`)],
      ['AUTH LOGIN', b64(password)],
      ['the password', password],
    ])('cuts %s out of every line of the answer', (_what, blob) => {
      const response = `535-5.7.8 Sent: ${blob}\n535-5.7.8 (${blob})\n535 5.7.8 Auth failed:${blob}`;
      const error = toTestFailure({ code: 'EAUTH', responseCode: 535, response }, sender('127.0.0.1:25', { user, password }), testMail('a@b.example.com'));
      expect(error.message).toContain('535 5.7.8 Auth failed:[REDACTED]');
      expect(error.message).not.toContain(blob);
      expect(leaked(error)).toEqual([]);
    });
  });

  it('refuses a certificate it does not trust as a TLS handshake failure', async () => {
    const smtp = await server({ mode: 'implicit', auth: { user: 'mailer', password: PASSWORD } });
    const error = await failureOf(new NodemailerSmtpMailer({ connectTimeoutMs: 2_000 }).send(sender(smtp.host), testMail('a@b.example.com')));
    expect(error.id).toBe('SMTP-TEST-tls01');
    expect(error.message).toMatch(/^TLS handshake with the SMTP server 127\.0\.0\.1:\d+ failed: .*self[- ]signed/i);
    expect(smtp.mails).toEqual([]);
  });

  it('reports a refused connection as such', async () => {
    const host = await closedPort();
    const error = await failureOf((await trustingMailer()).send(sender(host, { tls: false }), testMail('a@b.example.com')));
    expect({ id: error.id, message: error.message }).toEqual({ id: 'SMTP-TEST-conn1', message: `could not connect to the SMTP server ${host}: connection refused` });
  });

  it('reports a refused recipient with the server’s answer', async () => {
    const smtp = await server({ mode: 'plain', refuseRecipients: ['gone@customer.example.com'] });
    const error = await failureOf(
      (await trustingMailer()).send(sender(smtp.host, { tls: false, user: '', password: '' }), testMail('gone@customer.example.com')),
    );
    expect(error.id).toBe('SMTP-TEST-rcpt1');
    expect(error.message).toMatch(/refused the recipient gone@customer\.example\.com: 550/);
  });

  it('gives up on a server that never greets after the connect timeout, as a timeout', async () => {
    const silent = await startSilentServer();
    servers.push(silent);
    const error = await failureOf((await trustingMailer({ connectTimeoutMs: 300, sendTimeoutMs: 1_000 })).send(sender(silent.host, { tls: false }), testMail('a@b.example.com')));
    expect(error.id).toBe('SMTP-TEST-time1');
    expect(error.message).toMatch(/did not answer in time/);
  });
});
