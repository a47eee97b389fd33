// gRPC is optional: its port is configured like PORT, and nothing outside its entry point loads
// @zitadel/proto or connect-es, so a server with GRPC_PORT=off (or an embedder) never pays for them.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, grpcPortOf, loadConfig } from '../../src/infrastructure/config.js';
import { ROOT } from '../support/cli.js';

const GRPC_ONLY = /from '(@zitadel\/|@connectrpc\/|@bufbuild\/)|from '[./]*\/?grpc\//;

const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

describe('gRPC is optional', () => {
  it('GRPC_PORT: 9090 by default, a free port when PORT is 0, a number, or off', () => {
    expect(grpcPortOf(loadConfig({}))).toBe(9090);
    expect(grpcPortOf(loadConfig({ PORT: '0' }))).toBe(0);
    expect(grpcPortOf(loadConfig({ PORT: '0', GRPC_PORT: '7000' }))).toBe(7000);
    expect(grpcPortOf(loadConfig({ GRPC_PORT: 'off' }))).toBeUndefined();
    expect(() => loadConfig({ GRPC_PORT: 'on' })).toThrow(ConfigError);
    expect(() => loadConfig({ GRPC_PORT: '70000' })).toThrow(/GRPC_PORT/);
  });

  it('no module outside src/infrastructure/grpc imports it or its packages statically (start.ts imports it dynamically)', () => {
    const grpcDir = join(ROOT, 'src/infrastructure/grpc');
    const offenders = sources(join(ROOT, 'src'))
      .filter((f) => !f.startsWith(grpcDir))
      .filter((f) => GRPC_ONLY.test(readFileSync(f, 'utf8')))
      .map((f) => relative(ROOT, f));
    expect(offenders).toEqual([]);
    expect(readFileSync(join(ROOT, 'src/infrastructure/cli/start.ts'), 'utf8')).toContain("await import('../grpc/index.js')");
  });
});
