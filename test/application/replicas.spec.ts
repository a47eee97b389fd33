import { describe, expect, it } from 'vitest';
import { CheckpointWatcher, LeaderProjection, type GlobalPosition, type ProjectionLease, type ProjectionLock } from '../../src/index.js';

const at = (n: bigint): GlobalPosition => ({ commit: n, prepare: n });
const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));
const until = async (condition: () => boolean, timeoutMs = 2_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await tick(2);
  }
};

describe('CheckpointWatcher', () => {
  it('lets a timed-out wait go without dropping the other waiters', async () => {
    let checkpoint: GlobalPosition | undefined = at(1n);
    const watcher = new CheckpointWatcher({ checkpoint: async () => checkpoint }, 60_000);
    const patient = watcher.waitFor(at(3n), 2_000);
    await expect(watcher.waitFor(at(3n), 10)).rejects.toMatchObject({
      kind: 'Unavailable',
      id: 'PROJ-wait-7t2k',
      messageKey: 'Errors.Projection.Timeout',
      message: 'the read model did not catch up in time',
      grpcCode: 14,
    });
    expect(watcher.pendingWaits).toBe(1);
    checkpoint = at(3n);
    watcher.notify();
    await patient;
    expect(watcher.pendingWaits).toBe(0);
  });

  it('polls again for a wait that comes after an earlier one was done', async () => {
    let checkpoint: GlobalPosition | undefined = at(1n);
    const watcher = new CheckpointWatcher({ checkpoint: async () => checkpoint }, 5);
    await watcher.waitFor(at(1n), 1_000);
    await tick(10);
    const later = watcher.waitFor(at(2n), 1_000);
    setTimeout(() => (checkpoint = at(2n)), 20);
    await later;
  });

  it('keeps polling while the read model cannot be reached', async () => {
    let reads = 0;
    const watcher = new CheckpointWatcher(
      {
        checkpoint: async () => {
          if (++reads < 3) throw new Error('read model unreachable');
          return at(2n);
        },
      },
      5,
    );
    await watcher.waitFor(at(2n), 1_000);
    expect(reads).toBeGreaterThanOrEqual(3);
  });

  it('resolves only the waiters whose position the checkpoint has passed', async () => {
    let checkpoint: GlobalPosition | undefined;
    const watcher = new CheckpointWatcher({ checkpoint: async () => checkpoint }, 60_000);
    const near = watcher.waitFor(at(2n), 2_000);
    const far = watcher.waitFor(at(4n), 2_000);
    far.catch(() => undefined);
    await tick(5);
    checkpoint = at(2n);
    watcher.notify();
    await near;
    expect(watcher.pendingWaits).toBe(1);
    checkpoint = at(4n);
    watcher.notify();
    await far;
  });
});

class FakeLock implements ProjectionLock {
  attempts = 0;
  free = true;
  releaseError: Error | undefined;
  lose: (() => void) | undefined;
  async tryAcquire(): Promise<ProjectionLease | undefined> {
    this.attempts++;
    if (!this.free) return undefined;
    this.free = false;
    const lost = new Promise<void>((resolve) => (this.lose = resolve));
    return {
      lost,
      release: async () => {
        this.free = true;
        if (this.releaseError) throw this.releaseError;
      },
    };
  }
}
const fakeRunner = () => {
  const calls: string[] = [];
  return { calls, start: () => void calls.push('start'), stop: async () => void calls.push('stop') };
};

describe('LeaderProjection', () => {
  it('tells when it starts and stops leading', async () => {
    const lock = new FakeLock();
    const changes: boolean[] = [];
    const leader = new LeaderProjection(fakeRunner(), lock, { retryMs: 5, onLeadershipChange: (leading) => changes.push(leading) });
    expect(leader.leading).toBe(false);
    leader.start();
    await until(() => leader.leading);
    lock.lose!();
    await until(() => changes.length >= 2);
    await leader.stop();
    expect(changes.slice(0, 2)).toEqual([true, false]);
    expect(leader.leading).toBe(false);
  });

  it('keeps asking for the lock when asking fails and nobody listens for errors', async () => {
    let asked = 0;
    const lock: ProjectionLock = {
      tryAcquire: async () => {
        if (++asked === 1) throw new Error('database unreachable');
        return { lost: new Promise(() => undefined), release: async () => undefined };
      },
    };
    const leader = new LeaderProjection(fakeRunner(), lock, { retryMs: 5 });
    leader.start();
    await until(() => leader.leading);
    await leader.stop();
    expect(asked).toBe(2);
  });

  it('steps down quietly when a release fails and nobody listens for errors', async () => {
    const lock = new FakeLock();
    lock.releaseError = new Error('connection gone');
    const runner = fakeRunner();
    const leader = new LeaderProjection(runner, lock, { retryMs: 5 });
    leader.start();
    await until(() => leader.leading);
    await leader.stop();
    expect(runner.calls).toEqual(['start', 'stop']);
  });

  it('reports a failed release and still steps down', async () => {
    const lock = new FakeLock();
    lock.releaseError = new Error('connection gone');
    const errors: unknown[] = [];
    const runner = fakeRunner();
    const leader = new LeaderProjection(runner, lock, { retryMs: 5, onError: (e) => errors.push(e) });
    leader.start();
    await until(() => leader.leading);
    await leader.stop();
    expect(errors).toEqual([lock.releaseError]);
    expect(runner.calls).toEqual(['start', 'stop']);
    expect(leader.leading).toBe(false);
  });

  it('asks for the lock once a second by default, and runs one loop however often it is started', async () => {
    const lock = new FakeLock();
    lock.free = false;
    const leader = new LeaderProjection(fakeRunner(), lock);
    leader.start();
    leader.start();
    await tick(150);
    expect(lock.attempts).toBe(1);
    await leader.stop();
  });

  it('stops without having started, and stops at once while waiting to retry', async () => {
    const lock = new FakeLock();
    lock.free = false;
    await new LeaderProjection(fakeRunner(), lock).stop();
    const leader = new LeaderProjection(fakeRunner(), lock, { retryMs: 60_000 });
    leader.start();
    await until(() => lock.attempts === 1);
    const started = Date.now();
    await leader.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
