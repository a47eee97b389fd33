// Faults against the real server process on the embedded SQLite store: kill -9 with requests in
// flight, a second server on the same DATA_DIR, PID namespaces (the server as a container's pid 1),
// and a full disk (a real, small tmpfs).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { seedRequest } from '../support/fixtures.js';
import {
  createInstances,
  kill9,
  killStartedServers,
  nsPids,
  ownerToken,
  pidNamespaceUnavailable,
  send,
  smtpConfigsInEventFile,
  restartEventsWal,
  spawnServer,
  startOutcome,
  startServer,
  waitUntilProjected,
  type HttpResponse,
  type StartedServer,
  type TestInstance,
} from '../support/faults/server-process.js';

const SLOW = { timeout: 180_000 };

const tempDirs: string[] = [];
const tempDir = (name: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `smtp-faults-${name}-`));
  tempDirs.push(dir);
  return dir;
};

afterEach(async () => {
  await killStartedServers();
});
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const postSeed = (server: StartedServer, instance: TestInstance, token: string): Promise<HttpResponse> =>
  send(server.url, { method: 'POST', path: '/admin/v1/smtp', host: `${instance.domain}:${server.port}`, token, body: seedRequest });

const getConfig = (server: StartedServer, instance: TestInstance, token: string, id: string): Promise<HttpResponse> =>
  send(server.url, { path: `/admin/v1/smtp/${id}`, host: `${instance.domain}:${server.port}`, token });

interface Acknowledged {
  readonly instance: TestInstance;
  readonly id: string;
}

/** Every acknowledged configuration is served by `server` and stored in events.db, once, in its instance's stream. */
const expectAllStored = async (server: StartedServer, dataDir: string, acknowledged: readonly Acknowledged[], tokens: Map<string, string>) => {
  const served = await Promise.all(
    acknowledged.map(async ({ instance, id }) => {
      const res = await getConfig(server, instance, tokens.get(instance.id)!, id);
      return { id, status: res.status, servedId: res.json?.smtpConfig?.id as unknown };
    }),
  );
  expect(served.filter((s) => s.status !== 200 || s.servedId !== s.id)).toEqual([]);
  const inFile = await smtpConfigsInEventFile(dataDir);
  expect(acknowledged.filter(({ instance, id }) => JSON.stringify(inFile.get(instance.id)) !== JSON.stringify([id]))).toEqual([]);
};

const tokensFor = async (dataDir: string, instances: readonly TestInstance[]): Promise<Map<string, string>> =>
  new Map(await Promise.all(instances.map(async (i) => [i.id, await ownerToken(dataDir, i.id)] as const)));

describe('the server process on SQLite, under faults', () => {
  it('kill -9 with requests in flight: the restart on the same DATA_DIR starts at once and every acknowledged configuration is there', SLOW, async () => {
    const dataDir = tempDir('kill9');
    const instances = await createInstances(dataDir, 70, 'kill9');
    const [steady, inFlight] = [instances.slice(0, 50), instances.slice(50)];
    const first = await startServer(dataDir);
    const tokens = await tokensFor(dataDir, instances);
    const acknowledged: Acknowledged[] = [];
    const record = (instance: TestInstance, res: HttpResponse) => {
      if (res.status === 200) acknowledged.push({ instance, id: res.json.id as string });
      return res.status;
    };

    // 50 requests, five at a time.
    const steadyStatuses: number[] = [];
    for (let i = 0; i < steady.length; i += 5) {
      const wave = steady.slice(i, i + 5);
      const responses = await Promise.all(wave.map((inst) => postSeed(first, inst, tokens.get(inst.id)!)));
      steadyStatuses.push(...responses.map((res, j) => record(wave[j]!, res)));
    }
    expect(steadyStatuses.filter((s) => s !== 200)).toEqual([]);

    // 20 more at once; kill -9 as soon as the first of them is answered, with the others in flight.
    let settled = 0;
    let unsettledAtKill = -1;
    let killed: Promise<void> | undefined;
    const outcomes = await Promise.all(
      inFlight.map((inst) =>
        postSeed(first, inst, tokens.get(inst.id)!)
          .then((res) => record(inst, res), (error: Error) => error.message)
          .finally(() => {
            settled++;
            if (!killed) {
              unsettledAtKill = inFlight.length - settled;
              killed = kill9(first);
            }
          }),
      ),
    );
    await killed;
    expect(unsettledAtKill).toBeGreaterThan(0);
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // Any answer that came back is either a 200 (recorded above) or a cut connection, never an error status.
    expect(outcomes.filter((o) => typeof o === 'number' && o !== 200)).toEqual([]);

    // One start, no retry: the lock went with the killed process.
    const second = await startServer(dataDir);
    await expectAllStored(second, dataDir, acknowledged, tokens);
    expect(acknowledged.length).toBeGreaterThanOrEqual(steady.length + 1);
  });

  it('a second server on the same DATA_DIR exits non-zero naming the directory, and the first keeps serving', SLOW, async () => {
    const dataDir = tempDir('second');
    const [a, b] = await createInstances(dataDir, 2, 'second');
    const first = await startServer(dataDir);
    const tokens = await tokensFor(dataDir, [a!, b!]);
    const before = await postSeed(first, a!, tokens.get(a!.id)!);
    expect(before.status).toBe(200);

    const second = spawnServer(dataDir);
    const outcome = await startOutcome(second);
    expect(outcome, 'the second server started').toMatchObject({ listening: false });
    expect(outcome.listening || outcome.code).not.toBe(0);
    expect(outcome.listening || outcome.code).not.toBeNull();
    expect(second.stderr()).toContain(dataDir);
    expect(second.stderr()).toMatch(/in use/);
    expect(second.stdout()).not.toMatch(/listening on/);

    expect(first.isRunning()).toBe(true);
    const after = await postSeed(first, b!, tokens.get(b!.id)!);
    expect(after.status).toBe(200);
    await expectAllStored(first, dataDir, [
      { instance: a!, id: before.json.id as string },
      { instance: b!, id: after.json.id as string },
    ], tokens);
  });

  describe('as process 1 of its own PID namespace (a container)', () => {
    it('killed with -9, it restarts at once in a new PID namespace; a server in another namespace on the same DATA_DIR is refused', SLOW, async (ctx) => {
      const unavailable = pidNamespaceUnavailable();
      if (unavailable) ctx.skip(unavailable);
      const dataDir = tempDir('pidns');
      const [a, b, c] = await createInstances(dataDir, 3, 'pidns');
      const first = await startServer(dataDir, 'pid-namespace');
      expect(nsPids(first.serverPid).at(-1)).toBe(1);
      const ownNamespace = readlinkSync('/proc/self/ns/pid');
      expect(readlinkSync(`/proc/${first.serverPid}/ns/pid`)).not.toBe(ownNamespace);
      const tokens = await tokensFor(dataDir, [a!, b!, c!]);
      const added = await postSeed(first, a!, tokens.get(a!.id)!);
      expect(added.status).toBe(200);

      await kill9(first);
      expect(first.child.exitCode !== 0 || first.child.signalCode !== null).toBe(true);

      const second = await startServer(dataDir, 'pid-namespace');
      expect(nsPids(second.serverPid).at(-1)).toBe(1);
      // (The first namespace died with its pid 1: the kernel may give the new one the same inode number.)
      expect(readlinkSync(`/proc/${second.serverPid}/ns/pid`)).not.toBe(ownNamespace);
      await expectAllStored(second, dataDir, [{ instance: a!, id: added.json.id as string }], tokens);

      // A third, in yet another namespace where pid 1 is also "the server": the lock is on the file.
      const third = spawnServer(dataDir, 'pid-namespace');
      const outcome = await startOutcome(third);
      expect(outcome, 'the server in the third namespace started').toMatchObject({ listening: false });
      expect(outcome.listening || outcome.code).not.toBe(0);
      expect(outcome.listening || outcome.code).not.toBeNull();
      expect(third.stderr()).toContain(dataDir);
      expect(third.stderr()).toMatch(/in use/);

      expect(second.isRunning()).toBe(true);
      const later = await postSeed(second, b!, tokens.get(b!.id)!);
      expect(later.status).toBe(200);
    });
  });

  describe('on a full disk (a real 4 MiB tmpfs)', () => {
    let mountPoint: string | undefined;
    const isMounted = (dir: string) => readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
    const unmount = () => {
      if (!mountPoint) return;
      if (isMounted(mountPoint)) {
        const res = spawnSync('umount', [mountPoint], { encoding: 'utf8' });
        if (res.status !== 0) spawnSync('umount', ['-l', mountPoint]);
      }
      rmSync(mountPoint, { recursive: true, force: true });
      mountPoint = undefined;
    };
    afterEach(async () => {
      await killStartedServers();
      unmount();
    });
    afterAll(async () => {
      await killStartedServers();
      unmount();
    });

    /** Mounts a 4 MiB tmpfs (or skips, saying why) and returns a DATA_DIR on it. */
    const smallDisk = (ctx: { skip: (note?: string) => never }): string => {
      if (process.getuid?.() !== 0) ctx.skip('needs root to mount a tmpfs; run as root (CI does)');
      mountPoint = mkdtempSync(join(tmpdir(), 'smtp-faults-tmpfs-'));
      const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint], { encoding: 'utf8' });
      if (mounted.status !== 0) {
        const reason = `cannot mount a tmpfs here (exit ${mounted.status}): ${mounted.stderr.trim() || mounted.error?.message}`;
        unmount();
        ctx.skip(reason);
      }
      const dataDir = join(mountPoint, 'data');
      mkdirSync(dataDir);
      return dataDir;
    };

    const free = () => {
      const s = statfsSync(mountPoint!);
      return s.bavail * s.bsize;
    };
    const fillerFile = () => join(mountPoint!, 'filler');
    /** Fills the file system up to `leave` bytes with a file beside DATA_DIR. */
    const fill = (leave: number) => {
      writeFileSync(fillerFile(), Buffer.alloc(Math.max(0, free() - leave)));
      expect(free()).toBeLessThanOrEqual(leave);
    };

    type Refused = { readonly instance: TestInstance; readonly res: HttpResponse };

    /**
     * One POST on the full disk. A 200 must be on disk (it is recorded as acknowledged); anything
     * else must be 503 / code 14 and must not be in events.db (checked at once, while the disk is
     * still full; soft, so that the rest of the scenario runs too).
     */
    const postOnFullDisk = async (
      server: StartedServer,
      dataDir: string,
      instance: TestInstance,
      tokens: Map<string, string>,
      acknowledged: Acknowledged[],
    ): Promise<Refused | undefined> => {
      const res = await postSeed(server, instance, tokens.get(instance.id)!);
      if (res.status === 200) {
        acknowledged.push({ instance, id: res.json.id as string });
        return undefined;
      }
      expect({ status: res.status, code: res.json?.code }, res.text).toEqual({ status: 503, code: 14 });
      const storedWhileFull = await smtpConfigsInEventFile(dataDir);
      expect
        .soft(storedWhileFull.get(instance.id), `answered ${res.status} (${res.json?.details?.[0]?.id}), but its configuration is in events.db`)
        .toBeUndefined();
      return { instance, res };
    };

    /**
     * Deletes the filler and POSTs again on the same server (200); once its read model has caught up,
     * it serves every acknowledged configuration. Then kill -9, restart, and find exactly the
     * acknowledged configurations in events.db and served, and none of the refused ones.
     */
    const recoverThenRestart = async (
      server: StartedServer,
      dataDir: string,
      instance: TestInstance,
      tokens: Map<string, string>,
      acknowledged: Acknowledged[],
      refused: readonly Refused[],
    ) => {
      rmSync(fillerFile());
      const again = await postSeed(server, instance, tokens.get(instance.id)!);
      expect({ status: again.status, body: again.status === 200 ? undefined : again.text }).toEqual({ status: 200, body: undefined });
      acknowledged.push({ instance, id: again.json.id as string });
      await waitUntilProjected(dataDir);
      await expectAllStored(server, dataDir, acknowledged, tokens);

      await kill9(server);
      const restarted = await startServer(dataDir);
      await expectAllStored(restarted, dataDir, acknowledged, tokens);
      const inFile = await smtpConfigsInEventFile(dataDir);
      for (const { instance: r, res } of refused) {
        expect(inFile.get(r.id), `answered ${res.status}, but its configuration is in events.db after the restart`).toBeUndefined();
      }
      expect([...inFile.values()].flat().length).toBe(acknowledged.length);
    };

    it('when events.db cannot grow, the write is 503 / code 14 and not stored; after deleting the filler the same server writes again; after kill -9 exactly the acknowledged ones are there', SLOW, async (ctx) => {
      const dataDir = smallDisk(ctx);
      const instances = await createInstances(dataDir, 12, 'full');
      const server = await startServer(dataDir);
      const tokens = await tokensFor(dataDir, instances);
      const acknowledged: Acknowledged[] = [];
      // Two acknowledged before the disk fills: they must survive everything that follows.
      for (const instance of instances.splice(0, 2)) {
        const res = await postSeed(server, instance, tokens.get(instance.id)!);
        expect(res.status).toBe(200);
        acknowledged.push({ instance, id: res.json.id as string });
      }
      // 4 KiB left: an append needs at least four new WAL frames (the events table, its two unique
      // indexes, sqlite_sequence) of 4 KiB each, so events.db is the file that hits the wall.
      fill(4 * 1024);
      let refused: Refused | undefined;
      let next = 0;
      while (!refused && next < instances.length - 1) refused = await postOnFullDisk(server, dataDir, instances[next++]!, tokens, acknowledged);
      expect(refused, 'the disk never filled up').toBeDefined();
      await recoverThenRestart(server, dataDir, instances[next]!, tokens, acknowledged, [refused!]);
    });

    it('when the event fits but read-model.db cannot grow, the write is acknowledged (it is on disk) or refused with 503 / code 14 and not stored; once there is room the read model catches up', SLOW, async (ctx) => {
      const dataDir = smallDisk(ctx);
      const [onFullDisk, afterwards] = await createInstances(dataDir, 2, 'rmfull');
      const server = await startServer(dataDir);
      const tokens = await tokensFor(dataDir, [onFullDisk!, afterwards!]);
      // Give events.db's WAL room that the file system has already handed out: write some events,
      // wait until the server has projected them, and make the next writer restart the WAL from its
      // start. The next append then overwrites old frames and needs no new space; the read model's
      // WAL still needs new space for every batch.
      await createInstances(dataDir, 10, 'padding');
      await waitUntilProjected(dataDir);
      const checkpoint = await restartEventsWal(dataDir);
      expect(checkpoint.busy).toBe(0);
      expect(checkpoint.checkpointed).toBe(checkpoint.log);
      fill(0);
      const acknowledged: Acknowledged[] = [];
      const refused = await postOnFullDisk(server, dataDir, onFullDisk!, tokens, acknowledged);
      if (!refused) {
        // The scenario's premise: the answer came while the read model could not write.
        const lagging = await getConfig(server, onFullDisk!, tokens.get(onFullDisk!.id)!, acknowledged[0]!.id);
        expect(lagging.status, 'premise: the read model could not apply the event while the disk was full').toBe(404);
      }
      await recoverThenRestart(server, dataDir, afterwards!, tokens, acknowledged, refused ? [refused] : []);
    });
  });
});
