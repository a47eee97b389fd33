import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PositionWaiters } from '../../src/application/projection/position-waiters.js';

const at = (n: number) => ({ commit: BigInt(n), prepare: BigInt(n) });

/** What became of each wait: 'waiting', 'resolved' or the rejection's error id. */
const track = (p: Promise<void>) => {
  const state = { value: 'waiting' as string };
  p.then(
    () => (state.value = 'resolved'),
    (e: { id?: string }) => (state.value = e.id ?? 'rejected'),
  );
  return state;
};

describe('PositionWaiters', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] }));
  afterEach(() => vi.useRealTimers());

  it('fails each waiter at its own deadline, whatever order they came in, with one timer for all', async () => {
    const waiters = new PositionWaiters();
    const long = track(waiters.add(at(5), 300));
    const short = track(waiters.add(at(6), 100));
    const middle = track(waiters.add(at(7), 200));
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect([long.value, short.value, middle.value]).toEqual(['waiting', 'PROJ-wait-7t2k', 'waiting']);
    await vi.advanceTimersByTimeAsync(100);
    expect([long.value, middle.value]).toEqual(['waiting', 'PROJ-wait-7t2k']);
    await vi.advanceTimersByTimeAsync(100);
    expect(long.value).toBe('PROJ-wait-7t2k');
    expect(waiters.size).toBe(0);
  });

  it('resolves only the waiters a position reaches, and a resolved waiter never fails later', async () => {
    const waiters = new PositionWaiters();
    const first = track(waiters.add(at(1), 100));
    const third = track(waiters.add(at(3), 100));
    waiters.releaseUpTo(at(2));
    await vi.advanceTimersByTimeAsync(0);
    expect([first.value, third.value]).toEqual(['resolved', 'waiting']);
    waiters.releaseUpTo(at(3));
    await vi.advanceTimersByTimeAsync(500);
    expect(third.value).toBe('resolved');
    expect(waiters.size).toBe(0);
  });

  it('leaves a lone waiter waiting for a position before its own, and releases it at its own', async () => {
    const waiters = new PositionWaiters();
    const lone = track(waiters.add(at(4), 100));
    waiters.releaseUpTo(at(3));
    await vi.advanceTimersByTimeAsync(0);
    expect([lone.value, waiters.size]).toEqual(['waiting', 1]);
    waiters.releaseUpTo(at(4));
    await vi.advanceTimersByTimeAsync(0);
    expect([lone.value, waiters.size]).toEqual(['resolved', 0]);
    await vi.advanceTimersByTimeAsync(200);
    expect(lone.value).toBe('resolved');
  });

  it('still times out a waiter that arrives after the shared timer was left running for an earlier one', async () => {
    const waiters = new PositionWaiters();
    const first = track(waiters.add(at(1), 100));
    waiters.releaseUpTo(at(1));
    await vi.advanceTimersByTimeAsync(50);
    const second = track(waiters.add(at(2), 100)); // deadline 150: after the timer set for 100
    await vi.advanceTimersByTimeAsync(60);
    expect([first.value, second.value]).toEqual(['resolved', 'waiting']);
    await vi.advanceTimersByTimeAsync(40);
    expect(second.value).toBe('PROJ-wait-7t2k');
  });

  it('lets the process exit while nobody waits: the shared timer is then unreferenced', () => {
    const waiters = new PositionWaiters();
    void waiters.add(at(1), 100);
    const timer = (waiters as unknown as { timer: NodeJS.Timeout }).timer;
    expect(timer.hasRef()).toBe(true);
    waiters.releaseUpTo(at(1));
    expect(timer.hasRef()).toBe(false);
    void waiters.add(at(2), 100);
    expect(timer.hasRef()).toBe(true);
  });
});
