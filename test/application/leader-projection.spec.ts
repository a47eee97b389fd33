import { describe, expect, it } from 'vitest';
import { CheckpointWatcher, LeaderProjection, type GlobalPosition, type ProjectionLease, type ProjectionLock } from '../../src/index.js';

/** A lock one holder at a time may take; the test can make the holder lose it. */
class FakeLock implements ProjectionLock {
  held: { lose: () => void } | undefined;
  attempts = 0;
  async tryAcquire(): Promise<ProjectionLease | undefined> {
    this.attempts++;
    if (this.held) return undefined;
    let lose!: () => void;
    const lost = new Promise<void>((r) => (lose = r));
    const lease = { lose };
    this.held = lease;
    return { lost, release: async () => void (this.held === lease && (this.held = undefined)) };
  }
}

const fakeRunner = () => {
  const calls: string[] = [];
  return { calls, start: () => void calls.push('start'), stop: async () => void calls.push('stop') };
};
const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

describe('LeaderProjection: one writer among replicas', () => {
  it('runs the projection only on the replica that holds the lock, and hands over when the holder loses it', async () => {
    const lock = new FakeLock();
    const a = fakeRunner();
    const b = fakeRunner();
    const leaderA = new LeaderProjection(a, lock, { retryMs: 5 });
    const leaderB = new LeaderProjection(b, lock, { retryMs: 5 });
    leaderA.start();
    await until(() => leaderA.leading);
    leaderB.start();
    await until(() => lock.attempts >= 3);
    expect([leaderA.leading, leaderB.leading]).toEqual([true, false]);
    expect(b.calls).toEqual([]);

    await leaderA.stop(); // the holder goes away: it lets go, and B takes over
    await until(() => leaderB.leading);
    expect(a.calls).toEqual(['start', 'stop']);
    expect(b.calls).toEqual(['start']);

    lock.held!.lose(); // B's connection breaks: it stops writing at once
    await until(() => b.calls.length === 2);
    expect(b.calls).toEqual(['start', 'stop']);
    await until(() => leaderB.leading); // and, the lock being free, takes it again after a pause
    expect(b.calls).toEqual(['start', 'stop', 'start']);
    await leaderB.stop();
    expect(lock.held).toBeUndefined(); // released on stop
  });

  it('keeps trying when asking for the lock fails, and reports why', async () => {
    let failures = 0;
    const errors: unknown[] = [];
    const lock: ProjectionLock = {
      tryAcquire: async () => {
        if (++failures <= 2) throw new Error('database unreachable');
        return { lost: new Promise(() => undefined), release: async () => undefined };
      },
    };
    const runner = fakeRunner();
    const leader = new LeaderProjection(runner, lock, { retryMs: 5, onError: (e) => errors.push(e) });
    leader.start();
    await until(() => leader.leading);
    expect(errors).toHaveLength(2);
    await leader.stop();
    expect(runner.calls).toEqual(['start', 'stop']);
  });
});

describe('CheckpointWatcher: read-your-writes from a shared read model', () => {
  const at = (n: bigint): GlobalPosition => ({ commit: n, prepare: n });

  it('resolves once the shared checkpoint has passed the position, woken by a notification', async () => {
    let checkpoint: GlobalPosition | undefined;
    const watcher = new CheckpointWatcher({ checkpoint: async () => checkpoint }, 60_000);
    let done = false;
    const waiting = watcher.waitFor(at(5n), 5_000).then(() => (done = true));
    checkpoint = at(4n);
    watcher.notify();
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    checkpoint = at(5n);
    watcher.notify();
    await waiting;
    expect(watcher.pendingWaits).toBe(0);
  });

  it('finds the checkpoint by polling when no notification comes', async () => {
    let checkpoint: GlobalPosition | undefined = at(1n);
    const watcher = new CheckpointWatcher({ checkpoint: async () => checkpoint }, 10);
    const waiting = watcher.waitFor(at(2n), 5_000);
    setTimeout(() => (checkpoint = at(3n)), 30);
    await waiting;
  });

  it('times out as Unavailable with its id and forgets the waiter', async () => {
    const watcher = new CheckpointWatcher({ checkpoint: async () => at(1n) }, 5);
    await expect(watcher.waitFor(at(2n), 30)).rejects.toMatchObject({ kind: 'Unavailable', id: 'PROJ-wait-7t2k' });
    expect(watcher.pendingWaits).toBe(0);
  });
});

describe('CheckpointWatcher: waits one after another', () => {
  it('polls for a wait that starts the moment the previous one resolved', async () => {
    let cp = { commit: 1n, prepare: 1n };
    const watcher = new CheckpointWatcher({ checkpoint: async () => cp }, 5);
    await watcher.waitFor({ commit: 1n, prepare: 1n }, 1_000);
    const second = watcher.waitFor({ commit: 2n, prepare: 2n }, 1_000);
    setTimeout(() => (cp = { commit: 2n, prepare: 2n }), 20);
    await second;
    expect(watcher.pendingWaits).toBe(0);
  });
});
