import { describe, expect, it } from 'vitest';

/**
 * The domain's modules build their schemas and kits when they are loaded. These tests load them
 * inside a test (no static import of src here), so a module that cannot be loaded fails a test
 * instead of failing the file before any test is collected.
 */
describe('domain modules', () => {
  it('load the request schema, which validates a complete request', async () => {
    const { parseAddSmtpConfigRequest } = await import('../../src/domain/instance/smtp-config.js');
    const body = {
      senderAddress: 'noreply@m.zitadel.cloud',
      senderName: 'ZITADEL',
      tls: true,
      host: 'smtp.postmarkapp.com:587',
      user: 'u',
      password: 'p',
      replyToAddress: 'replyto@m.zitadel.cloud',
      description: 'd',
    };
    expect(parseAddSmtpConfigRequest(body)).toEqual(body);
  });

  it('load the decider kit', async () => {
    const { DeciderSpecification } = await import('../../src/domain/testing.js');
    const { Instance } = await import('../../src/domain/instance/instance.js');
    const error = DeciderSpecification.for(Instance)
      .given([])
      .when({ type: 'SetUpInstance', instanceId: '1', name: '', domains: [], now: new Date(0) })
      .thenThrows('InvalidArgument', 'INST-VAL-8fk2');
    expect(error.violations).toHaveLength(2);
  });
});

/**
 * What importing each entry point loads, seen by a resolve hook and require's cache in a fresh
 * process (test/support/record-modules.mjs): the packages under node_modules it pulls in.
 */
const ROOT = new URL('../../', import.meta.url);
const packagesLoadedBy = async (entry: string): Promise<Set<string>> => {
  const { spawnSync } = await import('node:child_process');
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', './test/support/record-modules.mjs', '--input-type=module', '-e', `await import(${JSON.stringify(`./${entry}`)});`],
    { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
  );
  expect(run.status, run.stderr).toBe(0);
  const packages = new Set<string>();
  for (const [, url] of run.stderr.matchAll(/^module: (.*)$/gm)) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url!);
    if (m && !/\/node_modules\/(tsx|esbuild|get-tsconfig|resolve-pkg-maps|@esbuild)\b/.test(url!)) packages.add(m[1]!);
  }
  return packages;
};

const HEAVY = ['@grpc/grpc-js', '@eventstore/db-client', 'fastify', 'pg', 'better-sqlite3', 'jose', 'pino', 'inversify'];

describe('entry points load only their own layer', () => {
  it('./domain and ./testing load zod and nothing else from node_modules: no gRPC, no HTTP, no database driver', async () => {
    expect([...(await packagesLoadedBy('src/domain/index.ts'))]).toEqual(['zod']);
    expect([...(await packagesLoadedBy('src/domain/testing.ts'))]).toEqual(['zod']);
  }, 60_000);

  it('the root, ./application and ./adapters load none of the heavy packages', async () => {
    for (const entry of ['src/index.ts', 'src/application/index.ts', 'src/infrastructure/adapters.ts']) {
      const loaded = await packagesLoadedBy(entry);
      expect(HEAVY.filter((p) => loaded.has(p)), entry).toEqual([]);
    }
  }, 60_000);

  it('./inversify loads inversify, ./fastify loads fastify, and neither loads gRPC or a database driver', async () => {
    const inversify = await packagesLoadedBy('src/infrastructure/inversify.ts');
    const fastify = await packagesLoadedBy('src/infrastructure/fastify.ts');
    expect(inversify.has('inversify')).toBe(true);
    expect(fastify.has('fastify')).toBe(true);
    expect(HEAVY.filter((p) => p !== 'inversify' && inversify.has(p))).toEqual([]);
    expect(HEAVY.filter((p) => p !== 'fastify' && fastify.has(p))).toEqual([]);
  }, 60_000);

  it('./eventstoredb does load gRPC (so the probe sees CommonJS packages a dependency requires)', async () => {
    const loaded = await packagesLoadedBy('src/infrastructure/eventstoredb/index.ts');
    expect(loaded.has('@grpc/grpc-js')).toBe(true);
    expect(loaded.has('fastify')).toBe(false);
  }, 60_000);
});
