import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, node, ROOT } from '../cli.js';
import { send, type HttpResponse } from '../http-server.js';

/** One log line of a replica (pino JSON), with the fields these tests look at. */
export interface LogLine {
  readonly msg: string;
  readonly leading?: boolean;
  readonly instanceId?: string;
  readonly url?: string;
  readonly [key: string]: unknown;
}

export const WRITES_READ_MODEL = 'this replica now writes the read model';
export const FIRST_INSTANCE_CREATED = 'the store was empty: created the first instance';

/** A server process (`src/infrastructure/cli/start.ts`) on a loopback port, with every line it logged. */
export class Replica {
  readonly lines: LogLine[] = [];
  stderr = '';
  url = '';
  port = 0;
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  private listeners: (() => void)[] = [];

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      for (const part of parts) {
        if (!part.trim()) continue;
        try {
          this.lines.push(JSON.parse(part) as LogLine);
        } catch {
          this.lines.push({ msg: part });
        }
      }
      this.changed();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
    });
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        this.changed();
        resolve(code);
      }),
    );
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  /** Whether this replica has ever said that it took over the projection. */
  get everWroteReadModel(): boolean {
    return this.lines.some((l) => l.msg === WRITES_READ_MODEL);
  }

  /** Whether its latest word on the projection lock is that it holds it. */
  get writesReadModel(): boolean {
    const last = [...this.lines].reverse().find((l) => typeof l.leading === 'boolean');
    return this.alive && last?.leading === true && last.msg === WRITES_READ_MODEL;
  }

  private changed(): void {
    for (const l of this.listeners.splice(0)) l();
  }

  /** Resolves once `predicate` holds (checked on every new line and on exit); rejects after `timeoutMs` with what was logged. */
  until(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: ${what} did not happen within ${timeoutMs} ms.\n${this.describe()}`)), timeoutMs);
      const check = () => {
        if (predicate()) {
          clearTimeout(timer);
          resolve();
        } else if (!this.alive) {
          clearTimeout(timer);
          reject(new Error(`${this.name} exited (${String(this.exitCode)}) before ${what}.\n${this.describe()}`));
        } else {
          this.listeners.push(check);
        }
      };
      check();
    });
  }

  async listening(timeoutMs: number): Promise<void> {
    await this.until('listening', () => this.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('listening on')), timeoutMs);
    const url = this.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('listening on'))!.url!;
    this.url = url;
    this.port = Number(new URL(url).port);
  }

  describe(): string {
    const tail = this.lines
      .filter((l) => !['incoming request', 'request completed'].includes(l.msg))
      .slice(-30)
      .map((l) => JSON.stringify(l))
      .join('\n');
    return `--- ${this.name} log (without request lines) ---\n${tail}\n--- ${this.name} stderr ---\n${this.stderr.slice(-4000)}`;
  }

  /** kill -9, and wait until it is gone. */
  async kill9(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not stopped after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  post(host: string, token: string, body: unknown): Promise<HttpResponse> {
    return send(this.url, { method: 'POST', path: '/admin/v1/smtp', host: `${host}:${this.port}`, body: body as object, headers: { authorization: `Bearer ${token}` } });
  }

  get(host: string, token: string, id: string): Promise<HttpResponse> {
    return send(this.url, { method: 'GET', path: `/admin/v1/smtp/${id}`, host: `${host}:${this.port}`, headers: { authorization: `Bearer ${token}` } });
  }
}

/** Spawns a replica: the server on PostgreSQL (`DATABASE_URL`, `DATABASE_SCHEMA`), port 0 on loopback, the given DATA_DIR. */
export const spawnReplica = (name: string, env: { DATABASE_URL: string; DATABASE_SCHEMA: string; DATA_DIR: string }): Replica => {
  const [cmd, args] = node(CLI.start);
  const base: NodeJS.ProcessEnv = { ...process.env };
  delete base.EVENTSTORE_CONNECTION_STRING; // the events must go to PostgreSQL too
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...base, PORT: '0', GRPC_PORT: 'off', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Replica(name, child);
};

/** Runs `work` over `items` with at most `limit` in flight. */
export const inParallel = async <T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> => {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i]!, i);
      }
    }),
  );
};
