import type { ConnectionOptions } from 'node:tls';
import nodemailer from 'nodemailer';
import { Errors, type DomainError, type SmtpTestFailureReason } from '../../domain/index.js';
import type { SmtpMail, SmtpMailer, SmtpSenderConfig } from '../../application/index.js';

export interface NodemailerSmtpMailerOptions {
  /** Bound for the TCP connect and for the server's greeting, each (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Bound for one whole attempt, connect to the end of DATA (default 30 s). */
  readonly sendTimeoutMs?: number;
  /** Extra TLS options, e.g. `ca` for a server whose certificate a private CA signed. */
  readonly tls?: Pick<ConnectionOptions, 'ca' | 'minVersion'>;
}

/** A nodemailer error as far as we read it. */
interface MailerError {
  readonly code?: string;
  readonly originalCode?: string;
  readonly responseCode?: number;
  readonly response?: string;
  readonly command?: string;
  readonly message?: string;
  readonly timeoutType?: string;
}

/** `host:port` or `[v6]:port` (validated by the domain) into its parts. */
export const splitHostPort = (hostPort: string): { host: string; port: number } => {
  const colon = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, colon);
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(hostPort.slice(colon + 1)) };
};

/** TLS failures that mean "this server does not start with TLS", after which STARTTLS is tried. */
const NOT_TLS = /wrong version number|packet length too long|unknown protocol|http request|record layer failure/i;
const isPlainServer = (e: MailerError): boolean =>
  e.originalCode === 'ERR_SSL_WRONG_VERSION_NUMBER' || e.originalCode === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || NOT_TLS.test(e.message ?? '');

/** Certificate and handshake problems, as Node and OpenSSL name them. */
const isTlsProblem = (e: MailerError): boolean =>
  e.code === 'ETLS' ||
  /^(ERR_SSL_|ERR_TLS_)/.test(e.originalCode ?? '') ||
  /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME_MISMATCH/.test(e.originalCode ?? '');

const CONNECTION_WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name could not be resolved now',
};

/**
 * Sends mail with nodemailer, one connection per mail (no pool: test mails are rare and each may
 * use another server). `tls: true` is implicit TLS, and when the server turns out to speak plain
 * SMTP first, STARTTLS (required, as ZITADEL does); `tls: false` is a plain connection that never
 * upgrades. An empty user means no authentication. nodemailer's own logger stays off: nothing it
 * sees (the AUTH exchange included) reaches a log. Failures become `Errors.smtpTestFailed` with the
 * step that failed and the server's answer, from which the password is removed.
 */
export class NodemailerSmtpMailer implements SmtpMailer {
  private readonly connectTimeoutMs: number;
  private readonly sendTimeoutMs: number;

  constructor(private readonly options: NodemailerSmtpMailerOptions = {}) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.sendTimeoutMs = options.sendTimeoutMs ?? 30_000;
  }

  async send(config: SmtpSenderConfig, mail: SmtpMail): Promise<void> {
    try {
      if (!config.tls) return await this.attempt(config, mail, 'plain');
      try {
        await this.attempt(config, mail, 'implicit');
      } catch (error) {
        if (!isPlainServer(error as MailerError)) throw error;
        await this.attempt(config, mail, 'starttls');
      }
    } catch (error) {
      // Not chained as a cause: the DomainError is all that leaves, so nothing of the exchange is logged.
      throw toTestFailure(error as MailerError, config, mail);
    }
  }

  private async attempt(config: SmtpSenderConfig, mail: SmtpMail, mode: 'plain' | 'implicit' | 'starttls'): Promise<void> {
    const { host, port } = splitHostPort(config.host);
    const transport = nodemailer.createTransport({
      host,
      port,
      secure: mode === 'implicit',
      requireTLS: mode === 'starttls',
      ignoreTLS: mode === 'plain',
      ...(config.user !== '' ? { auth: { user: config.user, pass: config.password } } : {}),
      connectionTimeout: this.connectTimeoutMs,
      greetingTimeout: this.connectTimeoutMs,
      socketTimeout: this.sendTimeoutMs,
      dnsTimeout: this.connectTimeoutMs,
      logger: false,
      debug: false,
      tls: { ...this.options.tls },
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        // Each address as an object: nodemailer then takes it as one address, as Go's net/smtp does in
        // ZITADEL, rather than parsing a string as a list ("a@x.example, b@y.example" is one, odd,
        // recipient for the server to judge, not two). The API checks no e-mail syntax, as ZITADEL's.
        transport.sendMail({
          from: { name: config.senderName, address: config.senderAddress },
          to: { name: '', address: mail.to },
          ...(config.replyToAddress !== '' ? { replyTo: { name: '', address: config.replyToAddress } } : {}),
          subject: mail.subject,
          text: mail.text,
        }),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(Object.assign(new Error('send timeout'), { code: 'ETIMEDOUT', timeoutType: 'SEND_TIMEOUT' })), this.sendTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      transport.close();
    }
  }
}

const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/**
 * The forms the password takes on the wire, longest first: as typed; AUTH LOGIN's base64 of it; AUTH
 * PLAIN's base64 of `authzid NUL user NUL password` (nodemailer sends an empty authzid; other clients
 * the user) and of `user NUL password`. Each with and without its `=` padding.
 */
const secretForms = (user: string, password: string): string[] => {
  const encoded = [password, `\u0000${user}\u0000${password}`, `${user}\u0000${user}\u0000${password}`, `${user}\u0000${password}`].map(base64);
  const forms = new Set([password, ...encoded, ...encoded.map((e) => e.replace(/=+$/, ''))]);
  return [...forms].filter((f) => f !== '').sort((x, y) => y.length - x.length);
};

/** A run of base64 text long enough to hold a password. */
const BASE64_RUN = /[A-Za-z0-9+/]{4,}={0,2}/g;

/**
 * The server's answer or the error's message, without the password and at most 300 characters. A
 * server may echo what the client sent (a 535 that quotes the AUTH PLAIN blob): first every run of
 * base64 that decodes to text containing the password is cut out (whatever the authzid or layout),
 * then every form of it in secretForms, also where the server ran one together with other text.
 */
const sanitized = (text: string, user: string, password: string): string => {
  let out = text;
  if (password !== '') {
    out = out.replace(BASE64_RUN, (run) => (Buffer.from(run, 'base64').toString('utf8').includes(password) ? '[REDACTED]' : run));
    for (const secret of secretForms(user, password)) out = out.split(secret).join('[REDACTED]');
  }
  out = out.replace(/[\r\n]+/g, ' ').trim();
  return out.length > 300 ? `${out.slice(0, 300)}…` : out;
};

export const toTestFailure = (e: MailerError, config: SmtpSenderConfig, mail: SmtpMail): DomainError => {
  const server = `the SMTP server ${config.host}`;
  const answer = sanitized(e.response ?? e.message ?? 'unknown error', config.user, config.password);
  const fail = (reason: SmtpTestFailureReason, message: string) => Errors.smtpTestFailed(reason, sanitized(message, config.user, config.password));
  if (e.code === 'ETIMEDOUT') return fail('timeout', `${server} did not answer in time (${(e.timeoutType ?? 'timeout').toLowerCase()})`);
  if (e.code === 'EDNS') return fail('connection', `could not connect to ${server}: host not found`);
  if (e.code === 'EAUTH' || e.code === 'ENOAUTH' || e.responseCode === 530 || e.responseCode === 535) {
    return fail('authentication', `authentication failed: ${server} refused the user name or password (${answer})`);
  }
  if (isTlsProblem(e)) return fail('tls', `TLS handshake with ${server} failed: ${answer}`);
  if (e.code === 'ESOCKET' || e.code === 'ECONNECTION') {
    const words = (e.originalCode && CONNECTION_WORDS[e.originalCode]) ?? answer;
    return fail('connection', `could not connect to ${server}: ${words}`);
  }
  if (e.code === 'EENVELOPE' && e.command === 'RCPT TO') return fail('recipient', `${server} refused the recipient ${mail.to}: ${answer}`);
  if (e.code === 'EENVELOPE' && e.command === 'MAIL FROM') {
    return fail('sender', `${server} refused the sender ${config.senderAddress}: ${answer}`);
  }
  return fail('other', `sending the test mail through ${server} failed: ${answer}`);
};
