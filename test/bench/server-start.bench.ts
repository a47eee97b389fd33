// Time to ready and memory of the real server on a data directory holding 10 000 and 100 000
// instances (each with one domain and one SMTP configuration), against an EMPTY data directory
// started in the same run (where the server creates the first instance and its development keys).
//
// Time to ready: from spawn to the log line "listening on"; RSS: VmRSS of the server process
// (/proc/<pid>/status) at that moment, VmHWM (its peak so far) beside it. The stores are seeded
// directly (seed-sqlite-store.ts) and projected once, so a start resumes from the checkpoint.
// Each seeded directory is started once, untimed, before the rounds (it makes its token signing
// key then); the empty baseline gets a new empty directory every round. Rounds interleave every
// case, in a rotating order, and the median counts. Goal at 100 000 instances: ready in under 1 s,
// RSS under 250 MB.
//
// Two more cases in every round show where the time goes: a bare `node -e` that prints the line
// at once (spawning a Node.js process on this machine, now), and a process that only imports the
// server's modules (server-app) and prints the line, opening no store.
//
// BENCH_SERVER chooses how the server runs (comma-separated, default `compiled,tsx`): `compiled` is
// src/ compiled by tsc into a temporary directory and run as `npm start` runs dist/ (node
// dist/infrastructure/cli/start.js); `tsx` is `node --import tsx src/infrastructure/cli/start.ts`,
// which also transforms TypeScript while it starts; `dist` is the working tree's own dist/.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { envNumber, fmt, median, seconds, tempDir } from './bench-util.js';
import { seedSqliteStore } from './seed-sqlite-store.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const GOAL_MS = 1_000;
const GOAL_RSS_MB = 250;

export interface StartMeasurement {
  readonly readyMs: number;
  readonly rssMb: number;
  readonly peakRssMb: number;
}

/** How to run a process that prints "listening on": node's arguments. */
export interface ServerCommand {
  readonly name: string;
  readonly args: readonly string[];
  /** The same runtime, importing the server's modules only, then printing the line. */
  readonly importsOnly?: readonly string[];
}

const importThenSay = (module: string): string[] => [
  '--input-type=module',
  '-e',
  `await import(${JSON.stringify(pathToFileURL(module).href)}); console.log('listening on (imports only)');`,
];

/** The TypeScript sources through tsx, as a developer runs them. */
export const tsxServer: ServerCommand = {
  name: 'node --import tsx src/infrastructure/cli/start.ts',
  args: ['--import', 'tsx', join(ROOT, 'src/infrastructure/cli/start.ts')],
  importsOnly: ['--import', 'tsx', ...importThenSay(join(ROOT, 'src/infrastructure/server-app.ts'))],
};

const compiledAt = (dist: string, name: string): ServerCommand => ({
  name,
  args: [join(dist, 'infrastructure/cli/start.js')],
  importsOnly: importThenSay(join(dist, 'infrastructure/server-app.js')),
});

/** The repository's own dist/ (npm run build); may be older than src/. */
export const builtServer = (): ServerCommand => {
  const dist = join(ROOT, 'dist');
  if (!existsSync(join(dist, 'infrastructure/cli/start.js'))) throw new Error(`${dist} holds no server: run npm run build first, or leave BENCH_SERVER unset`);
  return compiledAt(dist, 'node dist/infrastructure/cli/start.js (the working tree\'s dist/)');
};

/**
 * src/ compiled now with tsc into a temporary directory (what `npm start` runs, without touching
 * the working tree's dist/): the directory gets a package.json saying "type": "module" and a link
 * to node_modules so that the compiled files resolve their packages.
 */
export const compileServer = (): { command: ServerCommand; remove: () => void } => {
  const out = tempDir('dist');
  writeFileSync(join(out.dir, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(ROOT, 'node_modules'), join(out.dir, 'node_modules'), 'dir');
  const dist = join(out.dir, 'dist');
  const tsc = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', dist, '--declaration', 'false', '--sourceMap', 'false'],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (!existsSync(join(dist, 'infrastructure/cli/start.js'))) throw new Error(`tsc did not compile the server:\n${tsc.stdout}${tsc.stderr}`);
  if (tsc.status !== 0) console.log('  (tsc reported type errors in src/ but emitted JavaScript; measuring that)');
  return { command: compiledAt(dist, 'node dist/infrastructure/cli/start.js (src/ compiled by tsc into a temporary directory)'), remove: out.remove };
};

/** `node -e` printing the line at once: what spawning a Node.js process costs on this machine now. */
const bareNode: ServerCommand = { name: 'bare node -e', args: ['-e', "console.log('listening on (bare node)'); setTimeout(() => {}, 60_000);"] };

const memoryMb = (pid: number): { rss: number; peak: number } => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  } catch {
    return { rss: NaN, peak: NaN }; // it has exited already
  }
};

/** Runs `args` on `dataDir`, measures it when it says "listening on", stops it and waits for its exit. */
export const measureStart = (
  args: readonly string[],
  dataDir: string,
  extraArgs: readonly string[] = [],
  timeoutMs = 120_000,
  env: Record<string, string> = {},
  readyText = 'listening on',
): Promise<StartMeasurement> =>
  new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [...extraArgs, ...args], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let measured: StartMeasurement | undefined;
    let output = '';
    let pending = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server on ${dataDir} did not say "listening on" within ${timeoutMs} ms:\n${output.slice(-2_000)}`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (measured) return;
      output += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      if (lines.some((l) => l.includes(readyText))) {
        const readyMs = performance.now() - started;
        const { rss, peak } = memoryMb(child.pid!);
        measured = { readyMs, rssMb: rss, peakRssMb: peak };
        child.kill('SIGTERM');
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (output += chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (measured) resolvePromise(measured);
      else reject(new Error(`the server on ${dataDir} exited (${signal ?? code}) before "listening on":\n${output.slice(-2_000)}`));
    });
  });

export interface ServerStartBenchResult {
  /** Per server command, per size (0: the empty directory), the medians. */
  readonly results: ReadonlyMap<string, ReadonlyMap<number, StartMeasurement>>;
  /** Per server command: whether the largest store started within the goal. */
  readonly goalMet: ReadonlyMap<string, boolean>;
}

const servers = (): { commands: ServerCommand[]; cleanup: () => void } => {
  const wanted = (process.env.BENCH_SERVER ?? 'compiled,tsx').split(',').map((s) => s.trim());
  const commands: ServerCommand[] = [];
  const cleanup: (() => void)[] = [];
  for (const w of wanted) {
    if (w === 'tsx') commands.push(tsxServer);
    else if (w === 'dist') commands.push(builtServer());
    else if (w === 'compiled') {
      const t = performance.now();
      const compiled = compileServer();
      console.log(`  compiled src/ with tsc in ${seconds(performance.now() - t)}`);
      commands.push(compiled.command);
      cleanup.push(compiled.remove);
    } else throw new Error(`BENCH_SERVER: expected tsx, compiled or dist (comma-separated), got ${w}`);
  }
  return { commands, cleanup: () => cleanup.forEach((c) => c()) };
};

/** What one measurement starts: a server on a store of `size` instances (0: empty), or a reference process. */
interface Case {
  readonly server: ServerCommand;
  /** `grpc off`: an empty data directory with GRPC_PORT=off, so @zitadel/proto is never loaded. */
  /** `grpc ready`: an empty data directory, timed to the gRPC port's line (it starts after the REST port). */
  readonly kind: 'store' | 'imports only' | 'bare node' | 'grpc off' | 'grpc ready';
  readonly size: number;
}

const IMPORTS = -1;
const BARE = -2;
const GRPC_OFF = -3;
const GRPC_READY = -4;

export const runServerStartBench = async (): Promise<ServerStartBenchResult> => {
  const sizes = (process.env.BENCH_START_SIZES ?? '10000,100000').split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
  const rounds = envNumber('BENCH_START_ROUNDS', 7);
  const largest = Math.max(...sizes);
  console.log(
    `\nServer start (PORT=0; time from spawn to the "listening on" log line, VmRSS then): ${rounds} interleaved rounds; ` +
      `an empty data directory and ${sizes.map((s) => fmt(s)).join(', ')} instances (BENCH_START_SIZES, BENCH_START_ROUNDS, BENCH_SERVER)`,
  );
  const { commands, cleanup } = servers();
  const dirs = new Map<number, { dir: string; remove: () => void }>();
  const scratch = tempDir('start-scratch'); // for the reference processes, which open no store
  try {
    for (const size of sizes) {
      const d = tempDir(`start-${size}`);
      dirs.set(size, d);
      const report = await seedSqliteStore(d.dir, size);
      console.log(`  seeded ${fmt(size)} instances (${fmt(report.events)} events) in ${seconds(report.appendMs)}, projected them in ${seconds(report.projectMs)}`);
    }
    // Untimed: the first start on each store makes its token signing key; warms tsx's cache and the OS's file cache.
    for (const server of commands) {
      for (const d of dirs.values()) await measureStart(server.args, d.dir);
      const warm = tempDir('start-warmup');
      await measureStart(server.args, warm.dir);
      warm.remove();
    }

    const cases: Case[] = [
      { server: bareNode, kind: 'bare node', size: BARE },
      ...commands.flatMap((server): Case[] => [
        ...(server.importsOnly ? [{ server, kind: 'imports only' as const, size: IMPORTS }] : []),
        ...[0, ...sizes].map((size) => ({ server, kind: 'store' as const, size })),
        { server, kind: 'grpc off' as const, size: GRPC_OFF },
        { server, kind: 'grpc ready' as const, size: GRPC_READY },
      ]),
    ];
    const key = (server: ServerCommand, size: number) => `${server.name}|${size}`;
    const tag = (server: ServerCommand) => (commands.length > 1 && commands.includes(server) ? `[${commands.indexOf(server) + 1}] ` : '');
    const caseName = (c: Case) => `${tag(c.server)}${c.kind === 'store' ? (c.size === 0 ? 'empty' : fmt(c.size)) : c.kind}`;
    const measured = new Map<string, StartMeasurement[]>(cases.map((c) => [key(c.server, c.size), []]));
    for (let r = 0; r < rounds; r++) {
      const line: string[] = [];
      for (let i = 0; i < cases.length; i++) {
        const c = cases[(i + r) % cases.length]!;
        let m: StartMeasurement;
        if (c.kind === 'bare node') m = await measureStart(c.server.args, scratch.dir);
        else if (c.kind === 'imports only') m = await measureStart(c.server.importsOnly!, scratch.dir);
        else if (c.kind === 'grpc off') {
          const empty = tempDir('start-empty-nogrpc');
          m = await measureStart(c.server.args, empty.dir, [], 120_000, { GRPC_PORT: 'off' });
          empty.remove();
        } else if (c.kind === 'grpc ready') {
          const empty = tempDir('start-empty-grpc');
          m = await measureStart(c.server.args, empty.dir, [], 120_000, {}, 'gRPC, gRPC-web and Connect on');
          empty.remove();
        } else if (c.size === 0) {
          const empty = tempDir('start-empty');
          m = await measureStart(c.server.args, empty.dir);
          empty.remove();
        } else m = await measureStart(c.server.args, dirs.get(c.size)!.dir);
        measured.get(key(c.server, c.size))!.push(m);
        line.push(`${caseName(c)} ${fmt(m.readyMs)} ms/${fmt(m.rssMb)} MB`);
      }
      console.log(`  round ${r + 1}: ${line.join(', ')}`);
    }

    const summarize = (server: ServerCommand, size: number) => {
      const ms = measured.get(key(server, size))!;
      return {
        readyMs: median(ms.map((m) => m.readyMs)),
        minMs: Math.min(...ms.map((m) => m.readyMs)),
        rssMb: median(ms.map((m) => m.rssMb)),
        peakRssMb: median(ms.map((m) => m.peakRssMb)),
      };
    };
    const bare = summarize(bareNode, BARE);
    console.log(`bare node -e (spawning Node.js on this machine now): ready in ${fmt(bare.readyMs)} ms, RSS ${fmt(bare.rssMb)} MB (medians of ${rounds})`);
    const results = new Map<string, Map<number, StartMeasurement>>();
    const goalMet = new Map<string, boolean>();
    for (const server of commands) {
      console.log(`${tag(server)}${server.name}:`);
      const imports = server.importsOnly ? summarize(server, IMPORTS) : undefined;
      if (imports) {
        console.log(`  importing the server's modules only (server-app), no store: ready in ${fmt(imports.readyMs)} ms, RSS ${fmt(imports.rssMb)} MB`);
      }
      const summary = new Map<number, StartMeasurement>();
      for (const size of [0, ...sizes]) {
        const s = summarize(server, size);
        summary.set(size, s);
        console.log(
          `  server start, ${size === 0 ? 'EMPTY data directory (creates the first instance and the keys)' : `${fmt(size)} instances`}: ` +
            `ready in ${fmt(s.readyMs)} ms (min ${fmt(s.minMs)}), RSS ${fmt(s.rssMb)} MB (peak ${fmt(s.peakRssMb)} MB) (medians of ${rounds})`,
        );
      }
      const empty = summary.get(0)!;
      const off = summarize(server, GRPC_OFF);
      const grpc = summarize(server, GRPC_READY);
      console.log(
        `  EMPTY data directory with GRPC_PORT=off (@zitadel/proto never loaded): REST ready in ${fmt(off.readyMs)} ms (min ${fmt(off.minMs)}), RSS ${fmt(off.rssMb)} MB; ` +
          `with gRPC on (the default), REST ready / off ${(empty.readyMs / off.readyMs).toFixed(2)}; ` +
          `the gRPC port ready in ${fmt(grpc.readyMs)} ms (min ${fmt(grpc.minMs)}), RSS then ${fmt(grpc.rssMb)} MB: gRPC ready / REST ready with it off ` +
          `${(grpc.readyMs / off.readyMs).toFixed(2)} (+${fmt(grpc.readyMs - off.readyMs)} ms, +${fmt(grpc.rssMb - off.rssMb)} MB)`,
      );
      for (const size of sizes) {
        const s = summary.get(size)!;
        console.log(`  ratio ${fmt(size)} instances / empty: time to ready ${(s.readyMs / empty.readyMs).toFixed(2)}, RSS ${(s.rssMb / empty.rssMb).toFixed(2)}`);
      }
      const top = summary.get(largest)!;
      if (imports) {
        const rest = top.readyMs - imports.readyMs;
        console.log(
          `  where the time goes at ${fmt(largest)} instances (differences of medians): ${fmt(bare.readyMs)} ms spawning node, ` +
            `${fmt(imports.readyMs - bare.readyMs)} ms loading modules, ` +
            `${rest > 0 ? `${fmt(rest)} ms` : 'nothing measurable (within the noise)'} opening the stores, catching up and listening`,
        );
      }
      const met = top.readyMs < GOAL_MS && top.rssMb < GOAL_RSS_MB;
      console.log(
        `  goal at ${fmt(largest)} instances: ready < ${fmt(GOAL_MS)} ms (${fmt(top.readyMs)}: ${top.readyMs < GOAL_MS ? 'met' : 'NOT met'}), ` +
          `RSS < ${GOAL_RSS_MB} MB (${fmt(top.rssMb)}: ${top.rssMb < GOAL_RSS_MB ? 'met' : 'NOT met'}) — ${met ? 'MET' : 'NOT MET'}`,
      );
      results.set(server.name, summary);
      goalMet.set(server.name, met);
    }
    if (largest < 100_000) console.log('  (the goal is stated for 100 000 instances; BENCH_START_SIZES made the largest store smaller)');
    return { results, goalMet };
  } finally {
    for (const d of dirs.values()) d.remove();
    scratch.remove();
    cleanup();
  }
};
