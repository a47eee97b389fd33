// SIGTERM to the real server process (`npm start`'s entry) in the middle of a burst of POSTs.
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { seedRequest } from '../support/fixtures.js';
import { createInstances, killStartedServers, ownerToken, send, startServer, type TestInstance } from '../support/faults/server-process.js';

type Outcome = { instance: TestInstance; status: number; json: any } | { instance: TestInstance; error: string; fullySent: boolean };

/** A POST on its own connection that also says whether the whole request reached the kernel before a failure. */
const post = (url: string, port: number, instance: TestInstance, token: string): Promise<Outcome> =>
  new Promise((resolve) => {
    const body = JSON.stringify(seedRequest);
    let fullySent = false;
    const req = httpRequest(
      new URL('/admin/v1/smtp', url),
      {
        method: 'POST',
        agent: false,
        headers: { host: `${instance.domain}:${port}`, authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e: Error) => resolve({ instance, error: e.message, fullySent }));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ instance, status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('finish', () => (fullySent = true));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ instance, error: e.code ?? e.message, fullySent }));
    req.end(body);
  });

const dirs: string[] = [];
afterEach(() => killStartedServers());
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('SIGTERM during a burst of requests', () => {
  it('answers every fully-sent request (200, 409 or 503 in the API shape), exits 0, and every 200 is there after a restart', { timeout: 180_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'smtp-sigterm-'));
    dirs.push(dataDir);
    const instances = await createInstances(dataDir, 100, 'sigterm');
    const server = await startServer(dataDir, 'plain', { SHUTDOWN_GRACE_MS: '20000' });
    const tokens = new Map(await Promise.all(instances.map(async (i) => [i.id, await ownerToken(dataDir, i.id)] as const)));

    let answered = 0;
    let signalled = false;
    // Waves of 20 concurrent POSTs, so that some are being handled, some just sent and some not yet
    // sent when the signal lands.
    const burst: Promise<Outcome>[] = [];
    for (let n = 0; n < 400; n++) {
      const instance = instances[n % instances.length]!;
      burst.push(
        post(server.url, server.port, instance, tokens.get(instance.id)!).then((outcome) => {
          if ('status' in outcome && ++answered === 40 && !signalled) {
            signalled = true;
            process.kill(server.serverPid, 'SIGTERM');
          }
          return outcome;
        }),
      );
      if (n % 20 === 19) await new Promise((r) => setTimeout(r, 10));
    }
    const outcomes = await Promise.all(burst);
    expect(signalled).toBe(true);
    const { code } = await server.exited;
    expect(code).toBe(0);

    const unanswered = outcomes.filter((o) => 'error' in o && o.fullySent);
    expect(unanswered).toEqual([]);
    const answers = outcomes.filter((o): o is Extract<Outcome, { status: number }> => 'status' in o);
    expect(answers.filter((a) => ![200, 409, 503].includes(a.status))).toEqual([]);
    for (const a of answers.filter((x) => x.status !== 200)) expect(Object.keys(a.json)).toEqual(['code', 'message', 'details']);
    expect(answers.some((a) => a.status === 503)).toBe(true);

    const restarted = await startServer(dataDir);
    const stored = answers.filter((a) => a.status === 200);
    expect(stored.length).toBeGreaterThan(0);
    for (const a of stored) {
      const res = await send(restarted.url, { path: `/admin/v1/smtp/${a.json.id}`, host: `${a.instance.domain}:${restarted.port}`, token: tokens.get(a.instance.id)! });
      expect([a.json.id, res.status]).toEqual([a.json.id, 200]);
    }
  });
});

describe('a signal while gRPC is still loading', () => {
  it('drains and stops (exit 0, "stopped" last) when it comes as soon as the REST port is up', { timeout: 60_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'smtp-early-signal-'));
    dirs.push(dataDir);
    // gRPC on: its modules take a few hundred milliseconds to load after "listening on".
    const server = await startServer(dataDir, 'plain', { GRPC_PORT: '0' });
    process.kill(server.serverPid, 'SIGINT');
    const { code, signal } = await server.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const lines = server.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string });
    const messages = lines.map((l) => l.msg);
    expect(messages).toContain('shutting down: finishing in-flight requests');
    expect(messages.at(-1)).toBe('stopped');
  });
});
