import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isIPv6Address, isWellFormedUnicode } from '../../src/index.js';

describe('isIPv6Address (the domain stays free of node:net)', () => {
  it('agrees with node:net isIPv6 on addresses built from groups, "::" and dotted IPv4 (zone ids aside)', () => {
    const group = fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{1,5}$/), fc.constantFrom('', '1.2.3.4', '255.255.255.255', '256.1.1.1', '01.2.3.4', 'g'));
    const address = fc.array(group, { minLength: 1, maxLength: 10 }).map((groups) => groups.join(':'));
    fc.assert(
      fc.property(address, (s) => {
        expect(isIPv6Address(s)).toBe(isIPv6(s));
      }),
      { seed: 4711, numRuns: 3000 },
    );
  });

  it.each(['::', '::1', '1::', '2001:db8::1', '::ffff:192.0.2.1', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4'])('accepts %s', (s) => {
    expect(isIPv6Address(s)).toBe(true);
  });
  it.each([':::::', '', ':', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'fe80::1%eth0', '::1.2.3.4:1', '1:2:3:4:5:6:7:1.2.3.4'])('refuses %s', (s) => {
    expect(isIPv6Address(s)).toBe(false);
  });
});

describe('isWellFormedUnicode', () => {
  it('agrees with String.prototype.isWellFormed', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: fc.integer({ min: 0xd7f0, max: 0xe010 }).map((c) => String.fromCharCode(c)) }), (a, b) => {
        const s = a + b;
        expect(isWellFormedUnicode(s)).toBe((s as unknown as { isWellFormed(): boolean }).isWellFormed());
      }),
      { seed: 4711, numRuns: 2000 },
    );
  });
});
