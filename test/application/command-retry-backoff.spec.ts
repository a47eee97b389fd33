import { afterEach, describe, expect, it, vi } from 'vitest';
import { handleCommand, WrongExpectedRevisionError, type Decider } from '../../src/index.js';
import { ScriptedEventStore } from '../support/scripted-event-store.js';

type Cmd = { type: 'Add' };
type Evt = { type: 'test.added'; data: Record<string, never> };
const decider: Decider<Cmd, Evt, number> = {
  initialState: () => 0,
  evolve: (n) => n + 1,
  decide: () => [{ type: 'test.added', data: {} }],
};
const context = { instanceId: 'i', editorUserId: 'u', commandId: 'c', correlationId: 'c', now: new Date(0) };

/** A store on which another writer wins the first `losses` appends; records the (fake) time of each append. */
const contested = (losses: number) => {
  const store = new ScriptedEventStore();
  const appendedAt: number[] = [];
  store.beforeAppend = (call, attempt) => {
    appendedAt.push(Date.now());
    if (attempt <= losses) throw new WrongExpectedRevisionError(call.streamId, call.expected, 0n);
  };
  return { store, appendedAt };
};
const gaps = (times: readonly number[]) => times.slice(1).map((t, i) => t - times[i]!);

describe('a command that keeps losing the race: jittered backoff', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  // Delays after the 2nd, 3rd and 4th lost race: base/2 + jitter * base/2, with base 10, 20, 40 ms.
  it.each([
    { jitter: 0, delays: [5, 10, 20] },
    { jitter: 0.6, delays: [8, 16, 32] },
    { jitter: 1, delays: [10, 20, 40] },
  ])('with jitter $jitter, decides again at once after the first lost race and then waits $delays ms', async ({ jitter, delays }) => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.spyOn(Math, 'random').mockReturnValue(jitter);
    const { store, appendedAt } = contested(4);
    const handled = handleCommand(store, decider, 'test-1', { type: 'Add' }, context);
    await vi.runAllTimersAsync();
    await expect(handled).resolves.toMatchObject({ sequence: 1n });
    expect(gaps(appendedAt)).toEqual([0, ...delays]);
  });

  it('waits for no timer at all when only the first race was lost', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { store } = contested(1);
    let done = false;
    const handled = handleCommand(store, decider, 'test-1', { type: 'Add' }, context).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    await handled;
    expect(store.appends).toHaveLength(2);
  });
});
