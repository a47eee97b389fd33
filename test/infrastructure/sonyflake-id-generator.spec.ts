import { describe, expect, it } from 'vitest';
import { SonyflakeIdGenerator } from '../support/everything.js';
import { ManualClock } from '../support/fixtures.js';

describe('Sonyflake id generator', () => {
  it('makes ZITADEL-style numeric ids that grow with time', () => {
    const clock = new ManualClock(new Date('2024-06-11T10:37:15.680Z'));
    const ids = new SonyflakeIdGenerator(clock, 1);
    const a = ids.nextId();
    clock.advance(10);
    const b = ids.nextId();
    expect(a).toMatch(/^\d{17,19}$/);
    expect(BigInt(b)).toBeGreaterThan(BigInt(a));
  });

  it('never repeats an id, even for many ids within one tick', () => {
    const ids = new SonyflakeIdGenerator(new ManualClock(), 7);
    const made = Array.from({ length: 2000 }, () => ids.nextId());
    expect(new Set(made).size).toBe(2000);
    expect(made.map(BigInt)).toEqual([...made.map(BigInt)].sort((x, y) => (x < y ? -1 : 1)));
  });

  it('keeps the machine id in the low 16 bits', () => {
    const id = new SonyflakeIdGenerator(new ManualClock(), 0xbeef).nextId();
    expect(BigInt(id) & 0xffffn).toBe(0xbeefn);
    expect(() => new SonyflakeIdGenerator(new ManualClock(), 1 << 16)).toThrow(RangeError);
  });
});
