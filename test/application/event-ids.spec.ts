import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveEventId } from '../support/everything.js';

/** The derivation as it has always been written: the digest's hex, sliced, with version 8 and the variant set. */
const asBefore = (commandId: string, streamId: string, expected: string, index: number): string => {
  const hex = createHash('sha256').update(`${commandId}\u0000${streamId}\u0000${expected}\u0000${index}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${'89ab'[parseInt(hex[16]!, 16) & 3]}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};

describe('event ids', () => {
  it('are the same ids as ever, so that an append retried across an upgrade is still recognised', () => {
    expect(deriveEventId('a', 'b', 'no_stream', 0)).toBe('828e95f4-4b83-8baf-b91b-e24249cef0fe');
    for (let i = 0; i < 2_000; i++) {
      const args = [`add-smtp-${69629023906488334n + BigInt(i)}`, `instance-ü${i}`, i % 5 === 0 ? 'no_stream' : String(i % 7), i % 3] as const;
      expect(deriveEventId(...args)).toBe(asBefore(...args));
    }
  });

  it('are version 8 UUIDs with the RFC 9562 variant, and differ by command, stream, revision and index', () => {
    const ids = new Set<string>();
    for (const c of ['c1', 'c2']) for (const s of ['s1', 's2']) for (const e of ['no_stream', '0']) for (const i of [0, 1]) ids.add(deriveEventId(c, s, e, i));
    expect(ids.size).toBe(16);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
