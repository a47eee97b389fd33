// `npm run instance -- add --name <name> --domain <domain> [--domain <domain> …]`
// `npm run instance -- add --stdin`   (JSON lines {"name","domains":[…]} in, one JSON line per instance out)
// `npm run instance -- list`
// Works beside a running server: it writes through the event store's own transactions, and the
// server's projection picks the new instances up.
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { SetUpInstanceUseCase } from '../../application/index.js';
import { isDomainError, normalizeDomains } from '../../domain/index.js';
import { openStores, readModelUpToDate, type OpenedStores } from '../bootstrap/open-stores.js';
import { ConfigError, loadConfig } from '../config.js';
import { SonyflakeIdGenerator } from '../system/sonyflake-id-generator.js';
import { SystemClock } from '../system/system-clock.js';
import { refuseUnimportedLegacyLog } from './legacy-log.js';
import { isMainModule } from './main-module.js';

const USAGE = `usage:
  npm run instance -- add --name <name> --domain <domain> [--domain <domain> …]
  npm run instance -- add --stdin        reads JSON lines {"name":"…","domains":["…"]}
  npm run instance -- list`;

/** How many set-ups run at once from --stdin: they share the store's transactions (group commit). */
const CONCURRENCY = 128;

class UsageError extends Error {}

const line = (value: unknown) => `${JSON.stringify(value)}\n`;
const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

const setUpUseCase = (stores: OpenedStores, machineId: number | undefined) => {
  const clock = new SystemClock();
  return new SetUpInstanceUseCase({ events: stores.events, clock, ids: new SonyflakeIdGenerator(clock, machineId) });
};

const addOne = async (stores: OpenedStores, machineId: number | undefined, name: string, domains: readonly string[]) => {
  const created = await setUpUseCase(stores, machineId).execute({ name, domains });
  process.stdout.write(line({ id: created.instanceId, name, domains: created.domains }));
};

/**
 * Sets up one instance per input line, many at once, printing results and errors in input order.
 * A line waits for earlier lines that name one of its domains, so the earlier line wins, as if they
 * ran one after another. Returns how many lines failed.
 */
const addFromStdin = async (stores: OpenedStores, machineId: number | undefined): Promise<{ failures: number; interrupted: boolean }> => {
  const setUp = setUpUseCase(stores, machineId);
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  // Ctrl-C stops reading; the set-ups under way finish and are printed, so that every instance
  // created is on stdout (killed outright, up to CONCURRENCY of them were created unseen).
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    process.stderr.write('interrupted: finishing the set-ups under way; the lines after them were not read\n');
    lines.close();
  };
  process.once('SIGINT', onSignal);
  const window: Promise<{ out: string; err: string }>[] = [];
  const byDomain = new Map<string, Promise<unknown>>();
  let failures = 0;
  const emit = async () => {
    const { out, err } = await window.shift()!;
    if (out) process.stdout.write(out);
    if (err) {
      failures++;
      process.stderr.write(err);
    }
  };
  let n = 0;
  for await (const text of lines) {
    if (interrupted) break;
    const lineNo = ++n;
    if (text.trim() === '') continue;
    let input: { name: string; domains: string[] };
    try {
      input = JSON.parse(text) as typeof input;
      if (typeof input.name !== 'string' || !Array.isArray(input.domains) || !input.domains.every((d) => typeof d === 'string')) {
        throw new Error('expected {"name": string, "domains": [string, …]}');
      }
    } catch (error) {
      window.push(Promise.resolve({ out: '', err: `line ${lineNo}: ${describe(error)}\n` }));
      continue;
    }
    const domains = normalizeDomains(input.domains);
    const earlier = domains.flatMap((d) => byDomain.get(d) ?? []);
    const task = Promise.allSettled(earlier).then(() =>
      setUp.execute(input).then(
        (created) => ({ out: line({ id: created.instanceId, name: input.name, domains: created.domains }), err: '' }),
        (error: unknown) => ({ out: '', err: `line ${lineNo}: ${describe(error)}\n` }),
      ),
    );
    for (const d of domains) byDomain.set(d, task);
    window.push(task);
    if (window.length >= CONCURRENCY) await emit();
  }
  while (window.length > 0) await emit();
  process.removeListener('SIGINT', onSignal);
  return { failures, interrupted };
};

const main = async (argv: readonly string[]): Promise<number> => {
  const [command, ...args] = argv;
  if (command !== 'add' && command !== 'list') throw new UsageError(command ? `unknown command "${command}"` : 'missing command');
  const { values } = parseArgs({
    args,
    options: { name: { type: 'string' }, domain: { type: 'string', multiple: true }, stdin: { type: 'boolean', default: false } },
  });
  if (command === 'add' && !values.stdin && (!values.name || !values.domain?.length)) throw new UsageError('add needs --name and at least one --domain, or --stdin');
  const config = loadConfig();
  refuseUnimportedLegacyLog(config);
  const dataDir = resolve(config.DATA_DIR);
  const stores = await openStores(config, dataDir, pino({ level: 'silent' }), 'tool');
  try {
    if (command === 'list') {
      await readModelUpToDate(stores);
      for await (const instance of stores.readModel.instances()) {
        process.stdout.write(line({ id: instance.id, name: instance.name, domains: instance.domains }));
      }
      return 0;
    }
    if (values.stdin) {
      const { failures, interrupted } = await addFromStdin(stores, config.MACHINE_ID);
      return interrupted ? 130 : failures > 0 ? 1 : 0;
    }
    await addOne(stores, config.MACHINE_ID, values.name!, values.domain!);
    return 0;
  } finally {
    await stores.close();
  }
};

/** Runs `npm run instance -- <args>` (also `smtp-config instance`); resolves to the exit code, having printed any error. */
export const runInstance = (argv: readonly string[]): Promise<number> =>
  main(argv).catch((error: unknown) => {
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`${error.message}\n${USAGE}\n`);
      return 2;
    } else if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    } else {
      process.stderr.write(`${isDomainError(error) ? error.message : `instance: ${describe(error)}`}\n`);
      return 1;
    }
  });

if (isMainModule(import.meta.url)) {
  void runInstance(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
