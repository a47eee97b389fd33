import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateDevSigningKey, PostgresProjectionStore, signToken, SqliteEventStore, SqliteProjectionStore, type EventMetadata } from '../support/everything.js';
import { seedSqliteStore } from '../bench/seed-sqlite-store.js';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';
import { CLI, tempDirs, node, ROOT, runCli, startServer } from '../support/cli.js';
import { rebuildLockKey, shadowSchemaOf } from '../../src/infrastructure/cli/replay-commands.js';
import { seedRequest } from '../support/fixtures.js';
import { spawnReplica, WRITES_READ_MODEL } from '../support/replicas/replicas.js';

const INSTANCES = 2_500; // 10 000 events
let seeded: string;
const dirs = tempDirs('smtp-replay-cli-');
const tempDir = dirs.make;
/** A data directory holding the seeded history and its projected read model. */
const seededCopy = () => {
  const dir = tempDir();
  cpSync(seeded, dir, { recursive: true });
  return dir;
};
const smtpConfig = (dataDir: string, args: readonly string[], input?: string, env: Record<string, string> = {}) => runCli(CLI.smtpConfig, args, dataDir, input, env);

/** Starts smtp-config in the background; resolves once a line on stderr matches. */
const spawnSmtpConfig = (dataDir: string, args: readonly string[], env: Record<string, string> = {}) => {
  const [cmd, pre] = node(CLI.smtpConfig);
  const child = spawn(cmd, [...pre, ...args], { cwd: ROOT, env: { ...process.env, ...env, DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitForStderr = async (pattern: RegExp, timeoutMs = 60_000) => {
    const until = Date.now() + timeoutMs;
    while (!pattern.test(stderr)) {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before ${pattern}: ${stderr}`);
      if (Date.now() > until) throw new Error(`no ${pattern} in: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { child, exited, waitForStderr, output: () => ({ stdout, stderr }) };
};

const kill = (child: ChildProcess) => {
  if (child.exitCode === null) child.kill('SIGKILL');
};

beforeAll(async () => {
  seeded = tempDir();
  await seedSqliteStore(seeded, INSTANCES);
}, 120_000);

afterAll(() => {
  dirs.removeAll();
});

/** A server started on `dir` stops (exit 1) naming the damaged `file` and the command that repairs it. */
const expectStartStopsNamingRebuild = (dir: string, file: string): void => {
  const start = runCli(CLI.smtpConfig, ['start'], dir, undefined, { PORT: '0', GRPC_PORT: 'off' });
  expect(start.status).toBe(1);
  expect(start.stderr).toContain(`${file} is damaged`);
  expect(start.stderr).toContain('smtp-config projection rebuild');
};

/** Drops a test's PostgreSQL schema with the shadow schemas a rebuild of it (or of `others`) may have left. */
const dropWithShadows = async (db: Awaited<ReturnType<typeof freshPostgresSchema>>, ...others: string[]): Promise<void> => {
  for (const schema of [db.schema, ...others]) {
    if (schema !== db.schema) await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.pool.query(`DROP SCHEMA IF EXISTS "${shadowSchemaOf(schema)}" CASCADE`);
  }
  await db.drop();
};

describe('smtp-config events export and import', () => {
  it('export, import into an empty store, export again: the same bytes; a second import adds nothing', () => {
    const source = seededCopy();
    const first = join(tempDir(), 'first.jsonl');
    expect(smtpConfig(source, ['events', 'export', '--out', first]).status).toBe(0);
    const exported = readFileSync(first, 'utf8');
    expect(exported.split('\n').filter(Boolean)).toHaveLength(INSTANCES * 4);

    const target = tempDir();
    const imported = smtpConfig(target, ['--json', 'events', 'import', '--in', first]);
    expect(imported.status, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ read: INSTANCES * 4, appended: INSTANCES * 4, skipped: 0 });
    const again = smtpConfig(target, ['events', 'export']);
    expect(again.status).toBe(0);
    expect(again.stdout).toBe(exported);

    const twice = smtpConfig(target, ['--json', 'events', 'import'], exported);
    expect(twice.status, twice.stderr).toBe(0);
    expect(JSON.parse(twice.stdout)).toMatchObject({ read: INSTANCES * 4, appended: 0, skipped: INSTANCES * 4 });
    expect(smtpConfig(target, ['events', 'export']).stdout).toBe(exported);
  }, 180_000);

  it('exports after a position and by stream prefix', () => {
    const source = seededCopy();
    const all = smtpConfig(source, ['events', 'export']).stdout.split('\n').filter(Boolean);
    const tenth = (JSON.parse(all[9]!) as { position: string }).position;
    expect(smtpConfig(source, ['events', 'export', '--after', tenth]).stdout.split('\n').filter(Boolean)).toEqual(all.slice(10));
    const domains = smtpConfig(source, ['events', 'export', '--stream-prefix', 'domain-']).stdout.split('\n').filter(Boolean);
    expect(domains).toEqual(all.filter((l) => (JSON.parse(l) as { streamId: string }).streamId.startsWith('domain-')));
  }, 120_000);

  it("the hint for exporting the rest names another file: following it keeps the first file's events", () => {
    const source = tempDir();
    const add = (domain: string) => expect(runCli(CLI.instance, ['add', '--name', domain, '--domain', domain], source).status).toBe(0);
    add('one.example.com');
    const first = join(tempDir(), 'first.jsonl');
    const run = smtpConfig(source, ['events', 'export', '--out', first]);
    expect(run.status, run.stderr).toBe(0);
    const before = readFileSync(first, 'utf8');
    const hint = /\((?:[^()]*?): (--after \S+ --out <another file>)/.exec(run.stdout)?.[1];
    expect(hint, run.stdout).toBeDefined();

    add('two.example.com');
    const rest = join(tempDir(), 'rest.jsonl');
    const args = hint!.split(' ').map((a) => (a === '<another' ? rest : a)).filter((a) => a !== 'file>');
    expect(smtpConfig(source, ['events', 'export', ...args]).status).toBe(0);
    expect(readFileSync(first, 'utf8')).toBe(before);
    expect(before + readFileSync(rest, 'utf8')).toBe(smtpConfig(source, ['events', 'export']).stdout);
    expect(readFileSync(rest, 'utf8')).toContain('two.example.com');
  }, 60_000);

  it("import's progress from a file is the share of the file read, ending at 100%", () => {
    const source = seededCopy();
    const file = join(tempDir(), 'all.jsonl');
    expect(smtpConfig(source, ['events', 'export', '--out', file]).status).toBe(0);
    const run = smtpConfig(tempDir(), ['events', 'import', '--in', file]);
    expect(run.status, run.stderr).toBe(0);
    const shares = [...run.stderr.matchAll(/^import: (\d+) events, ([\d.]+)%/gm)].map((m) => ({ events: Number(m[1]), percent: Number(m[2]) }));
    expect(shares.length).toBeGreaterThanOrEqual(2);
    expect(shares[0]!.events).toBeLessThan(INSTANCES * 4);
    expect(shares[0]!.percent).toBeLessThan(50); // not 100% from the first batch on
    expect(shares.at(-1)).toEqual({ events: INSTANCES * 4, percent: 100 });
  }, 120_000);

  it('an export cut short mid-line (killed): import appends every whole line before it, names file and line, exits 1; without the line it completes', () => {
    const source = seededCopy();
    const full = smtpConfig(source, ['events', 'export']).stdout;
    const lines = full.split('\n').filter(Boolean);
    const whole = 1_234;
    const cut = join(tempDir(), 'cut.jsonl');
    writeFileSync(cut, `${lines.slice(0, whole).join('\n')}\n${lines[whole]!.slice(0, 40)}`);

    const target = tempDir();
    const run = smtpConfig(target, ['events', 'import', '--in', cut]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`line ${whole + 1}: not JSON (in ${cut}). The ${whole} events before that line are imported`);
    expect(smtpConfig(target, ['events', 'export']).stdout).toBe(`${lines.slice(0, whole).join('\n')}\n`);

    writeFileSync(cut, `${lines.slice(0, whole).join('\n')}\n`);
    expect(smtpConfig(target, ['events', 'import', '--in', cut]).status).toBe(0);
    expect(smtpConfig(target, ['events', 'import'], full).status).toBe(0);
    expect(smtpConfig(target, ['events', 'export']).stdout).toBe(full);
  }, 120_000);

  it('refuses to import over a different event at the same revision, and names it', () => {
    const source = seededCopy();
    const lines = smtpConfig(source, ['events', 'export']).stdout.split('\n').filter(Boolean);
    const target = tempDir();
    expect(smtpConfig(target, ['events', 'import'], `${lines[0]}\n`).status).toBe(0);
    const other = { ...(JSON.parse(lines[0]!) as Record<string, unknown>), id: '00000000-0000-4000-8000-000000000001' };
    const refused = smtpConfig(target, ['events', 'import'], `${JSON.stringify(other)}\n`);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('00000000-0000-4000-8000-000000000001');
  }, 60_000);
});

const copyInterruptedAndResumed = async (to: string, schemaArgs: string[], env: Record<string, string> = {}) => {
  const source = seededCopy();
  const run = spawnSmtpConfig(source, ['events', 'copy', '--to', to, ...schemaArgs]);
  // Killed outright (no chance to tidy up) once it has copied something.
  await run.waitForStderr(/copy: [1-9]\d* events/);
  run.child.kill('SIGKILL');
  await run.exited;
  const resumed = smtpConfig(source, ['--json', 'events', 'copy', '--to', to, ...schemaArgs], undefined, env);
  expect(resumed.status, resumed.stderr).toBe(0);
  const result = JSON.parse(resumed.stdout) as { appended: number; skipped: number; same: boolean; source: { count: number; sha256: string }; target: { count: number; sha256: string } };
  expect(result.skipped).toBeGreaterThan(0);
  expect(result.appended).toBeGreaterThan(0);
  expect(result.source.count).toBe(INSTANCES * 4);
  expect(result.target).toEqual(result.source);
  expect(result.same).toBe(true);
};

describe('smtp-config events copy', () => {
  it('copies into another SQLite data directory, interrupted half way and resumed: same count, same hash', async () => {
    await copyInterruptedAndResumed(tempDir(), []);
  }, 180_000);

  it.skipIf(postgresSkipReason)('copies into PostgreSQL, interrupted half way and resumed: same count, same hash', async () => {
    const db = await freshPostgresSchema(2);
    try {
      await copyInterruptedAndResumed(testDatabaseUrl, ['--to-schema', db.schema]);
    } finally {
      await db.drop();
    }
  }, 180_000);

  it('refuses a target that holds another history (a mistyped --to), exit 2, writing nothing into it', () => {
    const source = seededCopy();
    const other = tempDir();
    expect(runCli(CLI.instance, ['add', '--name', 'Other', '--domain', 'other.example.com'], other).status).toBe(0);
    const before = smtpConfig(other, ['events', 'export']).stdout;

    const run = smtpConfig(source, ['events', 'copy', '--to', other]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`SQLite (${join(other, 'events.db')}) already holds another history`);
    expect(run.stderr).toContain('Nothing was written');
    expect(smtpConfig(other, ['events', 'export']).stdout).toBe(before);
  }, 120_000);

  it('exits 1 when the two sides differ after the copy', () => {
    const source = seededCopy();
    const target = tempDir();
    expect(smtpConfig(source, ['events', 'copy', '--to', target]).status).toBe(0);
    // Something else writes into the target: the copy itself adds nothing, but the hashes differ.
    const extra = SqliteEventStore.open(target);
    const metadata: EventMetadata = { instanceId: 'x', editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 };
    extra.appendMany([{ streamId: 'instance-x', expected: 'no_stream', events: [{ id: '00000000-0000-4000-8000-00000000000a', type: 'instance.added', data: { name: 'x' }, metadata }] }]);
    void extra.close();
    const again = smtpConfig(source, ['--json', 'events', 'copy', '--to', target]);
    expect(again.status).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ same: false, appended: 0 });
  }, 120_000);
});

describe('smtp-config projection', () => {
  it('status shows checkpoint, head and lag', () => {
    const dir = seededCopy();
    const status = smtpConfig(dir, ['--json', 'projection', 'status']);
    expect(status.status, status.stderr).toBe(0);
    const parsed = JSON.parse(status.stdout) as { checkpoint: string; head: string; lagEvents: number };
    expect(parsed.checkpoint).toBe(parsed.head);
    expect(parsed.lagEvents).toBe(0);
    rmSync(join(dir, SqliteProjectionStore.FILE));
    const behind = JSON.parse(smtpConfig(dir, ['--json', 'projection', 'status']).stdout) as { checkpoint: string | null; lagEvents: number; lagSeconds: number };
    expect(behind).toMatchObject({ checkpoint: null, lagEvents: INSTANCES * 3 });
    expect(behind.lagSeconds).toBeGreaterThan(0);
  }, 60_000);

  it('verify exits 0 on a healthy read model, and 1 naming the row after a row is changed by hand', () => {
    const dir = seededCopy();
    const healthy = smtpConfig(dir, ['projection', 'verify']);
    expect(healthy.status, healthy.stderr).toBe(0);
    expect(healthy.stdout).toContain('matches');

    const db = new Database(join(dir, SqliteProjectionStore.FILE));
    const row = db.prepare('SELECT instance_id, id FROM smtp_configs ORDER BY instance_id LIMIT 1 OFFSET 17').get() as { instance_id: string; id: string };
    db.prepare("UPDATE smtp_configs SET host = 'evil.example.com:25' WHERE instance_id = ? AND id = ?").run(row.instance_id, row.id);
    db.close();

    const broken = smtpConfig(dir, ['--json', 'projection', 'verify']);
    expect(broken.status).toBe(1);
    const result = JSON.parse(broken.stdout) as { healthy: boolean; liveHash: string; rebuiltHash: string; differences: { table: string; key: string; live: { host: string }; rebuilt: { host: string } }[] };
    expect(result.healthy).toBe(false);
    expect(result.liveHash).not.toBe(result.rebuiltHash);
    expect(result.differences).toEqual([
      expect.objectContaining({ table: 'smtpConfigs', key: `${row.instance_id}/${row.id}`, live: expect.objectContaining({ host: 'evil.example.com:25' }) }),
    ]);
    expect(result.differences[0]!.rebuilt.host).not.toBe('evil.example.com:25');
    const text = smtpConfig(dir, ['projection', 'verify']);
    expect(text.status).toBe(1);
    expect(text.stdout).toContain(`smtpConfigs ${row.instance_id}/${row.id}`);
  }, 120_000);

  it('a rebuild interrupted with SIGINT resumes, and the live read model answers throughout', async () => {
    const dir = seededCopy();
    const live = SqliteProjectionStore.open(dir);
    const probeDomain = 'bench17.example.com';
    const known = await live.instanceByDomain(probeDomain);
    expect(known).toBeDefined();
    const answers: boolean[] = [];
    let probing = true;
    const probe = (async () => {
      while (probing) {
        answers.push((await live.instanceByDomain(probeDomain))?.id === known!.id);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      // Small transactions: the rebuild takes long enough to be interrupted half way.
      const first = spawnSmtpConfig(dir, ['projection', 'rebuild', '--batch-size', '10']);
      await first.waitForStderr(/rebuild: [1-9]\d* events/);
      first.child.kill('SIGINT');
      expect(await first.exited).toBe(130);
      expect(existsSync(join(dir, SqliteProjectionStore.SHADOW_FILE))).toBe(true);
      expect(first.output().stdout).toContain('interrupted');

      const second = spawnSmtpConfig(dir, ['--json', 'projection', 'rebuild']);
      const code = await second.exited;
      expect(code, second.output().stderr).toBe(0);
      expect(second.output().stderr).toMatch(/resuming the rebuild from [1-9]\d*\//);
      expect(JSON.parse(second.output().stdout)).toMatchObject({ rebuilt: true, resumedFrom: expect.stringMatching(/^\d+\/\d+$/) });
      expect(existsSync(join(dir, SqliteProjectionStore.SHADOW_FILE))).toBe(false);
    } finally {
      probing = false;
      await probe;
    }
    expect(answers.length).toBeGreaterThan(10);
    expect(answers.every(Boolean)).toBe(true);
    expect(await live.instanceByDomain(probeDomain)).toEqual(known);
    await live.close();
    expect(smtpConfig(dir, ['projection', 'verify']).status).toBe(0);
  }, 180_000);

  it('a damaged shadow left by an interrupted rebuild: the rebuild names it and --restart, which then throws it away and rebuilds', () => {
    const dir = seededCopy();
    const shadowFile = join(dir, SqliteProjectionStore.SHADOW_FILE);
    writeFileSync(shadowFile, 'not a database, e.g. cut short by a full disk');

    const refused = smtpConfig(dir, ['projection', 'rebuild']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`${shadowFile} (the shadow an interrupted rebuild left to resume from) is damaged`);
    expect(refused.stderr).toContain('smtp-config projection rebuild --restart');
    expect(refused.stderr).not.toContain('start again'); // a server start does not touch the shadow

    const restarted = smtpConfig(dir, ['--json', 'projection', 'rebuild', '--restart']);
    expect(restarted.status, restarted.stderr).toBe(0);
    expect(JSON.parse(restarted.stdout)).toMatchObject({ rebuilt: true, resumedFrom: null });
    expect(existsSync(shadowFile)).toBe(false);
    expect(smtpConfig(dir, ['projection', 'verify']).status).toBe(0);
  }, 120_000);

  it.skipIf(postgresSkipReason)('a PostgreSQL shadow the rebuild cannot write to: exits 1 with the error instead of retrying for ever', async () => {
    const db = await freshPostgresSchema(2);
    const env = { DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema };
    const shadowSchema = shadowSchemaOf(db.schema);
    try {
      const source = tempDir();
      expect(runCli(CLI.instance, ['add', '--name', 'Acme', '--domain', 'acme.example.com'], source).status).toBe(0);
      expect(smtpConfig(tempDir(), ['events', 'import'], smtpConfig(source, ['events', 'export']).stdout, env).status).toBe(0);
      // A shadow left by an earlier rebuild, then broken by hand.
      await PostgresProjectionStore.open(db.pool, { schema: shadowSchema });
      await db.pool.query(`DROP TABLE "${shadowSchema}".instance_domains`);

      const run = smtpConfig(tempDir(), ['projection', 'rebuild'], undefined, env);
      expect(run.error).toBeUndefined(); // it retried, silently, until runCli's timeout
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('instance_domains');
      expect(smtpConfig(tempDir(), ['projection', 'rebuild', '--restart'], undefined, env).status).toBe(0);
    } finally {
      await dropWithShadows(db);
    }
  }, 180_000);

  it.skipIf(postgresSkipReason)('rebuilds on a PostgreSQL schema whose name is too long for "<schema>_shadow_checkpoint"', async () => {
    const db = await freshPostgresSchema(1);
    const schema = `${db.schema}_`.padEnd(50, 'x');
    const env = { DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: schema };
    try {
      const source = tempDir();
      expect(runCli(CLI.instance, ['add', '--name', 'Acme', '--domain', 'acme.example.com'], source).status).toBe(0);
      const history = smtpConfig(source, ['events', 'export']).stdout;
      expect(smtpConfig(tempDir(), ['events', 'import'], history, env).status).toBe(0);

      const run = smtpConfig(tempDir(), ['--json', 'projection', 'rebuild'], undefined, env);
      expect(run.error).toBeUndefined(); // it hung, silently, until runCli's timeout
      expect(run.status, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ rebuilt: true });
      expect(smtpConfig(tempDir(), ['projection', 'verify'], undefined, env).status).toBe(0);
      const { rows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name LIKE $1', [`${db.schema}%`]);
      expect(Number(rows[0]!.n)).toBe(1); // the live schema; the shadow was dropped
    } finally {
      await dropWithShadows(db, schema);
    }
  }, 180_000);

  it('stops at a malformed event, naming its position, stream and field, and writes no broken row', () => {
    const dir = tempDir();
    const store = SqliteEventStore.open(dir);
    const metadata: EventMetadata = { instanceId: '7', editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 };
    const smtp = { senderAddress: 'a@example.com', senderName: 'A', tls: true, host: 'smtp.example.com:587', user: 'u', replyToAddress: '', description: 'd' };
    const [, bad] = store.appendMany([
      { streamId: 'instance-7', expected: 'no_stream', events: [{ id: '00000000-0000-4000-8000-000000000007', type: 'instance.added', data: { name: 'seven' }, metadata }] },
      { streamId: 'instance-7', expected: 0n, events: [{ id: '00000000-0000-4000-8000-000000000008', type: 'instance.smtp.config.added', data: { ...smtp, id: 7 }, metadata }] },
    ]);
    void store.close();
    const position = (bad as { ok: { position: { commit: bigint } } }).ok.position.commit;
    const rebuild = smtpConfig(dir, ['--json', 'projection', 'rebuild']);
    expect(rebuild.status).toBe(1);
    const error = (JSON.parse(rebuild.stderr.split('\n').filter(Boolean).at(-1)!) as { error: { id: string; message: string } }).error;
    expect(error.id).toBe('EVENT-DEC-7m3q');
    expect(error.message).toContain(`position ${position}/${position} in stream instance-7`);
    expect(error.message).toContain('data.id');
  }, 60_000);
});

describe('a damaged read-model.db (overwritten with garbage)', () => {
  const GARBAGE = 'not a database: overwritten by mistake\n'.repeat(200);
  /** The seeded directory whose read model is garbage; and the file. */
  const damagedCopy = () => {
    const dir = seededCopy();
    const file = join(dir, SqliteProjectionStore.FILE);
    writeFileSync(file, GARBAGE);
    return { dir, file };
  };

  it('does not stop the commands that need only the events: export, copy and import', () => {
    const { dir, file } = damagedCopy();
    const intact = smtpConfig(seededCopy(), ['events', 'export']).stdout;

    const exported = smtpConfig(dir, ['events', 'export']);
    expect(exported.status, exported.stderr).toBe(0);
    expect(exported.stdout).toBe(intact);

    const copied = smtpConfig(dir, ['--json', 'events', 'copy', '--to', tempDir()]);
    expect(copied.status, copied.stderr).toBe(0);
    expect(JSON.parse(copied.stdout)).toMatchObject({ appended: INSTANCES * 4, same: true });

    const imported = smtpConfig(dir, ['--json', 'events', 'import'], intact);
    expect(imported.status, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ appended: 0, skipped: INSTANCES * 4 });
    expect(readFileSync(file, 'utf8')).toBe(GARBAGE); // none of them touched it
  }, 120_000);

  it('the server stops naming it and projection rebuild, which puts a read model rebuilt from the events in its place', () => {
    const { dir, file } = damagedCopy();
    expectStartStopsNamingRebuild(dir, file);
    const rebuild = smtpConfig(dir, ['--json', 'projection', 'rebuild']);
    expect(rebuild.status, rebuild.stderr).toBe(0);
    expect(rebuild.stderr).toContain(`${file} is damaged (SQLITE_NOTADB): rebuilding it from the events`);
    const head = (JSON.parse(smtpConfig(dir, ['--json', 'projection', 'status']).stdout) as { head: string }).head;
    expect(JSON.parse(rebuild.stdout)).toEqual({ rebuilt: true, checkpoint: head, resumedFrom: null });
    for (const suffix of ['', '-wal', '-shm']) expect(existsSync(join(dir, `${SqliteProjectionStore.SHADOW_FILE}${suffix}`))).toBe(false);
    expect(smtpConfig(dir, ['projection', 'verify']).status).toBe(0);
  }, 120_000);

  it('projection rebuild leaves it alone while a server runs on the directory (it has the file open), and names the server', async () => {
    const dir = seededCopy();
    const file = join(dir, SqliteProjectionStore.FILE);
    const { server } = await startServer(dir);
    try {
      writeFileSync(file, GARBAGE);
      const refused = smtpConfig(dir, ['projection', 'rebuild']);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain(`${file} is damaged (SQLITE_NOTADB), and a server runs on ${dir}: stop it`);
      expect(readFileSync(file, 'utf8')).toBe(GARBAGE);
    } finally {
      if (server.exitCode === null) {
        const exited = new Promise((r) => server.once('exit', r));
        kill(server);
        await exited;
      }
    }
    expect(smtpConfig(dir, ['projection', 'rebuild']).status).toBe(0);
    expect(smtpConfig(dir, ['projection', 'verify']).status).toBe(0);
  }, 120_000);

  it('damaged in its rows, past a first page that opens (a torn page): the server stops naming projection rebuild, which sees it and puts the rebuilt read model in its place', () => {
    const dir = seededCopy();
    const file = join(dir, SqliteProjectionStore.FILE);
    // Eight pages of garbage in the middle of the file: it still opens, its schema reads, its rows do not.
    const pages = 8 * 4096;
    const at = Math.floor(statSync(file).size / 2 / 4096) * 4096;
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(pages, 0x5a), 0, pages, at);
    closeSync(fd);

    expectStartStopsNamingRebuild(dir, file);
    const rebuild = smtpConfig(dir, ['--json', 'projection', 'rebuild']);
    expect(rebuild.status, rebuild.stderr).toBe(0);
    expect(rebuild.stderr).toContain(`${file} is damaged (quick_check: `);
    expect(rebuild.stderr).toContain('rebuilding it from the events; the rebuilt read model takes its place');
    expect(smtpConfig(dir, ['projection', 'verify']).status).toBe(0);
  }, 120_000);

  it('a table dropped by hand (its schema step recorded, so opening does not make it again): the server stops naming it and projection rebuild, which puts the rebuilt read model in its place', () => {
    const dir = seededCopy();
    const file = join(dir, SqliteProjectionStore.FILE);
    const db = new Database(file);
    db.exec('DROP TABLE smtp_configs');
    db.close();

    expectStartStopsNamingRebuild(dir, file);
    const rebuild = smtpConfig(dir, ['projection', 'rebuild']);
    expect(rebuild.status, rebuild.stderr).toBe(0);
    expect(rebuild.stderr).toContain(`${file} is damaged (no such table: smtp_configs): rebuilding it from the events; the rebuilt read model takes its place`);
    expect(smtpConfig(dir, ['projection', 'verify']).status).toBe(0);
  }, 120_000);

  it('a missing read-model.db: projection rebuild makes it, its progress counting the events it projects, each line once', () => {
    const dir = seededCopy();
    rmSync(join(dir, SqliteProjectionStore.FILE));
    const rebuild = smtpConfig(dir, ['projection', 'rebuild']);
    expect(rebuild.status, rebuild.stderr).toBe(0);
    // stderr is a pipe here: plain lines, none said twice, the last counting the instances' events
    // (the domain claims' streams are not projected), as projection status counts them.
    const lines = rebuild.stderr.split('\n').filter((l) => l.startsWith('rebuild: '));
    expect(lines.length).toBeGreaterThan(0);
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines.at(-1)).toMatch(new RegExp(`^rebuild: ${INSTANCES * 3} events, 100%, \\d+ events/s$`));
    expect(smtpConfig(dir, ['projection', 'verify']).status).toBe(0);
  }, 120_000);

  it.skipIf(postgresSkipReason)('on PostgreSQL, a dropped read-model table does not stop events export and events copy', async () => {
    const db = await freshPostgresSchema(1);
    const env = { DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema };
    try {
      const history = smtpConfig(seededCopy(), ['events', 'export']).stdout;
      expect(smtpConfig(tempDir(), ['events', 'import'], history, env).status).toBe(0);
      expect(smtpConfig(tempDir(), ['projection', 'status'], undefined, env).status).toBe(0); // makes the read model's tables
      await db.pool.query(`DROP TABLE "${db.schema}".projection_checkpoints`);

      const exported = smtpConfig(tempDir(), ['events', 'export'], undefined, env);
      expect(exported.status, exported.stderr).toBe(0);
      expect(exported.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(
        history.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id),
      );
      const copied = smtpConfig(tempDir(), ['--json', 'events', 'copy', '--to', tempDir()], undefined, env);
      expect(copied.status, copied.stderr).toBe(0);
      expect(JSON.parse(copied.stdout)).toMatchObject({ same: true });
    } finally {
      await db.drop();
    }
  }, 180_000);

  it.skipIf(postgresSkipReason)('on PostgreSQL, a read model whose tables were dropped or altered: a server stops naming it and projection rebuild, which puts the rebuilt tables in its place', async () => {
    const db = await freshPostgresSchema(1);
    const env = { DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema };
    try {
      // The first 100 instances of the seeded history (a prefix of a log is a history).
      const history = smtpConfig(seededCopy(), ['events', 'export']).stdout.split('\n').slice(0, 400).join('\n') + '\n';
      expect(smtpConfig(tempDir(), ['events', 'import'], history, env).status).toBe(0);
      expect(smtpConfig(tempDir(), ['projection', 'rebuild'], undefined, env).status).toBe(0);
      await db.pool.query(`DROP TABLE "${db.schema}".projection_checkpoints`);
      await db.pool.query(`ALTER TABLE "${db.schema}".smtp_configs DROP COLUMN host`);

      const start = runCli(CLI.smtpConfig, ['start'], tempDir(), undefined, { ...env, PORT: '0', GRPC_PORT: 'off' });
      expect(start.status).toBe(1);
      expect(start.stderr).toContain(`the read model in the schema ${db.schema} is damaged (the table ${db.schema}.smtp_configs: column "host" does not exist; the table ${db.schema}.projection_checkpoints is missing)`);
      expect(start.stderr).toContain('run `smtp-config projection rebuild`');

      const rebuild = smtpConfig(tempDir(), ['--json', 'projection', 'rebuild'], undefined, env);
      expect(rebuild.status, rebuild.stderr).toBe(0);
      expect(rebuild.stderr).toContain(
        `the read model in the schema ${db.schema} is damaged (the table ${db.schema}.smtp_configs: column "host" does not exist; the table ${db.schema}.projection_checkpoints is missing): rebuilding it from the events; the rebuilt read model takes its place`,
      );
      const status = JSON.parse(smtpConfig(tempDir(), ['--json', 'projection', 'status'], undefined, env).stdout) as { head: string; lagEvents: number };
      expect(JSON.parse(rebuild.stdout)).toEqual({ rebuilt: true, checkpoint: status.head, resumedFrom: null });
      expect(status.lagEvents).toBe(0);
      expect(smtpConfig(tempDir(), ['projection', 'verify'], undefined, env).status).toBe(0);
      const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = $1', [shadowSchemaOf(db.schema)]);
      expect(rows[0]!.n).toBe(0);
    } finally {
      await dropWithShadows(db);
    }
  }, 180_000);

  it.skipIf(postgresSkipReason)('on PostgreSQL, one rebuild of a schema at a time: a second, which would share the shadow the first drops when done, stops naming the first and touches nothing', async () => {
    const db = await freshPostgresSchema(2);
    const env = { DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema };
    const first = await db.pool.connect();
    try {
      const history = smtpConfig(seededCopy(), ['events', 'export']).stdout.split('\n').slice(0, 40).join('\n') + '\n';
      expect(smtpConfig(tempDir(), ['events', 'import'], history, env).status).toBe(0);
      expect(smtpConfig(tempDir(), ['projection', 'status'], undefined, env).status).toBe(0); // makes the read model's tables
      await db.pool.query(`DROP TABLE "${db.schema}".projection_checkpoints`);
      await first.query('SELECT pg_advisory_lock(hashtext($1))', [rebuildLockKey(db.schema)]);

      const second = smtpConfig(tempDir(), ['projection', 'rebuild'], undefined, env);
      expect(second.status).toBe(2);
      expect(second.stderr).toContain(`another \`smtp-config projection rebuild\` runs on the schema ${db.schema}`);
      const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = $1', [shadowSchemaOf(db.schema)]);
      expect(rows[0]!.n).toBe(0);

      await first.query('SELECT pg_advisory_unlock(hashtext($1))', [rebuildLockKey(db.schema)]);
      const rebuild = smtpConfig(tempDir(), ['projection', 'rebuild'], undefined, env);
      expect(rebuild.status, rebuild.stderr).toBe(0);
      expect(smtpConfig(tempDir(), ['projection', 'verify'], undefined, env).status).toBe(0);
    } finally {
      first.release();
      await dropWithShadows(db);
    }
  }, 180_000);

  it.skipIf(postgresSkipReason)('on PostgreSQL, a rebuild stopped (SIGSTOP) inside its switch: PostgreSQL rolls the switch back within DATABASE_QUERY_TIMEOUT_MS, the live tables can be read meanwhile, and the resumed rebuild does not commit half', async () => {
    const db = await freshPostgresSchema(3);
    const env = { DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema, DATABASE_QUERY_TIMEOUT_MS: '1000' };
    const blocker = await db.pool.connect();
    let rebuild: ReturnType<typeof spawnSmtpConfig> | undefined;
    const sessionOf = async (pid: number) =>
      (await db.pool.query<{ state: string }>('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0]?.state;
    const until = async (what: string, done: () => Promise<boolean>, timeoutMs = 20_000) => {
      const end = Date.now() + timeoutMs;
      while (!(await done())) {
        if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms (${rebuild?.output().stderr ?? ''})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      const history = smtpConfig(seededCopy(), ['events', 'export']).stdout.split('\n').slice(0, 40).join('\n') + '\n';
      expect(smtpConfig(tempDir(), ['events', 'import'], history, env).status).toBe(0);
      expect(smtpConfig(tempDir(), ['projection', 'verify'], undefined, env).status).toBe(0); // makes the read model's tables and brings them up to the events
      const count = async () => (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${db.schema}".instances`)).rows[0]!.n;
      const before = await count();
      expect(before).toBeGreaterThan(0);

      // A reader holds the live instances table: the switch's TRUNCATE waits for it, which is where
      // the rebuild is then stopped. Once the reader lets go, the TRUNCATE goes through in PostgreSQL
      // and the stopped rebuild's session sits idle inside the switch, every live table locked.
      await blocker.query('BEGIN');
      await blocker.query(`SELECT 1 FROM "${db.schema}".instances LIMIT 1`);
      rebuild = spawnSmtpConfig(tempDir(), ['--json', 'projection', 'rebuild'], env);
      let switching = 0;
      await until('the switch waits for the reader', async () => {
        const { rows } = await db.pool.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = 'smtp-config projection rebuild' AND wait_event_type = 'Lock' AND query LIKE 'TRUNCATE%' AND query LIKE $1`,
          [`%${db.schema}.%`],
        );
        switching = rows[0]?.pid ?? 0;
        return switching !== 0;
      });
      rebuild.child.kill('SIGSTOP');
      await blocker.query('COMMIT');
      await until('the stopped switch holds the live tables, idle in its transaction', async () => (await sessionOf(switching)) === 'idle in transaction');
      // PostgreSQL ends the stopped switch's session (without the timeout it stayed for as long as
      // the rebuild was stopped) and rolls it back: the live tables are readable, with their rows.
      await until('PostgreSQL ends the stopped switch', async () => (await sessionOf(switching)) === undefined);
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE "${db.schema}".instances, "${db.schema}".instance_domains, "${db.schema}".smtp_configs IN ACCESS SHARE MODE NOWAIT`);
      await blocker.query('COMMIT');
      expect(await count()).toBe(before);

      rebuild.child.kill('SIGCONT');
      const code = await rebuild.exited;
      const { stdout, stderr } = rebuild.output();
      // Resumed, it finds its switch's session gone and switches again on a new one.
      expect(stderr).toContain('the switch to the rebuilt read model lost its PostgreSQL session before it committed');
      expect(code, stderr).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ rebuilt: true });
      expect(smtpConfig(tempDir(), ['projection', 'verify'], undefined, env).status).toBe(0);
    } finally {
      if (rebuild) {
        rebuild.child.kill('SIGCONT');
        kill(rebuild.child);
        await rebuild.exited;
      }
      await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
      await dropWithShadows(db);
    }
  }, 180_000);

  it.skipIf(postgresSkipReason)('on PostgreSQL, with a replica running on it: the replica writes and reads again once projection rebuild has replaced the dropped table', async () => {
    const db = await freshPostgresSchema(1);
    const env = { DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema };
    const dataDir = tempDir();
    const replica = spawnReplica('replica', { ...env, DATA_DIR: dataDir });
    try {
      await replica.listening(60_000);
      await replica.until('it writes the read model', () => replica.writesReadModel, 30_000);
      const first = await PostgresProjectionStore.attach(db.pool, { schema: db.schema }).instanceByDomain('localhost');
      const { privateJwk } = await loadOrCreateDevSigningKey(dataDir);
      const token = await signToken(privateJwk, { userId: '69629023906488001', instanceId: first!.id, roles: ['IAM_OWNER'], expiresIn: '1h' });
      await db.pool.query(`DROP TABLE "${db.schema}".projection_checkpoints`);

      const rebuild = smtpConfig(dataDir, ['--json', 'projection', 'rebuild'], undefined, env);
      expect(rebuild.status, rebuild.stderr).toBe(0);
      expect(rebuild.stderr).toContain(`the table ${db.schema}.projection_checkpoints is missing`);

      const added = await replica.post('localhost', token, seedRequest);
      expect(added.status, added.text).toBe(200);
      const read = await replica.get('localhost', token, added.json.id as string);
      expect(read.status, read.text).toBe(200);
      expect(replica.alive).toBe(true);
      expect(smtpConfig(dataDir, ['projection', 'verify'], undefined, env).status).toBe(0);
    } finally {
      await replica.stop();
      await dropWithShadows(db);
    }
  }, 180_000);
});

describe('shadowSchemaOf', () => {
  it('is <schema>_shadow while the store channels fit in 63 characters, else a shorter name with a hash, never the schema itself', () => {
    expect(shadowSchemaOf('smtp_config')).toBe('smtp_config_shadow');
    for (const length of [45, 46, 52, 63]) {
      const schema = 'a'.repeat(length);
      const shadow = shadowSchemaOf(schema);
      expect(shadow).not.toBe(schema);
      expect(`${shadow}_checkpoint`.length).toBeLessThanOrEqual(63);
      expect(shadowSchemaOf(schema)).toBe(shadow);
    }
    expect(shadowSchemaOf('a'.repeat(46))).not.toBe(shadowSchemaOf(`${'a'.repeat(45)}b`));
  });
});
