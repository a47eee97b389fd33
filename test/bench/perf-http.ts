// HTTP part of the perf benchmark: POST /admin/v1/smtp, every request a different instance (its
// own Host and token), 16 keep-alive connections from a load generator in a child process
// (load-generator.mjs: raw sockets by default, BENCH_HTTP_GENERATOR=autocannon for autocannon 9).
//  - server, in memory: the real server (createServerApp, as `npm start` wires it) on the
//    in-memory event store and read model;
//  - reference: a bare Fastify route in this same process doing the irreducible work of the request:
//    the same logger (pino at info, same redaction, same destination, Fastify's default request
//    logging), the host looked up in a Map, the JWT verified with jose with the same key and options,
//    the body parsed by the project's zod schema, the password encrypted with AES-256-GCM (a fresh
//    randomBytes(12) nonce), the row kept in a Map and the API's answer;
//  - server, SQLite: the real server on its default store in a fresh data directory (events on disk
//    with synchronous=FULL, the read model in SQLite).
// Rounds interleave the three; each round takes fresh instances. BENCH_HTTP_REQUESTS (8000 per round
// and target), BENCH_HTTP_ROUNDS (3), BENCH_HTTP_CONNECTIONS (16), BENCH_HTTP_GENERATOR (raw),
// BENCH_HTTP_GENERATOR_FLAGS and BENCH_HTTP_GENERATOR_CPUS (Node flags for the generator, a taskset
// list to pin it to), BENCH_HTTP_GC_BEFORE_LOAD (1: a full collection before every load).
// Every load prints the server process's side (CPU per request, scavenges, event-loop lateness) and
// the generator's (its CPU, collections, lateness), since on two shared cores either can make a tail.
// The three run in a child process started with the Node.js flags `npm start` gives the server
// (read from package.json's start script: the young generation's size), so that the server is
// measured as it runs; the reference route shares that process and those flags.
import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Fastify from 'fastify';
import { jwtVerify, type JWK } from 'jose';
import { pino } from 'pino';
import {
  createLogger,
  createServerApp,
  InMemoryEventStore,
  InMemoryProjectionStore,
  loadConfig,
  loadOrCreateDevSigningKey,
  parseAddSmtpConfigRequest,
  signToken,
  TOKENS,
  verificationKeyFrom,
  DEV_ISSUER,
  type ProjectionRunner,
  type ServerApp,
  type ServerAppOptions,
  type SetUpInstanceUseCase,
} from '../support/everything.js';
import { seedRequest } from '../support/fixtures.js';
import { envNumber, fmt, median, tempDir } from './bench-util.js';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));

interface Target {
  readonly name: string;
  readonly url: string;
  readonly path: string;
  /** Makes `n` fresh instances and a token for each. */
  instances(n: number): Promise<{ host: string; token: string }[]>;
  close(): Promise<void>;
}

/** The load generator's own side of a run (load-generator.mjs): what it cost and how long it paused. */
interface GeneratorSide {
  readonly cpuPerRequestUs: number;
  readonly gcCount: number;
  readonly gcMs: number;
  readonly gcMaxMs: number;
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
}

/** The server process's side of a run: its CPU time per request, its collector's pauses, its event loop's lateness. */
interface ServerSide {
  readonly cpuPerRequestUs: number;
  readonly scavenges: number;
  readonly scavengeMaxMs: number;
  readonly markCompacts: number;
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
}

interface LoadResult {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly generator: GeneratorSide;
  readonly server: ServerSide;
}

/** Log lines go to /dev/null, written the way `npm start` writes them (pino's synchronous destination). */
const logDestination = () => pino.destination({ dest: '/dev/null', sync: true });

let instanceCounter = 0;

export const realServer = async (name: string, store: 'memory' | 'sqlite', openStores?: ServerAppOptions['openStores']): Promise<Target> => {
  const { dir, remove } = tempDir(`http-${store}`);
  const app: ServerApp = await createServerApp(loadConfig({ PORT: '0', DATA_DIR: dir, LOG_LEVEL: 'info' }), {
    logStream: logDestination(),
    ...(openStores ? { openStores } : {}),
    ...(store === 'memory'
      ? {
          openStores: async () => ({
            events: new InMemoryEventStore(),
            readModel: new InMemoryProjectionStore(),
            shared: undefined,
            description: 'in memory',
            close: async () => {},
          }),
        }
      : {}),
  });
  const url = await app.listen();
  const { privateJwk } = await loadOrCreateDevSigningKey(dir);
  const setUp = app.container.get<SetUpInstanceUseCase>(TOKENS.SetUpInstance);
  const runner = app.container.get<ProjectionRunner>(TOKENS.ProjectionRunner);
  return {
    name,
    url,
    path: '/admin/v1/smtp',
    async instances(n) {
      const out: { host: string; token: string }[] = [];
      for (let i = 0; i < n; i += 64) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(64, n - i) }, async () => {
            const host = `h${++instanceCounter}-${store}.example.com`;
            const { instanceId, position } = await setUp.execute({ name: host, domains: [host] });
            return { host, instanceId, position };
          }),
        );
        await runner.waitFor(batch.at(-1)!.position, 60_000);
        for (const b of batch) out.push({ host: b.host, token: await signToken(privateJwk, { userId: '69629023906488001', instanceId: b.instanceId, roles: ['IAM_OWNER'] }) });
      }
      return out;
    },
    async close() {
      await app.close();
      remove();
    },
  };
};

/** The irreducible work of the route, on bare Fastify, with the server's logger settings. */
export const referenceRoute = async (privateJwk: JWK, publicJwk: JWK): Promise<Target> => {
  const logger = createLogger({ LOG_LEVEL: 'info' }, logDestination());
  const app = Fastify({ loggerInstance: logger, genReqId: () => randomUUID(), bodyLimit: 16 * 1024 });
  const key = await verificationKeyFrom({ publicJwk });
  const aesKey = randomBytes(32);
  const instancesByHost = new Map<string, string>();
  const rows = new Map<string, unknown>();
  let nextId = 1n;
  app.post('/ref', async (request, reply) => {
    const host = (request.headers.host ?? '').toLowerCase();
    const instanceId = instancesByHost.get(host);
    if (!instanceId) return reply.status(404).send({ code: 5 });
    const token = /^bearer +(.+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (!token) return reply.status(401).send({ code: 16 });
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'],
      issuer: DEV_ISSUER,
      requiredClaims: ['exp', 'sub', 'iat'],
      clockTolerance: 60,
      maxTokenAge: 43_200,
    });
    if (payload.instance_id !== instanceId) return reply.status(401).send({ code: 16 });
    const { password, ...config } = parseAddSmtpConfigRequest(request.body);
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', aesKey, nonce, { authTagLength: 16 });
    cipher.setAAD(Buffer.from('AES-256-GCM|ref'));
    const crypted = Buffer.concat([nonce, cipher.update(password, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64');
    const id = (nextId++).toString();
    const at = new Date().toISOString();
    rows.set(`${instanceId}/${id}`, { ...config, id, password: { keyId: 'ref', crypted } });
    return { details: { sequence: '4', creationDate: at, changeDate: at, resourceOwner: instanceId }, id };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    name: 'reference route (same logger, zod, AES-GCM, JWT verify)',
    url: `http://127.0.0.1:${port}`,
    path: '/ref',
    async instances(n) {
      const out: { host: string; token: string }[] = [];
      for (let i = 0; i < n; i++) {
        const host = `h${++instanceCounter}-ref.example.com`;
        const instanceId = String(900_000_000 + instanceCounter);
        instancesByHost.set(host, instanceId);
        out.push({ host, token: await signToken(privateJwk, { userId: '69629023906488001', instanceId, roles: ['IAM_OWNER'] }) });
      }
      return out;
    },
    close: () => app.close(),
  };
};

/**
 * A full collection, without starting the process with --expose-gc (its flags stay `npm start`'s):
 * run before every load, so that no target pays during its load for the garbage left by setting up
 * its instances and tokens, or by the target loaded before it. What its own requests allocate is
 * still collected during the load and counted.
 */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/**
 * How the load generator is started: BENCH_HTTP_GENERATOR_FLAGS (Node.js flags, e.g. its young
 * generation's size) and BENCH_HTTP_GENERATOR_CPUS (a `taskset -c` list to pin it to).
 */
const generator = (() => {
  const flags = (process.env.BENCH_HTTP_GENERATOR_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const cpus = process.env.BENCH_HTTP_GENERATOR_CPUS;
  const kind = process.env.BENCH_HTTP_GENERATOR ?? 'raw';
  if (kind !== 'raw' && kind !== 'autocannon') throw new Error(`BENCH_HTTP_GENERATOR must be raw or autocannon, got ${kind}`);
  return { kind, ...(cpus ? { command: 'taskset', args: ['-c', cpus, process.execPath, ...flags] } : { command: process.execPath, args: flags }) };
})();

export const load = async (target: Target, requests: { host: string; token: string }[], connections: number): Promise<LoadResult> => {
  const { dir, remove } = tempDir('load');
  try {
    const jobFile = join(dir, 'job.json');
    writeFileSync(jobFile, JSON.stringify({ url: target.url, path: target.path, connections, body: seedRequest, requests, generator: generator.kind }));
    if (process.env.BENCH_HTTP_GC_BEFORE_LOAD !== '0') collectGarbage();
    let scavenges = 0;
    let markCompacts = 0;
    let scavengeMax = 0;
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = ((e as { detail?: { kind?: number } }).detail)?.kind;
        // A mark-compact's entry spans its incremental marking too, so only scavenges (one pause each) give the longest pause.
        if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
          scavenges++;
          if (e.duration > scavengeMax) scavengeMax = e.duration;
        } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) markCompacts++;
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    const cpuAtStart = process.cpuUsage();
    const { stdout } = await run(generator.command, [...generator.args, join(here, 'load-generator.mjs'), jobFile], { maxBuffer: 1 << 20 });
    const cpu = process.cpuUsage(cpuAtStart);
    loopDelay.disable();
    gcObserver.disconnect();
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as Omit<LoadResult, 'server'>;
    const ms = (ns: number) => Math.round(ns / 1e5) / 10;
    return {
      ...result,
      server: {
        cpuPerRequestUs: Math.round((cpu.user + cpu.system) / requests.length),
        scavenges,
        markCompacts,
        scavengeMaxMs: Math.round(scavengeMax * 10) / 10,
        loopDelayP99Ms: ms(loopDelay.percentile(99)),
        loopDelayMaxMs: ms(loopDelay.max),
      },
    };
  } finally {
    remove();
  }
};

export interface HttpBenchResult {
  readonly results: Record<string, { perSecond: number; p50: number; p99: number; cpuPerRequestUs: number }>;
  readonly summary: string[];
}

/** The Node.js flags in package.json's start script (`node --flag … dist/…`): what `npm start` runs the server with. */
export const startNodeFlags = (): string[] => {
  const pkg = JSON.parse(readFileSync(join(here, '../../package.json'), 'utf8')) as { scripts: Record<string, string> };
  const words = pkg.scripts.start!.split(/\s+/);
  const flags: string[] = [];
  for (const w of words.slice(words.indexOf('node') + 1)) {
    if (!w.startsWith('--')) break;
    flags.push(w);
  }
  return flags;
};

const RESULT_MARK = 'HTTP-BENCH-RESULT ';

/** Runs the HTTP part in a child process with `npm start`'s Node.js flags; its lines pass through. */
export const runHttpBench = async (): Promise<HttpBenchResult> => {
  const flags = startNodeFlags();
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, BENCH_HTTP_CHILD: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let result: HttpBenchResult | undefined;
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.startsWith(RESULT_MARK)) result = JSON.parse(line.slice(RESULT_MARK.length)) as HttpBenchResult;
      else console.log(line);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0 || !result) throw new Error(`the HTTP benchmark's process (node ${flags.join(' ')}) ended with code ${code}`);
  return result;
};

const runHttpBenchHere = async (): Promise<HttpBenchResult> => {
  const perRound = envNumber('BENCH_HTTP_REQUESTS', 8_000);
  const rounds = envNumber('BENCH_HTTP_ROUNDS', 3);
  const connections = envNumber('BENCH_HTTP_CONNECTIONS', 16);
  console.log(`\n[perf] HTTP: POST /admin/v1/smtp, every request a different instance, ${connections} connections (${generator.kind === 'raw' ? 'raw keep-alive sockets' : 'autocannon'} in a child process), ${rounds} interleaved rounds of ${fmt(perRound)} requests; server process flags as npm start: ${process.execArgv.filter((a) => a.startsWith('--max')).join(' ') || 'none'}`);
  const memory = await realServer('server, in-memory store', 'memory');
  const sqlite = await realServer('server, SQLite store', 'sqlite');
  const { privateJwk, publicJwk } = await loadOrCreateDevSigningKey(tempDir('ref-key').dir);
  const reference = await referenceRoute(privateJwk, publicJwk);
  const targets: [string, Target][] = [
    ['memory', memory],
    ['reference', reference],
    ['sqlite', sqlite],
  ];
  const samples = new Map<string, LoadResult[]>(targets.map(([k]) => [k, []]));
  try {
    // Warm-up: a few requests each, so that the first round does not pay for JIT compilation alone.
    for (const [, t] of targets) await load(t, await t.instances(500), connections);
    for (let r = 0; r < rounds; r++) {
      for (const [key, t] of targets) {
        const requests = await t.instances(perRound);
        const result = await load(t, requests, connections);
        if (result.non2xx > 0 || result.errors > 0) throw new Error(`${t.name}: ${result.non2xx} non-2xx answers and ${result.errors} errors`);
        samples.get(key)!.push(result);
      }
    }
  } finally {
    for (const [, t] of targets) await t.close();
  }
  const results: HttpBenchResult['results'] = {};
  for (const [key, t] of targets) {
    const s = samples.get(key)!;
    const med = (f: (x: LoadResult) => number) => median(s.map(f));
    results[key] = { perSecond: med((x) => x.perSecond), p50: med((x) => x.p50), p99: med((x) => x.p99), cpuPerRequestUs: med((x) => x.server.cpuPerRequestUs) };
    const m = results[key]!;
    console.log(`  ${t.name}: ${fmt(m.perSecond)} requests/s, p50 ${m.p50} ms, p99 ${m.p99} ms, ${m.cpuPerRequestUs} µs of the server process's CPU a request (medians of ${rounds}; p99 per round ${s.map((x) => x.p99).join(', ')})`);
    console.log(
      `      server process per round: scavenges ${s.map((x) => `${x.server.scavenges} (longest ${x.server.scavengeMaxMs} ms)`).join(', ')}; mark-compacts ${s.map((x) => x.server.markCompacts).join(', ')}; event loop late p99/max ${s.map((x) => `${x.server.loopDelayP99Ms}/${x.server.loopDelayMaxMs}`).join(', ')} ms`,
    );
    console.log(
      `      load generator per round: CPU ${s.map((x) => x.generator.cpuPerRequestUs).join(', ')} µs a request; collector ${s.map((x) => `${x.generator.gcCount}x ${x.generator.gcMs} ms (longest ${x.generator.gcMaxMs})`).join(', ')}; event loop late p99/max ${s.map((x) => `${x.generator.loopDelayP99Ms}/${x.generator.loopDelayMaxMs}`).join(', ')} ms`,
    );
  }
  const overRef = results.memory!.perSecond / results.reference!.perSecond;
  const cpuOverRef = results.reference!.cpuPerRequestUs / results.memory!.cpuPerRequestUs;
  const sqliteOverMemory = results.sqlite!.perSecond / results.memory!.perSecond;
  const summary = [
    `perf, HTTP in memory / reference route: ${overRef.toFixed(2)} (goal ≥ 0.8): ${overRef >= 0.8 ? 'MET' : 'NOT MET'} (by the server process's CPU time a request: ${cpuOverRef.toFixed(2)}); p50 ${results.memory!.p50} ms, p99 ${results.memory!.p99} ms (goal < 10): ${results.memory!.p99 < 10 ? 'MET' : 'NOT MET'}; the reference route's own p50 ${results.reference!.p50} ms, p99 ${results.reference!.p99} ms${results.reference!.p99 >= 10 ? ' (the reference route is itself above the p99 goal on this machine now, so this run cannot show it met)' : ''}`,
    `perf, HTTP SQLite / in memory: ${sqliteOverMemory.toFixed(2)} (goal ≥ 0.6): ${sqliteOverMemory >= 0.6 ? 'MET' : 'NOT MET'}; p50 ${results.sqlite!.p50} ms, p99 ${results.sqlite!.p99} ms`,
  ];
  console.log(summary.map((s) => `  ${s}`).join('\n'));
  return { results, summary };
};

if (process.env.BENCH_HTTP_CHILD === '1' && process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await runHttpBenchHere();
  console.log(`${RESULT_MARK}${JSON.stringify(result)}`);
}
