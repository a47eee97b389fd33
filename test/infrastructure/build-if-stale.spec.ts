import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, existsSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPT = resolve(ROOT, 'scripts/build-if-stale.mjs');

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

describe('npm run build (the package\'s own build script)', () => {
  // A stand-in project built with this package's `build` script, its scripts and its TypeScript.
  const project = mkdtempSync(join(tmpdir(), 'npm-run-build-'));
  afterAll(() => rmSync(project, { recursive: true, force: true }));
  const ownBuild = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { build: string } }).scripts.build;
  symlinkSync(join(ROOT, 'scripts'), join(project, 'scripts'));
  symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'));
  mkdirSync(join(project, 'src'));
  writeFileSync(join(project, 'src', 'a.ts'), 'export const a: number = 1;\n');
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', strict: true, types: [], outDir: 'dist' } }));
  writeFileSync(join(project, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { rootDir: 'src', outDir: 'dist' }, include: ['src'] }));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'p', private: true, type: 'module', scripts: { build: ownBuild } }));
  const env = { ...process.env, npm_execpath: '' };
  const npmRunBuild = () => spawnSync('npm', ['run', 'build', '--silent'], { cwd: project, encoding: 'utf8', env });
  const startsBuild = () => spawnSync(process.execPath, [SCRIPT], { cwd: project, encoding: 'utf8', env });
  const stamp = join(project, 'dist', '.build-stamp');
  const output = join(project, 'dist', 'a.js');
  const longAgo = new Date('2001-01-01T00:00:00Z');

  it('leaves the stamp the prestart build leaves: the next npm start does not build again', () => {
    const built = npmRunBuild();
    expect(built.status, built.stderr + built.stdout).toBe(0);
    expect(existsSync(output)).toBe(true);
    expect(existsSync(stamp)).toBe(true);
    // The stamp has the time the build started (before tsc wrote its output), as the prestart build's.
    expect(statSync(stamp).mtimeMs).toBeLessThanOrEqual(statSync(output).mtimeMs);

    utimesSync(output, longAgo, longAgo); // a rebuild would write it again
    expect(startsBuild().status).toBe(0);
    expect(statSync(output).mtimeMs).toBe(longAgo.getTime());
  });

  it('passes arguments after -- on to tsc (the prepack build turns source maps off so), and stamps that build too', () => {
    rmSync(join(project, 'dist'), { recursive: true, force: true });
    // The stand-in's tsconfig makes no source maps; the argument asks for them.
    const run = spawnSync('npm', ['run', 'build', '--silent', '--', '--sourceMap', 'true'], { cwd: project, encoding: 'utf8', env });
    expect(run.status, run.stderr).toBe(0);
    expect(existsSync(`${output}.map`)).toBe(true);
    expect(existsSync(stamp)).toBe(true);
  });

  it('removes the stamp when the build fails, so that the next npm start builds again', () => {
    expect(npmRunBuild().status).toBe(0);
    expect(existsSync(stamp)).toBe(true);
    writeFileSync(join(project, 'src', 'a.ts'), 'export const a: number = "not a number";\n');
    const failed = npmRunBuild();
    expect(failed.status).not.toBe(0);
    expect(failed.stdout + failed.stderr).toContain('TS2322');
    expect(existsSync(stamp)).toBe(false);
  });
});
