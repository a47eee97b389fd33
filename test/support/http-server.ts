import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  createServerApp,
  loadConfig,
  loadOrCreateDevSigningKey,
  signToken,
  TOKENS,
  type ProjectionRunner,
  type ServerApp,
  type SetUpInstanceUseCase,
  type SmtpMailer,
} from './everything.js';

export interface HttpResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: any;
}

/** A plain node:http client, so tests control every header (Host included) over real loopback TCP. */
export const send = (
  baseUrl: string,
  options: { method?: string; path: string; host?: string; headers?: Record<string, string>; body?: string | object },
): Promise<HttpResponse> =>
  new Promise((resolve, reject) => {
    const url = new URL(options.path, baseUrl);
    const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    const req = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers: {
          ...(options.host ? { host: options.host } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}),
          accept: 'application/json',
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });

export interface TestServer {
  readonly url: string;
  readonly app: ServerApp;
  readonly dataDir: string;
  /** Every log line the server wrote. */
  readonly logs: string[];
  token(claims: { instanceId: string; roles?: string[]; expiresIn?: string | number; userId?: string }): Promise<string>;
  /** Sets up an instance with the given domain and waits until the read model has it. */
  newInstance(domain: string): Promise<string>;
  firstInstanceId(): Promise<string>;
  post(body: unknown, options?: { host?: string; token?: string; headers?: Record<string, string> }): Promise<HttpResponse>;
  close(): Promise<void>;
}

/**
 * The real server (same wiring as `npm start`) on an ephemeral loopback port and a fresh data
 * directory, or on `env.DATA_DIR` (a restart; that directory is the caller's to remove).
 */
export const startTestServer = async (env: Record<string, string> = {}, options: { mailer?: SmtpMailer } = {}): Promise<TestServer> => {
  const ownDataDir = env.DATA_DIR === undefined;
  const dataDir = env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'smtp-http-'));
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  let app: Awaited<ReturnType<typeof createServerApp>> | undefined;
  let url: string;
  try {
    app = await createServerApp(loadConfig({ PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'debug', ...env }), { logStream, ...options });
    url = await app.listen();
  } catch (error) {
    // A start that fails (as some tests mean it to) leaves no directory of ours behind.
    await app?.close().catch(() => undefined);
    if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  const { privateJwk } = await loadOrCreateDevSigningKey(dataDir);
  const server: TestServer = {
    url,
    app,
    dataDir,
    logs,
    token: ({ instanceId, roles = [], expiresIn, userId = '69629023906488001' }) =>
      signToken(privateJwk, { userId, instanceId, roles, ...(expiresIn !== undefined ? { expiresIn } : {}) }),
    async newInstance(domain) {
      const { instanceId, position } = await app.container
        .get<SetUpInstanceUseCase>(TOKENS.SetUpInstance)
        .execute({ name: domain, domains: [domain] });
      await app.container.get<ProjectionRunner>(TOKENS.ProjectionRunner).waitFor(position, 5_000);
      return instanceId;
    },
    async firstInstanceId() {
      const line = logs.map((l) => JSON.parse(l) as { msg: string; instanceId?: string }).find((l) => l.msg.includes('created the first instance'));
      if (!line?.instanceId) throw new Error('the server did not log its first instance');
      return line.instanceId;
    },
    async post(body, options = {}) {
      return send(url, {
        method: 'POST',
        path: '/admin/v1/smtp',
        body: body as object,
        ...(options.host ? { host: options.host } : {}),
        headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers },
      });
    },
    async close() {
      await app.close();
      if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return server;
};
