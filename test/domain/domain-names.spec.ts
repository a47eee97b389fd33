import { describe, expect, it } from 'vitest';
import { DomainClaim, DomainError, Instance, isDomainName, normalizeDomains } from '../../src/domain/index.js';

const nameOf = (length: number) => {
  const labels = Array.from({ length: Math.ceil(length / 50) }, () => 'a'.repeat(49)).join('.');
  return labels.slice(0, length).replace(/\.$/, 'b');
};

describe('instance domain names', () => {
  it('accepts host names and IPv4 addresses of up to 253 characters', () => {
    expect(nameOf(253)).toHaveLength(253);
    expect(isDomainName(nameOf(253))).toBe(true);
    expect(isDomainName('localhost')).toBe(true);
    expect(isDomainName('127.0.0.1')).toBe(true);
    expect(isDomainName('a')).toBe(true);
  });

  it('refuses longer names, a trailing dot, spaces, ports and empty labels', () => {
    expect(isDomainName(nameOf(254))).toBe(false);
    expect(isDomainName('acme.example.com.')).toBe(false);
    expect(isDomainName('not a domain')).toBe(false);
    expect(isDomainName('acme.example.com:8080')).toBe(false);
    expect(isDomainName('acme..example.com')).toBe(false);
    expect(isDomainName('')).toBe(false);
  });

  it('keeps domains lower case, each once, in the order given', () => {
    expect(normalizeDomains(['B.example.com', 'a.example.com', 'b.EXAMPLE.com'])).toEqual(['b.example.com', 'a.example.com']);
  });

  it('names each domain that is not a domain name when setting up an instance', () => {
    let error: unknown;
    try {
      Instance.decide({ type: 'SetUpInstance', instanceId: '1', name: 'acme', domains: ['ok.example.com', 'bad domain', 'x.'], now: new Date(0) }, Instance.initialState());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).violations).toEqual([
      { field: 'domains', description: '"bad domain" is not a domain name' },
      { field: 'domains', description: '"x." is not a domain name' },
    ]);
  });
});

describe('domain claims', () => {
  it('lets an instance take over a domain named as orphaned that has been released meanwhile', () => {
    const released = [
      { type: 'instance.domain.claimed' as const, data: { domain: 'a.example.com', instanceId: 'old' } },
      { type: 'instance.domain.released' as const, data: { domain: 'a.example.com', instanceId: 'old' } },
    ];
    const state = released.reduce(DomainClaim.evolve, DomainClaim.initialState());
    expect(DomainClaim.decide({ type: 'ClaimDomain', domain: 'a.example.com', instanceId: 'new', takeOverFrom: 'old' }, state)).toEqual([
      { type: 'instance.domain.claimed', data: { domain: 'a.example.com', instanceId: 'new' } },
    ]);
  });
});
