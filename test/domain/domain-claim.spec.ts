import { describe, expect, it } from 'vitest';
import { DeciderSpecification } from '../../src/domain/testing.js';
import { DomainClaim, DomainClaimEventTypes, domainClaimStreamId, type DomainClaimEvent } from '../../src/domain/index.js';

const spec = DeciderSpecification.for(DomainClaim);
const claimed = (instanceId: string): DomainClaimEvent => ({ type: 'instance.domain.claimed', data: { domain: 'acme.example.com', instanceId } });
const released = (instanceId: string): DomainClaimEvent => ({ type: 'instance.domain.released', data: { domain: 'acme.example.com', instanceId } });
const claim = (instanceId: string, takeOverFrom?: string) =>
  ({ type: 'ClaimDomain', domain: 'acme.example.com', instanceId, ...(takeOverFrom ? { takeOverFrom } : {}) }) as const;

describe('DomainClaim: a domain names at most one instance', () => {
  it('pins the stored event types and the stream name', () => {
    expect(DomainClaimEventTypes).toEqual({ Claimed: 'instance.domain.claimed', Released: 'instance.domain.released' });
    expect(domainClaimStreamId('acme.example.com')).toBe('domain-acme.example.com');
  });

  it('lets the first instance claim a free domain', () => {
    spec.given([]).when(claim('1')).then([claimed('1')]);
  });

  it('refuses a domain another instance holds, naming the domain', () => {
    const error = spec.given([claimed('1')]).when(claim('2')).thenThrows('AlreadyExists', 'INST-dom-5tk2');
    expect(error.message).toContain('acme.example.com');
    expect(error.violations).toEqual([{ field: 'domains', description: 'acme.example.com already belongs to another instance' }]);
  });

  it('lets the holder claim again (a retried set-up), and a domain be claimed anew once released', () => {
    spec.given([claimed('1')]).when(claim('1')).then([claimed('1')]);
    spec.given([claimed('1'), released('1')]).when(claim('2')).then([claimed('2')]);
  });

  it('takes over only from the holder the caller found orphaned', () => {
    spec.given([claimed('1')]).when(claim('2', '1')).then([claimed('2')]);
    spec.given([claimed('3')]).when(claim('2', '1')).thenThrows('AlreadyExists', 'INST-dom-5tk2');
  });

  it('releases only a claim the instance holds', () => {
    spec.given([claimed('1')]).when({ type: 'ReleaseDomain', domain: 'acme.example.com', instanceId: '1' }).then([released('1')]);
    spec.given([claimed('1')]).when({ type: 'ReleaseDomain', domain: 'acme.example.com', instanceId: '2' }).thenThrows('FailedPrecondition', 'INST-dom-7rl1');
    spec.given([]).when({ type: 'ReleaseDomain', domain: 'acme.example.com', instanceId: '1' }).thenThrows('FailedPrecondition', 'INST-dom-7rl1');
  });

  it('ignores a release by an instance that no longer holds the domain', () => {
    const state = [claimed('1'), claimed('2'), released('1')].reduce(DomainClaim.evolve, DomainClaim.initialState());
    expect(state).toEqual({ claimedBy: '2' });
  });
});
