// `npm start` on a port it cannot have: refused before it writes anything into DATA_DIR.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createServerApp, loadConfig } from '../support/everything.js';
import { CLI, node, ROOT, spawnServer, tempDirs, waitForLine } from '../support/cli.js';
import { PortUnavailableError, reservePort } from '../../src/infrastructure/system/port-reservation.js';

const dirs = tempDirs('smtp-start-ports-');
const held: Server[] = [];
const children: ReturnType<typeof spawnServer>[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(held.splice(0).map((s) => new Promise((r) => s.close(r))));
  dirs.removeAll();
});

/** A port some other process listens on (here: the test itself). */
const holdAPort = async (): Promise<number> => {
  const server = createServer();
  held.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
};

/** A port nobody listens on now. */
const freePort = async (): Promise<number> => {
  const port = await holdAPort();
  await new Promise((r) => held.pop()!.close(r));
  return port;
};

const start = (env: Record<string, string>) => {
  const [cmd, args] = node(CLI.start);
  return spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, HOST: '127.0.0.1', GRPC_PORT: 'off', ...env }, encoding: 'utf8', timeout: 60_000 });
};

describe('npm start on a port that is in use', () => {
  it('fails naming PORT and the port, and writes nothing: DATA_DIR is not even made', { timeout: 60_000 }, async () => {
    const port = await holdAPort();
    const dataDir = join(dirs.make(), 'data');
    const run = start({ PORT: String(port), DATA_DIR: dataDir });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`failed to start: PORT ${port} is already in use (127.0.0.1:${port})`);
    expect(run.stderr).toContain('or set PORT to a free port');
    expect(existsSync(dataDir)).toBe(false);
    expect(run.stdout).not.toContain('created');
  });

  it('fails naming GRPC_PORT when the gRPC port is the one in use, also before writing anything', { timeout: 60_000 }, async () => {
    const grpcPort = await holdAPort();
    const dataDir = dirs.make();
    const run = start({ PORT: '0', GRPC_PORT: String(grpcPort), DATA_DIR: dataDir });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`failed to start: GRPC_PORT ${grpcPort} is already in use (127.0.0.1:${grpcPort})`);
    expect(run.stderr).toContain('or set GRPC_PORT to a free port');
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('refuses PORT and GRPC_PORT on one port as a configuration error (exit 2)', () => {
    const dataDir = dirs.make();
    const run = start({ PORT: '18080', GRPC_PORT: '18080', DATA_DIR: dataDir });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('PORT and GRPC_PORT are both 18080');
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('listens on fixed PORT and GRPC_PORT that are free: the ports held during start-up are handed over', { timeout: 60_000 }, async () => {
    const [port, grpcPort] = [await freePort(), await freePort()];
    const child = spawnServer(dirs.make(), { HOST: '127.0.0.1', PORT: String(port), GRPC_PORT: String(grpcPort) });
    children.push(child);
    const line = await waitForLine(child, /gRPC, gRPC-web and Connect on/, 50_000);
    expect((JSON.parse(line) as { url: string }).url).toBe(`http://127.0.0.1:${grpcPort}`);
    const health = await fetch(`http://127.0.0.1:${port}/admin/v1/smtp`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(health.status).toBe(401);
  });
});

describe("an embedder's createServerApp().listen() on a port in use", () => {
  it('rejects with the port, the variable and the remedy instead of a bare EADDRINUSE', async () => {
    const port = await holdAPort();
    const app = await createServerApp(loadConfig({ HOST: '127.0.0.1', PORT: String(port), GRPC_PORT: 'off', DATA_DIR: dirs.make(), LOG_LEVEL: 'silent' }));
    try {
      const error = await app.listen().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PortUnavailableError);
      expect(error).toMatchObject({ variable: 'PORT', port, code: 'EADDRINUSE' });
      expect((error as Error).message).toMatch(new RegExp(`^PORT ${port} is already in use .*set PORT to a free port$`));
    } finally {
      await app.close();
    }
  });
});

describe('a HOST that does not resolve', () => {
  it('stops the start naming HOST, not with a bare getaddrinfo error', async () => {
    const error = await reservePort('PORT', 'no-such-host.invalid', await freePort()).then(
      (held) => held.release(),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PortUnavailableError);
    expect((error as Error).message).toMatch(/^cannot listen on no-such-host\.invalid:\d+ for PORT: HOST no-such-host\.invalid does not resolve \((ENOTFOUND|EAI_AGAIN)\); set HOST to an address of this machine/);
  });
});
