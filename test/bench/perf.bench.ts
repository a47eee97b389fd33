// The `perf` part of `npm run bench` (issue 14): in one run,
//  1. the in-memory command path (AddSmtpConfig end to end) against a hand-written loop over two
//     Maps using the project's own schema, decider, encryptor and event ids, and against Emmett's
//     in-memory DeciderCommandHandler, with 1 000 to 1 000 000 instances in the store;
//  2. heap per instance with a configuration, in the in-memory stores and in the hand loop;
//  3. HTTP (perf-http.ts): the real server on the in-memory store against a reference Fastify route
//     in the same process doing the irreducible work, and the server on SQLite against the one in
//     memory, with autocannon at 16 connections in a child process.
// Rounds interleave the contenders so that the shared machine's noise hits them alike; medians count.
// Sizes: BENCH_PERF_SIZES (1000,10000,100000,1000000), BENCH_PERF_COMMANDS (commands per contender and
// size, spread over the rounds; 20000), BENCH_PERF_ROUNDS (15: short rounds, finely interleaved, because the machine is shared), BENCH_EMMETT_MAX (largest size Emmett
// is seeded to, 10000: its appends count every stream, so seeding is quadratic, about 4 minutes for 100000), BENCH_HEAP_INSTANCES
// (100000), BENCH_PERF=commands,heap,http (all).
import { performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createEmmett, createHandLoop, createOurs, type Contender } from './perf-contenders.js';
import { envNumber, fmt, median } from './bench-util.js';
import type { Harness } from '../support/fixtures.js';
import { runHttpBench, type HttpBenchResult } from './perf-http.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const envList = (name: string, fallback: string): number[] =>
  (process.env[name] ?? fallback).split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: ${s} is not a positive integer`);
    return n;
  });

export interface CommandSizeResult {
  readonly size: number;
  readonly perSecond: Record<string, number>;
  /** Median process CPU time per command (µs): less disturbed than wall time when other processes share the cores. */
  readonly cpuMicros: Record<string, number>;
}

/** Collector pauses (start, duration in ms, kind) seen since the observer started. */
const gcPauses: { start: number; duration: number; kind: number }[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) gcPauses.push({ start: e.startTime, duration: e.duration, kind: e.detail?.kind ?? 0 });
});
/** Milliseconds of collector pause that began between `from` and `to` (performance.now() times), and how many were mark-compacts. */
const gcBetween = (from: number, to: number) => {
  let ms = 0;
  let majors = 0;
  for (const p of gcPauses) {
    if (p.start < from || p.start >= to) continue;
    ms += p.duration;
    if (p.kind === 4 /* NODE_PERFORMANCE_GC_MAJOR */) majors++;
  }
  return { ms, majors };
};

/** Commands per second (wall clock) and process CPU µs per command over one chunk. */
const timeChunk = async (c: Contender, from: number, to: number): Promise<{ rate: number; cpu: number; start: number; end: number }> => {
  const start = performance.now();
  const cpu = process.cpuUsage();
  for (let i = from; i < to; i++) await c.add(i);
  // Work a contender left for the event loop's next turn (a projection batch armed with
  // setImmediate, say) is done and counted in its own round, not in the next contender's.
  await new Promise((resolve) => setImmediate(resolve));
  const used = process.cpuUsage(cpu);
  const end = performance.now();
  return { rate: (to - from) / ((end - start) / 1000), cpu: (used.user + used.system) / (to - from), start, end };
};

const settle = async () => {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 20));
    gc();
  }
};

/** `stores` contenders of `size` instances each, as one: command i goes to instance i % size of store ⌊i / size⌋. */
const sharded = async (make: (n: number) => Promise<Contender>, size: number, stores: number): Promise<Contender> => {
  if (stores === 1) return make(size);
  const parts: Contender[] = [];
  for (let k = 0; k < stores; k++) parts.push(await make(size));
  return {
    name: parts[0]!.name,
    add: (i) => parts[Math.floor(i / size)]!.add(i % size),
    close: async () => {
      for (const p of parts) await p.close();
    },
  };
};

/** Runs every contender on a small store first, so that no measured round pays for JIT compilation. */
const warmUp = async (makers: readonly (readonly [string, (n: number) => Promise<Contender>])[]) => {
  for (const [, make] of makers) {
    const c = await make(3_000);
    for (let i = 0; i < 3_000; i++) await c.add(i);
    await c.close();
  }
};

async function commandPath(): Promise<CommandSizeResult[]> {
  const sizes = envList('BENCH_PERF_SIZES', '1000,10000,100000,1000000');
  const commands = envNumber('BENCH_PERF_COMMANDS', 20_000);
  const rounds = envNumber('BENCH_PERF_ROUNDS', 15);
  const emmettMax = envNumber('BENCH_EMMETT_MAX', 10_000);
  console.log(`\n[perf] command path: AddSmtpConfig on instances without one; ${rounds} interleaved rounds, up to ${fmt(commands)} commands per contender and size`);
  const results: CommandSizeResult[] = [];
  await warmUp([
    ['ours', createOurs],
    ['hand', createHandLoop],
    ['emmett', createEmmett],
  ]);
  for (const size of sizes) {
    const makers: [string, (n: number) => Promise<Contender>][] = [
      ['ours', createOurs],
      ['hand', createHandLoop],
    ];
    if (size <= emmettMax) makers.push(['emmett', createEmmett]);
    // Every command adds the one configuration an instance may have, so a store of `size` instances
    // takes `size` commands. Where that is fewer than the commands asked for, each contender gets
    // several stores of `size` instances (all seeded before the first round) and takes them in turn,
    // so that small sizes get rounds as long as large ones (66 commands, about 2 ms a round at 1 000
    // instances, was too short to measure on a shared machine).
    const total = commands;
    const stores = Math.ceil(total / size);
    const contenders: [string, Contender][] = [];
    for (const [key, make] of makers) {
      const t = performance.now();
      contenders.push([key, await sharded(make, size, stores)]);
      console.log(`  seeded ${key} with ${stores > 1 ? `${stores} stores of ` : ''}${fmt(size)} instances in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    await settle();
    const perRound = Math.max(1, Math.floor(total / rounds));
    const rates = new Map<string, number[]>(contenders.map(([k]) => [k, []]));
    const cpus = new Map<string, number[]>(contenders.map(([k]) => [k, []]));
    const chunks = new Map<string, { start: number; end: number; n: number }[]>(contenders.map(([k]) => [k, []]));
    gcPauses.length = 0;
    gcObserver.observe({ entryTypes: ['gc'] });
    for (let r = 0; r < rounds; r++) {
      for (const [key, c] of contenders) {
        const n = key === 'emmett' && size > 10_000 ? Math.max(20, Math.floor(perRound / 50)) : perRound;
        const { rate, cpu, start, end } = await timeChunk(c, r * perRound, r * perRound + n);
        rates.get(key)!.push(rate);
        cpus.get(key)!.push(cpu);
        chunks.get(key)!.push({ start, end, n });
      }
    }
    // The observer is told of pauses on a later turn of the event loop.
    await new Promise((r) => setTimeout(r, 50));
    gcObserver.disconnect();
    const collector = new Map<string, { usPerCommand: number; majors: number }>();
    for (const [key, list] of chunks) {
      let ms = 0;
      let majors = 0;
      let n = 0;
      for (const ch of list) {
        const g = gcBetween(ch.start, ch.end);
        ms += g.ms;
        majors += g.majors;
        n += ch.n;
      }
      collector.set(key, { usPerCommand: (ms * 1000) / n, majors });
    }
    const perSecond: Record<string, number> = {};
    const cpuMicros: Record<string, number> = {};
    for (const [key, c] of contenders) {
      perSecond[key] = median(rates.get(key)!);
      cpuMicros[key] = median(cpus.get(key)!);
      const g = collector.get(key)!;
      console.log(
        `  ${fmt(size)} instances, ${c.name}: ${fmt(perSecond[key]!)} commands/s, ${cpuMicros[key]!.toFixed(1)} µs CPU per command; ` +
          `collector pauses ${g.usPerCommand.toFixed(1)} µs per command (all rounds), ${g.majors} mark-compacts`,
      );
    }
    console.log(
      `  ${fmt(size)} instances: ours / hand loop ${(perSecond.ours! / perSecond.hand!).toFixed(2)} (goal ≥ 0.7; by CPU time ${(cpuMicros.hand! / cpuMicros.ours!).toFixed(2)})` +
        (perSecond.emmett ? `, ours / Emmett ${(perSecond.ours! / perSecond.emmett).toFixed(2)} (goal > 1; by CPU time ${(cpuMicros.emmett! / cpuMicros.ours!).toFixed(2)})` : `, Emmett not run (BENCH_EMMETT_MAX)`),
    );
    results.push({ size, perSecond, cpuMicros });
    for (const [, c] of contenders) await c.close();
    contenders.length = 0;
    await settle();
  }
  return results;
}

export interface HeapResult {
  readonly instances: number;
  /** Bytes of heap per instance with a configuration (set-up plus configuration), by contender. */
  readonly perInstance: Record<string, { setUp: number; config: number; total: number }>;
}

/**
 * The heap in use plus the memory of array buffers, which lies outside the heap: a store that keeps
 * bytes in a typed array (the in-memory store's event ids) must not look smaller than it is.
 */
const heapUsed = async (): Promise<number> => {
  await settle();
  const { heapUsed: heap, arrayBuffers } = process.memoryUsage();
  return heap + arrayBuffers;
};

const measureHeap = async (make: (n: number) => Promise<Contender & { harness?: Harness }>, n: number) => {
  const before = await heapUsed();
  const c = await make(n);
  const caughtUp = async () => {
    if (c.harness) await c.harness.runner.waitFor((await c.harness.events.headPosition())!, 60_000);
  };
  await caughtUp();
  const afterSetUp = await heapUsed();
  for (let i = 0; i < n; i++) await c.add(i);
  await caughtUp();
  const afterConfig = await heapUsed();
  await c.close();
  return { name: c.name, setUp: (afterSetUp - before) / n, config: (afterConfig - afterSetUp) / n, total: (afterConfig - before) / n };
};

async function heapPerInstance(): Promise<HeapResult> {
  const n = envNumber('BENCH_HEAP_INSTANCES', 100_000);
  console.log(`\n[perf] heap per instance: ${fmt(n)} instances set up, then each given a configuration (gc before each reading; heap plus array buffers)`);
  const perInstance: HeapResult['perInstance'] = {};
  for (const [key, make] of [
    ['ours', createOurs],
    ['hand', createHandLoop],
  ] as const) {
    const { name, ...p } = await measureHeap(make, n);
    perInstance[key] = p;
    console.log(`  ${name}: ${fmt(p.setUp)} B per instance set up + ${fmt(p.config)} B per configuration = ${fmt(p.total)} B per instance with a configuration`);
  }
  return { instances: n, perInstance };
}

export interface PerfBenchResult {
  readonly commands?: CommandSizeResult[];
  readonly heap?: HeapResult;
  readonly http?: HttpBenchResult;
}

export const runPerfBench = async (): Promise<PerfBenchResult> => {
  const wanted = new Set((process.env.BENCH_PERF ?? 'commands,heap,http').split(','));
  const result: { -readonly [K in keyof PerfBenchResult]: PerfBenchResult[K] } = {};
  if (wanted.has('commands')) result.commands = await commandPath();
  if (wanted.has('heap')) result.heap = await heapPerInstance();
  if (wanted.has('http')) result.http = await runHttpBench();
  return result;
};

export const perfSummary = (r: PerfBenchResult): string[] => {
  const lines: string[] = [];
  for (const c of r.commands ?? []) {
    const hand = c.perSecond.ours! / c.perSecond.hand!;
    const emmett = c.perSecond.emmett ? c.perSecond.ours! / c.perSecond.emmett : undefined;
    const cpuHand = c.cpuMicros.hand! / c.cpuMicros.ours!;
    const cpuEmmett = c.cpuMicros.emmett ? c.cpuMicros.emmett / c.cpuMicros.ours! : undefined;
    lines.push(
      `perf, ${fmt(c.size)} instances: ours ${fmt(c.perSecond.ours!)}/s = ${hand.toFixed(2)}x the hand loop` +
        (c.size >= 100_000 ? ` (goal ≥ 0.7): ${hand >= 0.7 ? 'MET' : 'NOT MET'}` : '') +
        (emmett !== undefined ? `; ${emmett.toFixed(2)}x Emmett (goal > 1): ${emmett > 1 ? 'MET' : 'NOT MET'}` : '') +
        ` [by CPU time per command: ${cpuHand.toFixed(2)}x the hand loop` + (cpuEmmett !== undefined ? `, ${cpuEmmett.toFixed(2)}x Emmett]` : ']'),
    );
  }
  if (r.heap) {
    // The goal is the heap per instance with a configuration: its set-up (its events, its domain
    // claim, its read-model rows) and its configuration together; both parts are printed beside it.
    const ours = r.heap.perInstance.ours!;
    const hand = r.heap.perInstance.hand!;
    lines.push(
      `perf, heap per instance with a configuration (in-memory stores): ${fmt(ours.total)} B (goal < 1 536): ${ours.total < 1536 ? 'MET' : 'NOT MET'}; hand loop ${fmt(hand.total)} B. ` +
        `Set-up + configuration: ${fmt(ours.setUp)} + ${fmt(ours.config)} B, hand loop ${fmt(hand.setUp)} + ${fmt(hand.config)} B`,
    );
  }
  if (r.http) lines.push(...r.http.summary);
  return lines;
};
