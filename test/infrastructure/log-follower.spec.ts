import { describe, expect, it } from 'vitest';
import { LogFollower, type LogEntry } from '../../src/infrastructure/sql/log-follower.js';
import type { RecordedEvent } from '../support/everything.js';

const entry = (position: bigint): LogEntry => ({
  position,
  streamId: `instance-${position}`,
  event: () => ({ streamId: `instance-${position}`, position: { commit: position, prepare: position } }) as unknown as RecordedEvent,
});

describe('log follower', () => {
  it('delivers an append notified while it was busy with the previous event at once, not at the poll interval', async () => {
    const log: LogEntry[] = [];
    const follower = new LogFollower((after) => log.filter((e) => e.position > after), 60_000);
    const abort = new AbortController();
    const seen: bigint[] = [];
    const started = Date.now();
    const following = (async () => {
      for await (const item of follower.follow({ signal: abort.signal })) {
        if (item.kind !== 'event') continue;
        seen.push(item.event.position.commit);
        if (seen.length === 1) {
          // The next append lands and notifies while this event is still being handled.
          log.push(entry(2n));
          follower.notify();
          await new Promise((r) => setTimeout(r, 5));
        }
        if (seen.length === 2) abort.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 10));
    log.push(entry(1n));
    follower.notify();
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`still waiting; seen ${seen.join(',')}`)), 2_000));
    await Promise.race([following, timeout]);
    expect(seen).toEqual([1n, 2n]);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
