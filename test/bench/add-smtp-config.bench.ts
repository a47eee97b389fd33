// npm run bench — AddSmtpConfig commands per second on the in-memory store, with 1 000 and with
// 100 000 other instances in it, and their ratio. Loading an instance reads its own stream only,
// so the ratio should stay near 1 whatever the store's size. Rounds alternate between the two
// sizes so that the shared, noisy machine affects both alike; the median round counts.
import { performance } from 'node:perf_hooks';
import { createHarness, owner, seedRequest, type Harness } from '../support/fixtures.js';

const COMMANDS = Number(process.env.BENCH_COMMANDS ?? 2_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SIZES = [1_000, 100_000] as const;

async function prepare(others: number): Promise<Harness> {
  const h = createHarness();
  for (let i = 0; i < others; i++) await h.setUpInstance.execute({ name: `other${i}`, domains: [`other${i}.example.com`] });
  return h;
}

async function round(h: Harness): Promise<number> {
  const targets: string[] = [];
  for (let i = 0; i < COMMANDS; i++) targets.push(await h.newInstance());
  const start = performance.now();
  for (const instanceId of targets) await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
  return COMMANDS / ((performance.now() - start) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const harnesses = new Map<number, Harness>();
for (const size of SIZES) {
  const t = performance.now();
  harnesses.set(size, await prepare(size));
  console.log(`seeded ${size.toLocaleString('en')} other instances in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
const results = new Map<number, number[]>(SIZES.map((s) => [s, []]));
await round(harnesses.get(SIZES[0])!); // warm-up
for (let r = 0; r < ROUNDS; r++) for (const size of SIZES) results.get(size)!.push(await round(harnesses.get(size)!));
for (const size of SIZES) {
  console.log(`AddSmtpConfig, ${size.toLocaleString('en')} other instances: ${median(results.get(size)!).toFixed(0)} commands/s (median of ${ROUNDS} rounds of ${COMMANDS})`);
}
const ratio = median(results.get(SIZES[1])!) / median(results.get(SIZES[0])!);
console.log(`ratio (100 000 / 1 000): ${ratio.toFixed(2)} — near 1.00 means loading costs the stream's length, not the store's size`);
for (const h of harnesses.values()) await h.close();
