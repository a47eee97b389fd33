import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CheckpointWatcher, type GlobalPosition } from '../../src/index.js';

const at = (n: bigint): GlobalPosition => ({ commit: n, prepare: n });
const POLL_MS = 100;

/** A read model whose checkpoint reads are counted. */
const readModel = (initial: GlobalPosition | undefined) => {
  const model = {
    checkpoint: initial,
    reads: 0,
    port: {
      checkpoint: async () => {
        model.reads++;
        return model.checkpoint;
      },
    },
  };
  return model;
};

describe('CheckpointWatcher: polling', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads the checkpoint once per poll interval however many callers wait', async () => {
    const model = readModel(at(1n));
    const watcher = new CheckpointWatcher(model.port, POLL_MS);
    const waits = [watcher.waitFor(at(5n), 60_000)];
    await vi.advanceTimersByTimeAsync(0);
    expect(model.reads).toBe(1);
    // A later wait reads the checkpoint once at once (it may have moved), then shares the poller.
    waits.push(watcher.waitFor(at(6n), 60_000));
    await vi.advanceTimersByTimeAsync(0);
    waits.push(watcher.waitFor(at(7n), 60_000));
    await vi.advanceTimersByTimeAsync(0);
    expect(model.reads).toBe(3);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(model.reads).toBe(4);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(model.reads).toBe(5);
    model.checkpoint = at(7n);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    await Promise.all(waits);
    expect(model.reads).toBe(6);
  });

  it('stops reading the checkpoint once the last wait is released', async () => {
    const model = readModel(at(1n));
    const watcher = new CheckpointWatcher(model.port, POLL_MS);
    const waiting = watcher.waitFor(at(2n), 60_000);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    model.checkpoint = at(2n);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    await waiting;
    const reads = model.reads;
    await vi.advanceTimersByTimeAsync(10 * POLL_MS);
    expect(model.reads).toBe(reads);
    expect(watcher.pendingWaits).toBe(0);
  });

  it('stops reading the checkpoint once the last wait has timed out', async () => {
    const model = readModel(undefined);
    const watcher = new CheckpointWatcher(model.port, POLL_MS);
    const waiting = expect(watcher.waitFor(at(2n), 3 * POLL_MS - 1)).rejects.toMatchObject({ kind: 'Unavailable', id: 'PROJ-wait-7t2k' });
    await vi.advanceTimersByTimeAsync(3 * POLL_MS);
    await waiting;
    expect(model.reads).toBe(4);
    await vi.advanceTimersByTimeAsync(10 * POLL_MS);
    expect(model.reads).toBe(4);
  });

  it('starts polling again for a wait that comes after the poller stopped', async () => {
    const model = readModel(at(1n));
    const watcher = new CheckpointWatcher(model.port, POLL_MS);
    await watcher.waitFor(at(1n), 60_000);
    await vi.advanceTimersByTimeAsync(10 * POLL_MS);
    expect(model.reads).toBe(1);
    const later = watcher.waitFor(at(2n), 60_000);
    await vi.advanceTimersByTimeAsync(0);
    expect(model.reads).toBe(2);
    model.checkpoint = at(2n);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    await later;
    expect(model.reads).toBe(3);
  });
});
