import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, existsSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = resolve(import.meta.dirname, '../../scripts/build-if-stale.mjs');

describe('scripts/build-if-stale.mjs (prestart, pretoken, preinstance, prepare)', () => {
  // A stand-in project whose "build" only counts how often it ran.
  const project = mkdtempSync(join(tmpdir(), 'build-if-stale-'));
  afterAll(() => rmSync(project, { recursive: true, force: true }));
  mkdirSync(join(project, 'src'));
  writeFileSync(join(project, 'src', 'a.ts'), 'export const a = 1;\n');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'p', private: true, scripts: { build: "node -e \"require('fs').appendFileSync('builds.txt','x')\"" } }));
  const run = () => spawnSync(process.execPath, [SCRIPT], { cwd: project, encoding: 'utf8', env: { ...process.env, npm_execpath: '' } });
  const builds = () => (existsSync(join(project, 'builds.txt')) ? readFileSync(join(project, 'builds.txt'), 'utf8').length : 0);
  const future = () => new Date(Date.now() + 60_000);

  it('builds when there is no build yet, then not again while nothing changed', () => {
    expect(run().status).toBe(0);
    expect(builds()).toBe(1);
    expect(run().status).toBe(0);
    expect(builds()).toBe(1);
  });

  it('builds again when a source file is newer than the last build', () => {
    utimesSync(join(project, 'src', 'a.ts'), future(), future());
    expect(run().status).toBe(0);
    expect(builds()).toBe(2);
  });

  it('builds again when a source file was deleted (its directory changed)', () => {
    writeFileSync(join(project, 'src', 'b.ts'), '');
    run();
    const before = builds();
    unlinkSync(join(project, 'src', 'b.ts'));
    utimesSync(join(project, 'src'), future(), future());
    run();
    expect(builds()).toBe(before + 1);
  });

  it('fails, and builds again next time, when the build fails', () => {
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'p', private: true, scripts: { build: 'node -e "process.exit(3)"' } }));
    const failed = run();
    expect(failed.status).not.toBe(0);
    expect(run().status).not.toBe(0);
  });
});
