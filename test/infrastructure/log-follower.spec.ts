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

  /** A follower over `log` that counts its reads; polls only after a minute, so any read is a wake-up's. */
  const counted = (log: LogEntry[], pollMs = 60_000) => {
    const reads: bigint[] = [];
    const follower = new LogFollower((after) => {
      reads.push(after);
      return log.filter((e) => e.position > after);
    }, pollMs);
    return { follower, reads };
  };

  /** Follows until `count` events arrived; returns their positions. */
  const collect = (follower: LogFollower, count: number, signal: AbortSignal) =>
    (async () => {
      const seen: bigint[] = [];
      for await (const item of follower.follow({ signal })) {
        if (item.kind === 'event') seen.push(item.event.position.commit);
        if (seen.length === count) break;
      }
      return seen;
    })();

  const tick = () => new Promise((r) => setTimeout(r, 5));

  it('hands an offered append to a follower standing at its head, without reading the log', async () => {
    const log = [entry(1n)];
    const { follower, reads } = counted(log);
    const abort = new AbortController();
    const seen = collect(follower, 3, abort.signal);
    await tick();
    expect(reads).toEqual([0n]);
    // Positions 2 and 3 are in the log (committed) and handed over as the append's own.
    log.push(entry(2n), entry(3n));
    follower.offer(1n, [entry(2n), entry(3n)]);
    expect(await seen).toEqual([1n, 2n, 3n]);
    expect(reads).toEqual([0n]);
    abort.abort();
  });

  it('reads the log when an offer starts after another head than where the follower stands', async () => {
    const log = [entry(1n)];
    const { follower, reads } = counted(log);
    const abort = new AbortController();
    const seen = collect(follower, 3, abort.signal);
    await tick();
    // Another writer's event 2 came first: the offer of 3 starts at 2, the follower stands at 1.
    log.push(entry(2n), entry(3n));
    follower.offer(2n, [entry(3n)]);
    expect(await seen).toEqual([1n, 2n, 3n]);
    expect(reads).toEqual([0n, 1n]);
    abort.abort();
  });

  it('does not read for an announcement of positions it has already passed, but reads for a newer one', async () => {
    const log = [entry(1n), entry(2n)];
    const { follower, reads } = counted(log);
    const abort = new AbortController();
    const seen: bigint[] = [];
    const following = (async () => {
      for await (const item of follower.follow({ signal: abort.signal })) if (item.kind === 'event') seen.push(item.event.position.commit);
    })();
    await tick();
    expect(reads).toEqual([0n]);
    follower.notify(2n);
    follower.notify(1n);
    await tick();
    expect(reads).toEqual([0n]);
    log.push(entry(3n));
    follower.notify(3n);
    await tick();
    expect(reads).toEqual([0n, 2n]);
    expect(seen).toEqual([1n, 2n, 3n]);
    abort.abort();
    await following;
  });

  it('still reads at the poll interval when no announcement comes', async () => {
    const log = [entry(1n)];
    const { follower, reads } = counted(log, 20);
    const abort = new AbortController();
    const seen = collect(follower, 2, abort.signal);
    await tick();
    log.push(entry(2n));
    expect(await seen).toEqual([1n, 2n]);
    expect(reads.length).toBeGreaterThanOrEqual(2);
    abort.abort();
  });

  it('does not take an offer before it has caught up: a subscription starting there reads the log first', async () => {
    const log = [entry(1n), entry(2n)];
    const { follower, reads } = counted(log);
    // Offered before anyone follows: a new subscription from position 1 reads (1, 2] from the log.
    follower.offer(1n, [entry(2n)]);
    const abort = new AbortController();
    const seen: bigint[] = [];
    for await (const item of follower.follow({ signal: abort.signal, after: { commit: 1n, prepare: 1n } })) {
      if (item.kind === 'event') seen.push(item.event.position.commit);
      if (item.kind === 'caught-up') break;
    }
    expect(seen).toEqual([2n]);
    expect(reads).toEqual([1n]);
  });

  it('keeps only the newest hand-overs: a follower further behind reads the log', async () => {
    const log = [entry(1n)];
    const { follower, reads } = counted(log);
    // 70 appends of one event each while nobody follows, then one of 5 000 events.
    for (let p = 2n; p <= 71n; p++) {
      log.push(entry(p));
      follower.offer(p - 1n, [entry(p)]);
    }
    const big = Array.from({ length: 5_000 }, (_, i) => entry(72n + BigInt(i)));
    log.push(...big);
    follower.offer(71n, big);
    // The one of 5 000 is kept (the newest always is); the ones before it are not.
    const abort = new AbortController();
    const first = follower.follow({ signal: abort.signal, after: { commit: 1n, prepare: 1n } })[Symbol.asyncIterator]();
    let item = await first.next();
    while (item.value?.kind !== 'caught-up') item = await first.next();
    expect(reads).toEqual([1n]);
    await first.return?.();
    const tail = (follower as unknown as { tail: Map<bigint, unknown> }).tail;
    expect([...tail.keys()]).toEqual([71n]);
  });
});
