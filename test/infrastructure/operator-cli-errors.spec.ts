import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';
import { CLI, tempDirs, node, ROOT, runCli } from '../support/cli.js';

const dirs = tempDirs('smtp-cli-errors-');
const tempDir = dirs.make;
afterAll(dirs.removeAll);

describe('read-only operator tools on a DATA_DIR without a store', () => {
  it.each([
    ['projection status', ['projection', 'status']],
    ['projection verify', ['projection', 'verify']],
    ['events export', ['events', 'export']],
  ])('%s exits 2 naming the directory, and creates nothing', (_name, args) => {
    const typo = join(tempDir(), 'dta');
    const run = runCli(CLI.smtpConfig, args, typo);
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr).toContain(`DATA_DIR ${typo} holds no event store`);
    expect(run.stdout).toBe('');
    expect(existsSync(typo)).toBe(false);
  });

  it('events import still creates the store it imports into', () => {
    const fresh = join(tempDir(), 'new');
    const run = runCli(CLI.smtpConfig, ['events', 'import'], fresh, '');
    expect(run.status, run.stderr).toBe(0);
    expect(existsSync(join(fresh, 'events.db'))).toBe(true);
  });
});

describe('events import --in a file that is not there', () => {
  it('exits 2 naming it, and makes no store in DATA_DIR', () => {
    const dir = join(tempDir(), 'data');
    const missing = join(tempDir(), 'expor.jsonl');
    const run = runCli(CLI.smtpConfig, ['events', 'import', '--in', missing], dir);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`--in ${missing}: no such file`);
    expect(existsSync(dir)).toBe(false);
  });
});

// `script` (util-linux) runs the command on a pseudo-terminal: stdin is a terminal, as when typed at a prompt.
const hasScript = process.platform === 'linux' && spawnSync('script', ['--version']).status === 0;

describe('events import without --in, stdin a terminal', () => {
  it.skipIf(!hasScript)('exits 2 at once, saying to pass --in FILE or pipe the events in, and makes no store', () => {
    const dir = join(tempDir(), 'data');
    const [cmd, pre] = node(CLI.smtpConfig);
    const line = [cmd, ...pre, 'events', 'import'].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
    // Without the check it read the terminal until Ctrl-D (here: `script` passes on the end of its empty stdin).
    const run = spawnSync('script', ['-qec', line, '/dev/null'], { cwd: ROOT, env: { ...process.env, DATA_DIR: dir }, input: '', encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stdout).toBe(2);
    expect(run.stdout).toContain('pass --in FILE, or pipe the events in');
    expect(existsSync(dir)).toBe(false);
  });
});

describe('exit codes: 2 for a configuration or usage error', () => {
  it('smtp-config start exits 2 on a bad PORT, naming it', () => {
    const run = runCli(CLI.smtpConfig, ['start'], tempDir(), undefined, { PORT: 'abc', GRPC_PORT: 'off' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/invalid configuration:\n\s+PORT:/);
  });

  it.each([
    ['npm run token', CLI.token],
    ['smtp-config token', CLI.smtpConfig],
  ])('%s exits 2 on an --expires-in that is not a time span', (_name, script) => {
    const args = script === CLI.smtpConfig ? ['token'] : [];
    const run = runCli(script, [...args, '--instance', 'localhost', '--expires-in', 'abc'], tempDir());
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--expires-in: "abc" is not a time span');
  });
});

describe('npm run token --audience', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = tempDir();
    const added = runCli(CLI.instance, ['add', '--name', 'Acme', '--domain', 'acme.example.com'], dataDir);
    expect(added.status, added.stderr).toBe(0);
  });

  it('puts --audience into aud; defaults it to JWT_AUDIENCE; none without either', () => {
    const given = runCli(CLI.token, ['--instance', 'acme.example.com', '--audience', 'smtp-api'], dataDir);
    expect(given.status, given.stderr).toBe(0);
    expect(decodeJwt(given.stdout.trim()).aud).toBe('smtp-api');

    const fromEnv = runCli(CLI.smtpConfig, ['token', '--instance', 'acme.example.com'], dataDir, undefined, { JWT_AUDIENCE: 'from-env' });
    expect(fromEnv.status, fromEnv.stderr).toBe(0);
    expect(decodeJwt(fromEnv.stdout.trim()).aud).toBe('from-env');

    const none = runCli(CLI.token, ['--instance', 'acme.example.com'], dataDir, undefined, { JWT_AUDIENCE: '' });
    expect(none.status, none.stderr).toBe(0);
    expect(decodeJwt(none.stdout.trim()).aud).toBeUndefined();
  });
});

describe('events export --help', () => {
  it('points at a README section that exists', () => {
    const run = runCli(CLI.smtpConfig, ['events', 'export', '--help'], tempDir());
    expect(run.status).toBe(0);
    const section = /README, "([^"]+)"/.exec(run.stdout.replace(/\s+/g, ' '))?.[1];
    expect(section).toBeDefined();
    const headings = readFileSync(join(ROOT, 'README.md'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .map((l) => l.replace(/^#+\s*/, '').replace(/`/g, ''));
    expect(headings).toContain(section);
  });
});

describe('smtp-config without a command', () => {
  it.each([
    ['nothing', []],
    ['events', ['events']],
    ['projection', ['projection']],
    ['instance', ['instance']],
  ])('%s: shows the help on stderr and exits 2, not 0 as if work were done', (_name, args) => {
    const dir = join(tempDir(), 'data');
    const run = runCli(CLI.smtpConfig, args, dir);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('Usage: smtp-config');
    expect(existsSync(dir)).toBe(false);
  });

  it.each([
    ['--help', ['--help']],
    ['projection --help', ['projection', '--help']],
    ['help events', ['help', 'events']],
  ])('%s still exits 0', (_name, args) => {
    const run = runCli(CLI.smtpConfig, args, tempDir());
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('Usage: smtp-config');
  });
});

describe('read-only operator tools on a DATABASE_SCHEMA without a store', () => {
  it.skipIf(postgresSkipReason).each([
    ['projection status', ['projection', 'status']],
    ['events export', ['events', 'export']],
    ['events copy (its source)', ['events', 'copy', '--to', 'TARGET']],
  ])('%s exits 2 naming the schema, and creates no schema', async (_name, args) => {
    const db = await freshPostgresSchema(1);
    try {
      const target = join(tempDir(), 'target');
      const run = runCli(CLI.smtpConfig, args.map((a) => (a === 'TARGET' ? target : a)), tempDir(), undefined, {
        DATABASE_URL: testDatabaseUrl,
        DATABASE_SCHEMA: db.schema,
      });
      expect(run.status, run.stderr).toBe(2);
      expect(run.stderr).toContain(`the schema ${db.schema} (DATABASE_SCHEMA) holds no event store`);
      expect(run.stdout).toBe('');
      const { rows } = await db.pool.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [db.schema]);
      expect(rows).toHaveLength(0);
      expect(existsSync(target)).toBe(false);
    } finally {
      await db.drop();
    }
  });

  it.skipIf(postgresSkipReason)('events import still creates the schema it imports into', async () => {
    const db = await freshPostgresSchema(1);
    try {
      const run = runCli(CLI.smtpConfig, ['events', 'import'], tempDir(), '', { DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema });
      expect(run.status, run.stderr).toBe(0);
      const status = runCli(CLI.smtpConfig, ['--json', 'projection', 'status'], tempDir(), undefined, { DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema });
      expect(status.status, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ checkpoint: null, head: null });
    } finally {
      await db.drop();
    }
  });
});
