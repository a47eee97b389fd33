import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { generate } from 'selfsigned';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface TestCertificate {
  readonly key: string;
  readonly cert: string;
}

let certificate: Promise<TestCertificate> | undefined;
/** A self-signed certificate for 127.0.0.1 and localhost, made once per test process. */
export const testCertificate = (): Promise<TestCertificate> =>
  (certificate ??= generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  }).then((pems) => ({ key: pems.private, cert: pems.cert })));

export interface ReceivedMail {
  readonly envelopeFrom: string;
  readonly envelopeTo: readonly string[];
  /** Whether the connection was encrypted when the mail came (implicit TLS or after STARTTLS). */
  readonly secure: boolean;
  /** The user the client authenticated as, if it did. */
  readonly user: string | undefined;
  readonly parsed: ParsedMail;
}

export interface TestSmtpServer {
  /** `127.0.0.1:<port>`, as a configuration's host. */
  readonly host: string;
  readonly mails: ReceivedMail[];
  /** Every AUTH attempt: method, user and whether the password was right. */
  readonly authAttempts: { method: string; user: string; ok: boolean }[];
  close(): Promise<void>;
}

export interface TestSmtpServerOptions {
  /** implicit: TLS from the first byte; starttls: plain with STARTTLS offered; plain: neither. */
  readonly mode: 'implicit' | 'starttls' | 'plain';
  /** Credentials the server accepts; absent: the server offers no AUTH at all. */
  readonly auth?: { readonly user: string; readonly password: string; readonly methods?: readonly ('PLAIN' | 'LOGIN')[] };
  /** Recipients the server refuses with 550. */
  readonly refuseRecipients?: readonly string[];
}

/** An SMTP server (the `smtp-server` package) in the test process, on an ephemeral loopback port. */
export const startTestSmtpServer = async (options: TestSmtpServerOptions): Promise<TestSmtpServer> => {
  const mails: ReceivedMail[] = [];
  const authAttempts: { method: string; user: string; ok: boolean }[] = [];
  const { key, cert } = options.mode === 'plain' ? { key: undefined, cert: undefined } : await testCertificate();
  const disabled = [...(options.mode === 'plain' ? ['STARTTLS'] : []), ...(options.auth ? [] : ['AUTH'])];
  const serverOptions: SMTPServerOptions = {
    secure: options.mode === 'implicit',
    ...(key && cert ? { key, cert } : {}),
    disabledCommands: disabled,
    authOptional: !options.auth,
    ...(options.auth?.methods ? { authMethods: [...options.auth.methods] } : {}),
    // AUTH only over TLS, except on the plain server (which has no TLS to offer).
    allowInsecureAuth: options.mode === 'plain',
    logger: false,
    onAuth(auth, _session, callback) {
      const ok = auth.username === options.auth?.user && auth.password === options.auth?.password;
      authAttempts.push({ method: auth.method, user: auth.username ?? '', ok });
      if (!ok) return callback(new Error('Invalid username or password'));
      callback(null, { user: auth.username });
    },
    onRcptTo(address, _session, callback) {
      if (options.refuseRecipients?.includes(address.address)) {
        return callback(Object.assign(new Error(`mailbox ${address.address} unavailable`), { responseCode: 550 }));
      }
      callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (parsed) => {
          mails.push({
            envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            envelopeTo: session.envelope.rcptTo.map((r) => r.address),
            secure: session.secure,
            user: session.user as string | undefined,
            parsed,
          });
          callback();
        },
        (error: Error) => callback(error),
      );
    },
  };
  const server = new SMTPServer(serverOptions);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    mails,
    authAttempts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

/** A TCP server that accepts connections and never says a word (for timeouts). */
export const startSilentServer = async (): Promise<{ host: string; close(): Promise<void> }> => {
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
};

/** A loopback port with nothing listening (taken from a server that is closed again). */
export const closedPort = async (): Promise<string> => {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
};

/**
 * A plain SMTP server that refuses every AUTH with a 535 quoting, on each of its lines, what the
 * client sent (the AUTH PLAIN blob; for AUTH LOGIN the user and the password lines), as some servers
 * do. For checking that no form of the password leaves in an error.
 */
export const startEchoingAuthServer = async (method: 'PLAIN' | 'LOGIN'): Promise<{ host: string; received: string[]; close(): Promise<void> }> => {
  const sockets = new Set<import('node:net').Socket>();
  const received: string[] = [];
  const server: Server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const reply = (text: string) => socket.write(`${text}\r\n`);
    /** The lines of the AUTH exchange so far (LOGIN: the user's, then the password's). */
    let login: string[] | undefined;
    const refuse = (echoed: string) => reply(`535-5.7.8 You sent: ${echoed}\r\n535 5.7.8 Auth failed: ${echoed}`);
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let end: number;
      while ((end = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        received.push(line);
        if (login) {
          login.push(line);
          if (login.length === 1) reply('334 UGFzc3dvcmQ6');
          else {
            refuse(login.join(' '));
            login = undefined;
          }
        } else if (/^EHLO /i.test(line)) reply(`250-echo.example.com\r\n250 AUTH ${method}`);
        else if (/^AUTH PLAIN /i.test(line)) refuse(line.slice('AUTH PLAIN '.length));
        else if (/^AUTH LOGIN$/i.test(line)) {
          login = [];
          reply('334 VXNlcm5hbWU6');
        } else if (/^QUIT/i.test(line)) {
          reply('221 bye');
          socket.end();
        } else reply('502 5.5.2 not here');
      }
    });
    reply('220 echo.example.com ESMTP');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
};
