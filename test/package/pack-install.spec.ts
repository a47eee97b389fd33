import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The package as a consumer gets it: `npm pack` (its prepack builds dist/ from scratch) in a copy of
 * the repository's sources, the tarball installed into a fresh project with the peers it uses, the
 * consumer typechecked with strict settings (test/package/consumer/tsconfig.json: NodeNext,
 * exactOptionalPropertyTypes, noUncheckedIndexedAccess, skipLibCheck false), then run.
 * Slow (a build, an install, a typecheck): about a minute on two cores.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
  devDependencies: Record<string, string>;
  dependencies: Record<string, string>;
  overrides: Record<string, string>;
};

const npm = (cwd: string, args: string[]) => {
  const run = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 240_000, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (run.status !== 0) throw new Error(`npm ${args.join(' ')} failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
};

/**
 * The packages the packed files under an entry point reach through their static imports: `js` follows
 * what Node loads when the entry is imported (not the lazy `import()`s), `d.ts` what TypeScript reads
 * for its types (`import("pkg").T` included).
 */
const packagesReachedFrom = (entryFile: string, kind: 'js' | 'd.ts'): Set<string> => {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const pending = [entryFile];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    const specifiers = [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]/gm)].map((m) => m[1] ?? m[2]!);
    if (kind === 'd.ts') specifiers.push(...[...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!));
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) pending.push(resolve(dirname(file), kind === 'js' ? specifier : specifier.replace(/\.js$/, '.d.ts')));
      else if (!isBuiltin(specifier)) packages.add(specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/'));
    }
  }
  return packages;
};

let work: string;
let consumer: string;
let tarballFiles: string[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'smtp-config-pack-'));
  // A staging copy, so that prepack's clean build never touches the worktree's dist/ (other tests run from it).
  const stage = join(work, 'stage');
  mkdirSync(stage);
  for (const f of ['package.json', 'package-lock.json', 'README.md', 'LICENSE', 'tsconfig.json', 'tsconfig.build.json', 'src', 'scripts']) {
    cpSync(join(ROOT, f), join(stage, f), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir');
  const packed = JSON.parse(npm(stage, ['pack', '--json', '--pack-destination', work])) as [{ filename: string; files: { path: string }[] }];
  tarballFiles = packed[0].files.map((f) => f.path);

  consumer = join(work, 'consumer');
  cpSync(join(ROOT, 'test/package/consumer'), consumer, { recursive: true });
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', overrides: pkg.overrides }, null, 2),
  );
  // The peers this consumer uses, at the versions the repository tests (exact, so they come from npm's cache).
  // The gRPC entry's optional peers too: the test below imports every entry point, ./grpc included.
  const peers = [
    'fastify', 'inversify', 'jose', 'pg', 'better-sqlite3', '@eventstore/db-client', '@types/node', '@types/pg', '@types/better-sqlite3',
    '@zitadel/proto', '@bufbuild/protobuf', '@connectrpc/connect', '@connectrpc/connect-node',
  ];
  npm(consumer, [
    'install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts',
    join(work, packed[0].filename),
    ...peers.map((p) => `${p}@${pkg.devDependencies[p]}`),
  ]);
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('the packed package', () => {
  it('carries dist, README, LICENSE and package.json, and no tests, sources, maps, CI or tsconfig files', () => {
    expect(tarballFiles).toContain('package.json');
    expect(tarballFiles).toContain('README.md');
    // package.json says Apache-2.0, whose section 4(a) asks that every copy carry the license's text.
    expect(tarballFiles).toContain('LICENSE');
    expect(tarballFiles).toContain('dist/index.js');
    expect(tarballFiles).toContain('dist/index.d.ts');
    const unwanted = tarballFiles.filter((f) => /^(test|src|scripts|\.ci)\/|\.map$|^tsconfig|^vitest|^stryker/.test(f));
    expect(unwanted).toEqual([]);
  });

  it('installs the smtp-config command, whose --help loads nothing but its own dependencies', () => {
    expect(tarballFiles).toContain('dist/infrastructure/cli/smtp-config.js');
    const help = spawnSync(join(consumer, 'node_modules/.bin/smtp-config'), ['--help'], { cwd: consumer, encoding: 'utf8' });
    expect(help.stderr).toBe('');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('events');
    expect(help.stdout).toContain('projection');
  });

  it('has a file behind every entry point it exports', () => {
    for (const [entry, target] of Object.entries(pkg.exports)) {
      const paths = typeof target === 'string' ? [target] : Object.values(target as Record<string, string>);
      for (const path of paths) expect(tarballFiles, `${entry} → ${path}`).toContain(path.replace(/^\.\//, ''));
    }
  });

  it("typechecks in a strict consumer (NodeNext, exactOptionalPropertyTypes, noUncheckedIndexedAccess, skipLibCheck false) with the consumer's own FastifyRequest declarations", () => {
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: consumer, encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  }, 120_000);

  it('typechecks as well under a bundler\'s resolution (moduleResolution Bundler, module Preserve)', () => {
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.bundler.json'], { cwd: consumer, encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  }, 120_000);

  it('imports every entry point and embeds the module with plain functions, the inversify module and the Fastify plugin', () => {
    const run = JSON.parse(execFileSync(process.execPath, ['dist/app.js'], { cwd: consumer, encoding: 'utf8' })) as Record<string, any>;
    expect(run['name']).toBe('@iam/smtp-config');
    expect(run['plain'].id).toMatch(/^\d+$/);
    expect(JSON.parse(run['plain'].json).sequence).toBe('3');
    expect(run['inversify'].secondIsAlreadyExists).toBe(true);
    expect(run['fastify']).toEqual({ status: 200, mine: { login: 'app-user', instance: 7 } });
    expect(run['testing']).toBe('ok');
    expect(run['adapters']).toEqual(['function', 'function', 'function', 'function', 'function']);
    for (const entry of Object.keys(pkg.exports).filter((e) => e !== './package.json')) {
      const name = `@iam/smtp-config${entry.slice(1)}`;
      const loaded = spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(name)}); console.log(Object.keys(m).length)`], { cwd: consumer, encoding: 'utf8' });
      expect(loaded.stderr, name).toBe('');
      expect(Number(loaded.stdout), name).toBeGreaterThan(0);
    }
  }, 120_000);

  it("needs, behind each entry point, no package that its row of the README's table does not name: neither when loaded nor for its types", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
    const installed = join(consumer, 'node_modules/@iam/smtp-config');
    const missing: string[] = [];
    for (const [entry, target] of Object.entries(pkg.exports)) {
      if (entry === './package.json') continue;
      const name = `@iam/smtp-config${entry.slice(1)}`;
      const row = readme.find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row, `a row for ${name} in the README's table of entry points`).toBeDefined();
      const named = new Set([...row!.split('|')[3]!.matchAll(/`((?:@[^/`@]+\/)?[^/`@\s]+)(?:@[^`]*)?`/g)].map((m) => m[1]!));
      const allowed = (p: string) => p in pkg.dependencies || named.has(p) || named.has(`@types/${p}`);
      const { types, default: js } = target as { types: string; default: string };
      for (const p of packagesReachedFrom(join(installed, js), 'js')) if (!allowed(p)) missing.push(`${name} loads ${p}`);
      for (const p of packagesReachedFrom(join(installed, types), 'd.ts')) if (!allowed(p)) missing.push(`${name}'s types need ${p}`);
    }
    expect(missing).toEqual([]);
  });

  it('names no source map in its files, since it ships none', () => {
    const installed = join(consumer, 'node_modules/@iam/smtp-config');
    const js = tarballFiles.filter((f) => f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(50);
    expect(js.filter((f) => readFileSync(join(installed, f), 'utf8').includes('sourceMappingURL'))).toEqual([]);
  });

  it('loads /grpc with only the four gRPC packages: the REST helpers it shares bring in no fastify, jose or pino', () => {
    const installed = join(consumer, 'node_modules/@iam/smtp-config');
    const { default: js } = pkg.exports['./grpc'] as { default: string };
    const loaded = packagesReachedFrom(join(installed, js), 'js');
    expect([...loaded].filter((p) => ['fastify', 'jose', 'pino'].includes(p))).toEqual([]);
    expect(loaded.has('@zitadel/proto')).toBe(true);
  });

  it('can be required from CommonJS on Node 20.19 and later (require(esm))', () => {
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    const supported = major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
    const run = spawnSync(process.execPath, ['--no-warnings', 'require.cjs'], { cwd: consumer, encoding: 'utf8' });
    if (supported) expect(JSON.parse(run.stdout)).toEqual({ domain: 'function', root: 'function' });
    else expect(run.status).not.toBe(0);
  }, 60_000);
});
