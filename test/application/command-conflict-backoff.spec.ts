import { afterEach, describe, expect, it, vi } from 'vitest';
import { handleCommand, InMemoryEventStore, WrongExpectedRevisionError, type Decider } from '../support/everything.js';

type Cmd = { type: 'Add' };
type Evt = { type: 'test.added'; data: Record<string, never> };
const decider: Decider<Cmd, Evt, number> = {
  initialState: () => 0,
  evolve: (n) => n + 1,
  decide: () => [{ type: 'test.added', data: {} }],
};

/** A store on which another writer wins the race `losses` times before this one gets through. */
const contested = (losses: number) => {
  const store = new InMemoryEventStore();
  const attempts: number[] = [];
  const append = store.appendToStream.bind(store);
  store.appendToStream = async (streamId, events, expected) => {
    attempts.push(Date.now());
    if (attempts.length <= losses) throw new WrongExpectedRevisionError(streamId, expected, 0n);
    return append(streamId, events, expected);
  };
  return { store, attempts };
};

const context = { instanceId: 'i', editorUserId: 'u', commandId: 'c', correlationId: 'c', now: new Date(0) };

describe('a command that keeps losing the race', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('decides again at once after the first lost race, then backs off between attempts', async () => {
    // The backoff's timers on a fake clock: the gaps are what the command waited, whatever the machine's load.
    vi.useFakeTimers({ toFake: ['setTimeout', 'Date'] });
    const { store, attempts } = contested(3);
    const done = handleCommand(store, decider, 'test-1', { type: 'Add' }, context);
    await vi.runAllTimersAsync();
    await done;
    expect(attempts).toHaveLength(4);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    expect(gaps[0]).toBe(0);
    expect(gaps[1]).toBeGreaterThanOrEqual(5);
    expect(gaps[1]).toBeLessThanOrEqual(10);
    expect(gaps[2]).toBeGreaterThanOrEqual(10);
    expect(gaps[2]).toBeLessThanOrEqual(20);
  });

  it('gives up with Unavailable after five lost races', async () => {
    const { store, attempts } = contested(10);
    await expect(handleCommand(store, decider, 'test-1', { type: 'Add' }, context)).rejects.toMatchObject({ kind: 'Unavailable', id: 'COMMAND-cnfl9' });
    expect(attempts).toHaveLength(5);
  });
});
