/**
 * DATA_DIR is made with makeDirectory, not Node's recursive mkdirSync, which never returns (full CPU,
 * no output) when a parent exists but cannot hold the child, as under /proc, and below a dangling
 * symlink (a volume that is not mounted) gives an ENOENT that does not say what is missing. These
 * paths must fail at once and say why.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeDirectory } from '../../src/infrastructure/system/make-directory.js';
import { CLI, ROOT, runCli } from '../support/cli.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'make-dir-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/**
 * makeDirectory(dir) in a child process, so that a regression to a walk that never ends fails this
 * test after 20 s instead of freezing the test worker: what it threw, or undefined.
 */
const makeInChild = (dir: string): { code?: string; message: string } | undefined => {
  const script = `import { makeDirectory } from ${JSON.stringify(join(ROOT, 'src/infrastructure/system/make-directory.ts'))};
try { makeDirectory(${JSON.stringify(dir)}); console.log('null'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  if (run.error) throw new Error(`makeDirectory(${dir}) did not return within 20 s: ${run.error.message}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) ?? undefined;
};

const thrown = (f: () => void): NodeJS.ErrnoException => {
  try {
    f();
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
  throw new Error('expected an error');
};

describe('makeDirectory', () => {
  it('makes every missing level of a nested path', () => {
    const dir = join(root, 'a', 'b', 'c');
    makeDirectory(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
  });

  it('accepts a directory that exists, and a symlink to one', () => {
    makeDirectory(root);
    mkdirSync(join(root, 'real'));
    symlinkSync(join(root, 'real'), join(root, 'link'));
    makeDirectory(join(root, 'link'));
    makeDirectory(join(root, 'link', 'inside'));
    expect(statSync(join(root, 'real', 'inside')).isDirectory()).toBe(true);
  });

  it('refuses a file in the way, naming it', () => {
    writeFileSync(join(root, 'file'), '');
    expect(thrown(() => makeDirectory(join(root, 'file'))).code).toBe('ENOTDIR');
    expect(thrown(() => makeDirectory(join(root, 'file', 'below'))).code).toBe('ENOTDIR');
  });

  it('names the dangling symlink (an unmounted volume) a path lies below', () => {
    symlinkSync(join(root, 'not-mounted'), join(root, 'volume'));
    const below = makeInChild(join(root, 'volume', 'smtp', 'data'));
    expect(below?.code).toBe('ENOENT');
    expect(below?.message).toContain(`cannot use ${join(root, 'volume')}: it is a symlink to nothing`);
    expect(makeInChild(join(root, 'volume'))?.code).toBe('ENOENT');
  }, 60_000);

  it.skipIf(process.platform !== 'linux')('fails at once under /proc, where mkdir answers ENOENT for any new name, instead of spinning', () => {
    const error = makeInChild('/proc/smtp-config-nope/data');
    expect(error?.code).toBe('ENOENT');
    expect(error?.message).toContain('cannot create /proc/smtp-config-nope: /proc exists but cannot hold directories');
  }, 30_000);
});

describe('npm start with a DATA_DIR below a volume that is not mounted', () => {
  it('exits 1 with a message naming the dangling symlink', () => {
    symlinkSync(join(root, 'not-mounted'), join(root, 'volume'));
    const dataDir = join(root, 'volume', 'smtp');
    const run = runCli(CLI.start, [], dataDir, undefined, { PORT: '0', GRPC_PORT: 'off' });
    expect(run.error).toBeUndefined(); // spawnSync's 60 s timeout did not have to kill it
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`failed to start: ENOENT: cannot use ${join(root, 'volume')}: it is a symlink to nothing`);
  }, 60_000);
});
