// Helpers for fault tests against the real server process (`src/infrastructure/cli/start.ts`),
// started as `npm start` starts it, optionally as process 1 of its own PID namespace.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join, resolve } from 'node:path';
import {
  instanceStreamId,
  loadOrCreateDevSigningKey,
  SetUpInstanceUseCase,
  signToken,
  SonyflakeIdGenerator,
  SqliteEventStore,
  SqliteProjectionStore,
  SystemClock,
  comparePositions,
} from '../everything.js';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const START = join(ROOT, 'src/infrastructure/cli/start.ts');

// ---------------------------------------------------------------------------------------------
// HTTP

export interface HttpResponse {
  readonly status: number;
  readonly text: string;
  readonly json: any;
}

/** One request on its own connection (no keep-alive), so a killed server fails only what was in flight. */
export const send = (
  baseUrl: string,
  options: { method?: string; path: string; host?: string; token?: string; body?: object },
): Promise<HttpResponse> =>
  new Promise((resolvePromise, reject) => {
    const url = new URL(options.path, baseUrl);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        agent: false,
        headers: {
          ...(options.host ? { host: options.host } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          accept: 'application/json',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolvePromise({ status: res.statusCode ?? 0, text, json });
        });
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });

// ---------------------------------------------------------------------------------------------
// Processes

/** Every process a test started (the server, and for a namespace also `unshare`), to kill afterwards. */
const started = new Set<ServerProcess>();

export interface ServerProcess {
  readonly child: ChildProcess;
  /** The host pid of the node server itself (inside a namespace: its pid 1, seen from outside). */
  readonly serverPid: number;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves when the spawned process (node, or `unshare`) has exited and been reaped. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
}

export interface StartedServer extends ServerProcess {
  readonly url: string;
  readonly port: number;
}

export type Launch = 'plain' | 'pid-namespace';

const commandFor = (launch: Launch): [string, string[]] => {
  const node = [process.execPath, '--import', 'tsx', START];
  return launch === 'plain' ? [node[0]!, node.slice(1)] : ['unshare', ['--pid', '--fork', '--mount-proc', ...node]];
};

/** Starts the server process on `dataDir` (PORT=0) and returns at once; see {@link startServer}. */
export const spawnServer = (dataDir: string, launch: Launch = 'plain', env: Record<string, string> = {}): ServerProcess & { readonly lines: Line } => {
  const [cmd, args] = commandFor(launch);
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', GRPC_PORT: 'off', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const lines = new Line();
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
    lines.update(out);
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => {
      lines.update(out, true);
      r({ code, signal });
    }),
  );
  let exitedNow = false;
  void exited.then(() => (exitedNow = true));
  let innerPid: number | undefined;
  const proc = {
    child,
    get serverPid(): number {
      if (launch === 'plain') return child.pid!;
      // unshare --fork: the server is unshare's only child (pid 1 of the new namespace).
      if (innerPid === undefined && !exitedNow) {
        try {
          innerPid = childPidOf(child.pid!);
        } catch {
          return child.pid!;
        }
      }
      return innerPid ?? child.pid!;
    },
    stdout: () => out,
    stderr: () => err,
    exited,
    isRunning: () => !exitedNow,
    lines,
  };
  started.add(proc);
  return proc;
};

/** Waits for the first stdout line matching a pattern (rejects when the process exits without one). */
class Line {
  private waiters: { pattern: RegExp; resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  private text = '';

  update(text: string, ended = false): void {
    this.text = text;
    this.waiters = this.waiters.filter((w) => {
      const line = this.find(w.pattern);
      if (line !== undefined) w.resolve(line);
      else if (ended) w.reject(new Error(`the process exited without printing a line matching ${w.pattern}; stdout:\n${text}`));
      else return true;
      return false;
    });
  }

  waitFor(pattern: RegExp): Promise<string> {
    return new Promise((resolvePromise, reject) => {
      this.waiters.push({ pattern, resolve: resolvePromise, reject });
      this.update(this.text);
    });
  }

  private find(pattern: RegExp): string | undefined {
    return this.text.split('\n').find((l) => pattern.test(l));
  }
}

/** Starts the server and waits for its "listening on" line; fails (with its stderr) if it exits first. */
export const startServer = async (dataDir: string, launch: Launch = 'plain', env: Record<string, string> = {}): Promise<StartedServer> => {
  const proc = spawnServer(dataDir, launch, env);
  let line: string;
  try {
    line = await proc.lines.waitFor(/listening on/);
  } catch (error) {
    const { code, signal } = await proc.exited;
    throw new Error(`the server did not start (exit ${code ?? signal}): ${(error as Error).message}\nstderr:\n${proc.stderr()}`);
  }
  const url = (JSON.parse(line) as { url: string }).url;
  void proc.serverPid; // remembered now, while the namespace is alive
  return Object.assign(proc, { url, port: Number(new URL(url).port) });
};

/**
 * For a server expected to refuse to start: resolves with its exit code once it exits, or with
 * `listening` as soon as it prints "listening on" (it did start, though it must not have).
 */
export const startOutcome = async (
  proc: ServerProcess & { readonly lines: { waitFor(p: RegExp): Promise<string> } },
): Promise<{ listening: true } | { listening: false; code: number | null; signal: NodeJS.Signals | null }> => {
  const listening = proc.lines.waitFor(/listening on/).then(
    () => true as const,
    () => false as const,
  );
  const first = await Promise.race([listening, proc.exited.then(() => false as const)]);
  if (first) return { listening: true };
  return { listening: false, ...(await proc.exited) };
};

/**
 * SIGKILL to the server, then waits until the spawned process is gone. In a PID namespace only the
 * server (its pid 1) is killed: `unshare` reaps it and then exits, so when `exited` resolves the
 * server is dead and its files (and so its locks) are closed.
 */
export const kill9 = async (proc: ServerProcess): Promise<void> => {
  if (!proc.isRunning()) return;
  killPid(proc.serverPid);
  await proc.exited;
};

const killPid = (pid: number): void => {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
};

/** Kills every server process this file started that is still running (afterEach / afterAll). */
export const killStartedServers = async (): Promise<void> => {
  const procs = [...started];
  started.clear();
  await Promise.all(procs.map((p) => kill9(p)));
};

/** The pid of the only child of `pid`, from /proc (ppid is field 4 of /proc/<pid>/stat). */
export const childPidOf = (pid: number): number => {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) children.push(Number(entry));
  }
  if (children.length !== 1) throw new Error(`expected one child of ${pid}, found ${children.join(', ') || 'none'}`);
  return children[0]!;
};

/** The pids of a process in each PID namespace it is in, outermost first (the NSpid line). */
export const nsPids = (pid: number): number[] => {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('NSpid:'));
  if (!line) throw new Error(`no NSpid line for ${pid}`);
  return line.slice('NSpid:'.length).trim().split(/\s+/).map(Number);
};

/** Why PID namespaces cannot be used here, or undefined when they can. */
export const pidNamespaceUnavailable = (): string | undefined => {
  if (process.getuid?.() !== 0) return 'needs root to create a PID namespace (unshare --pid); run as root (CI does)';
  const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { encoding: 'utf8' });
  if (probe.error) return `unshare is not available: ${probe.error.message}`;
  if (probe.status !== 0) return `unshare --pid --fork --mount-proc fails here (exit ${probe.status}): ${probe.stderr.trim()}`;
  return undefined;
};

// ---------------------------------------------------------------------------------------------
// Data: instances and tokens made beside the server, as another process would

export interface TestInstance {
  readonly id: string;
  readonly domain: string;
}

/**
 * Sets up `count` instances with distinct domains by appending to `events.db` from this process,
 * as a command-line tool beside the server does. A server started afterwards has caught up with
 * them before it prints "listening on".
 */
export const createInstances = async (dataDir: string, count: number, prefix: string): Promise<TestInstance[]> => {
  const events = SqliteEventStore.open(dataDir);
  try {
    const clock = new SystemClock();
    const setUp = new SetUpInstanceUseCase({ events, clock, ids: new SonyflakeIdGenerator(clock) });
    const instances: TestInstance[] = [];
    for (let i = 0; i < count; i++) {
      const domain = `${prefix}-${i}.faults.example.com`;
      const { instanceId } = await setUp.execute({ name: domain, domains: [domain] });
      instances.push({ id: instanceId, domain });
    }
    return instances;
  } finally {
    await events.close();
  }
};

/** An IAM_OWNER token for the instance, signed with the server's development key in `dataDir`. */
export const ownerToken = async (dataDir: string, instanceId: string): Promise<string> => {
  if (!existsSync(join(dataDir, 'dev-signing-key.json'))) throw new Error(`no development signing key in ${dataDir}: start the server first`);
  const { privateJwk } = await loadOrCreateDevSigningKey(dataDir);
  return signToken(privateJwk, { userId: 'faults-owner', instanceId, roles: ['IAM_OWNER'] });
};

/** The ids of every `instance.smtp.config.added` event in `events.db`, by instance id. */
export const smtpConfigsInEventFile = async (dataDir: string): Promise<Map<string, string[]>> => {
  const events = SqliteEventStore.open(dataDir);
  try {
    const rows = events.database
      .prepare<[], { stream_id: string; data: string }>("SELECT stream_id, data FROM events WHERE type = 'instance.smtp.config.added' ORDER BY position")
      .all();
    const byInstance = new Map<string, string[]>();
    for (const row of rows) {
      const instanceId = row.stream_id.slice(instanceStreamId('').length);
      const id = (JSON.parse(row.data) as { id: string }).id;
      byInstance.set(instanceId, [...(byInstance.get(instanceId) ?? []), id]);
    }
    return byInstance;
  } finally {
    await events.close();
  }
};

/**
 * Waits (polling the files, as the server's own subscription does) until the read model in
 * `dataDir` has applied every event in `events.db`: the running server has projected them.
 */
export const waitUntilProjected = async (dataDir: string): Promise<void> => {
  const events = SqliteEventStore.open(dataDir);
  const readModel = SqliteProjectionStore.open(dataDir);
  try {
    const head = await events.headPosition();
    if (!head) return;
    for (;;) {
      const checkpoint = await readModel.checkpoint();
      if (checkpoint && comparePositions(checkpoint, head) >= 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await readModel.close();
    await events.close();
  }
};

/**
 * Copies everything in `events.db`'s WAL into the database file and makes the next writer start
 * the WAL from its beginning again (PRAGMA wal_checkpoint(RESTART)). The WAL file keeps its size,
 * so the server's next appends overwrite space the file system has already given it.
 */
export const restartEventsWal = async (dataDir: string): Promise<{ busy: number; log: number; checkpointed: number }> => {
  const events = SqliteEventStore.open(dataDir);
  try {
    const [result] = events.database.pragma('wal_checkpoint(RESTART)') as { busy: bigint | number; log: bigint | number; checkpointed: bigint | number }[];
    return { busy: Number(result!.busy), log: Number(result!.log), checkpointed: Number(result!.checkpointed) };
  } finally {
    await events.close();
  }
};
