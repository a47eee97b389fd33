// AddSmtpConfig commands per second on the in-memory store, with 1 000 and with 100 000 other
// instances in it, and their ratio. Loading an instance reads its own stream only, so the ratio
// should stay near 1 whatever the store's size. Rounds alternate between the two sizes so that the
// shared, noisy machine affects both alike; the median round counts.
import { performance } from 'node:perf_hooks';
import { createHarness, owner, seedRequest, type Harness } from '../support/fixtures.js';
import { envNumber, median } from './bench-util.js';

const SIZES = [1_000, 100_000] as const;

async function prepare(others: number): Promise<Harness> {
  const h = createHarness();
  for (let i = 0; i < others; i++) await h.setUpInstance.execute({ name: `other${i}`, domains: [`other${i}.example.com`] });
  return h;
}

async function round(h: Harness, commands: number): Promise<number> {
  const targets: string[] = [];
  for (let i = 0; i < commands; i++) targets.push(await h.newInstance());
  const start = performance.now();
  for (const instanceId of targets) await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
  return commands / ((performance.now() - start) / 1000);
}

export const runInMemoryBench = async (): Promise<{ ratio: number }> => {
  const commands = envNumber('BENCH_COMMANDS', 2_000);
  const rounds = envNumber('BENCH_ROUNDS', 5);
  console.log(`In-memory store: ${rounds} rounds of ${commands.toLocaleString('en')} commands (BENCH_COMMANDS, BENCH_ROUNDS)`);
  const harnesses = new Map<number, Harness>();
  for (const size of SIZES) {
    const t = performance.now();
    harnesses.set(size, await prepare(size));
    console.log(`seeded ${size.toLocaleString('en')} other instances in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const results = new Map<number, number[]>(SIZES.map((s) => [s, []]));
  await round(harnesses.get(SIZES[0])!, commands); // warm-up
  for (let r = 0; r < rounds; r++) for (const size of SIZES) results.get(size)!.push(await round(harnesses.get(size)!, commands));
  for (const size of SIZES) {
    console.log(`AddSmtpConfig, ${size.toLocaleString('en')} other instances: ${median(results.get(size)!).toFixed(0)} commands/s (median of ${rounds} rounds of ${commands})`);
  }
  const ratio = median(results.get(SIZES[1])!) / median(results.get(SIZES[0])!);
  console.log(`ratio (100 000 / 1 000): ${ratio.toFixed(2)} — near 1.00 means loading costs the stream's length, not the store's size`);
  for (const h of harnesses.values()) await h.close();
  return { ratio };
};
