import { describe, expect, it } from 'vitest';
import { isoTimeOf } from '../support/everything.js';

describe('isoTimeOf', () => {
  it('gives what toISOString gives, for a time repeated and for the next one', () => {
    const first = isoTimeOf(new Date('2024-06-11T10:37:15.680Z'));
    expect(first).toBe('2024-06-11T10:37:15.680Z');
    expect(isoTimeOf(new Date(Date.parse('2024-06-11T10:37:15.680Z')))).toBe(first);
    expect(isoTimeOf(new Date('2024-06-11T10:37:15.681Z'))).toBe('2024-06-11T10:37:15.681Z');
    expect(isoTimeOf(new Date('2024-06-11T10:37:15.680Z'))).toBe('2024-06-11T10:37:15.680Z');
  });

  it('refuses an invalid date as toISOString does', () => {
    expect(() => isoTimeOf(new Date(Number.NaN))).toThrow(RangeError);
    expect(() => isoTimeOf(new Date(Number.NaN))).toThrow(RangeError);
  });
});
