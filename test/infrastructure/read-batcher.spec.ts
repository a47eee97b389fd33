import { describe, expect, it } from 'vitest';
import { ReadBatcher } from '../../src/infrastructure/postgres/read-batcher.js';

/** A load function whose calls the test finishes by hand. */
const manual = () => {
  const calls: { keys: readonly number[]; finish: () => void; fail: (e: Error) => void }[] = [];
  const load = (keys: readonly number[]) =>
    new Promise<readonly string[]>((resolve, reject) => {
      calls.push({ keys, finish: () => resolve(keys.map((k) => `v${k}`)), fail: reject });
    });
  return { calls, load };
};

describe('ReadBatcher', () => {
  it('sends a read that comes alone at once, and the reads that arrive meanwhile together in the next query', async () => {
    const { calls, load } = manual();
    const batcher = new ReadBatcher(load, 1);
    const first = batcher.get(1);
    expect(calls.map((c) => c.keys)).toEqual([[1]]);
    const later = [batcher.get(2), batcher.get(3), batcher.get(2)];
    expect(calls).toHaveLength(1);
    calls[0]!.finish();
    expect(await first).toBe('v1');
    await Promise.resolve();
    expect(calls.map((c) => c.keys)).toEqual([[1], [2, 3, 2]]);
    calls[1]!.finish();
    expect(await Promise.all(later)).toEqual(['v2', 'v3', 'v2']);
  });

  it('keeps up to maxInFlight queries going and caps a batch at maxBatch', async () => {
    const { calls, load } = manual();
    const batcher = new ReadBatcher(load, 2, 2);
    const all = [1, 2, 3, 4, 5].map((k) => batcher.get(k));
    expect(calls.map((c) => c.keys)).toEqual([[1], [2]]);
    calls[0]!.finish();
    await Promise.resolve();
    await Promise.resolve();
    expect(calls.map((c) => c.keys)).toEqual([[1], [2], [3, 4]]);
    calls[1]!.finish();
    await Promise.resolve();
    await Promise.resolve();
    expect(calls.map((c) => c.keys)).toEqual([[1], [2], [3, 4], [5]]);
    calls[2]!.finish();
    calls[3]!.finish();
    expect(await Promise.all(all)).toEqual(['v1', 'v2', 'v3', 'v4', 'v5']);
  });

  it('fails every read of a failed query, and goes on with the next ones', async () => {
    const { calls, load } = manual();
    const batcher = new ReadBatcher(load, 1);
    const first = batcher.get(1);
    const second = batcher.get(2);
    calls[0]!.fail(new Error('connection lost'));
    await expect(first).rejects.toThrow('connection lost');
    await Promise.resolve();
    calls[1]!.finish();
    expect(await second).toBe('v2');
  });

  it('reads the keys of a batch that failed with a key error alone: each caller gets its own key\'s answer', async () => {
    const loads: number[][] = [];
    const keyError = Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
    const load = async (keys: readonly number[]) => {
      loads.push([...keys]);
      if (keys.includes(0)) throw keyError;
      return keys.map((k) => `v${k}`);
    };
    const batcher = new ReadBatcher(load, 1, 500, (e) => (e as { code?: string }).code === '22021');
    const first = batcher.get(9);
    const batch = [1, 0, 2, 3].map((k) => batcher.get(k));
    expect(await first).toBe('v9');
    const settled = await Promise.allSettled(batch);
    expect(settled.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['v1', keyError.message, 'v2', 'v3']);
    expect(loads).toEqual([[9], [1, 0, 2, 3], [1], [0], [2], [3]]);
  });

  it('does not read a batch again key by key after an error that is not about the keys', async () => {
    const loads: number[][] = [];
    const batcher = new ReadBatcher(
      async (keys: readonly number[]) => {
        loads.push([...keys]);
        throw new Error('connection lost');
      },
      1,
      500,
      (e) => (e as { code?: string }).code === '22021',
    );
    const reads = [1, 2, 3].map((k) => batcher.get(k));
    for (const r of reads) await expect(r).rejects.toThrow('connection lost');
    expect(loads).toEqual([[1], [2, 3]]);
  });

  it('turns a load that throws at once into failed reads', async () => {
    const batcher = new ReadBatcher<number, string>(() => {
      throw new Error('closed');
    });
    await expect(batcher.get(1)).rejects.toThrow('closed');
  });
});
