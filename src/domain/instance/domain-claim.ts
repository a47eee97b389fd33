import type { Decider } from '../decider.js';
import { Errors } from '../errors.js';

/**
 * A domain names at most one instance. Each domain has a stream of its own, and an instance claims
 * it there before its own events are written, so that the event store's expected-revision check
 * decides every race: two instances setting up with the same domain cannot both win. (ZITADEL keeps
 * unique constraints beside its events for this; a claim stream works on every event store.)
 */
export const domainClaimStreamId = (domain: string): string => `domain-${domain}`;

export const DomainClaimEventTypes = {
  Claimed: 'instance.domain.claimed',
  Released: 'instance.domain.released',
} as const;

export interface DomainClaimed {
  readonly type: typeof DomainClaimEventTypes.Claimed;
  readonly data: { readonly domain: string; readonly instanceId: string };
}

export interface DomainReleased {
  readonly type: typeof DomainClaimEventTypes.Released;
  readonly data: { readonly domain: string; readonly instanceId: string };
}

export type DomainClaimEvent = DomainClaimed | DomainReleased;

export interface ClaimDomain {
  readonly type: 'ClaimDomain';
  readonly domain: string;
  readonly instanceId: string;
  /**
   * The holder whose claim the caller found orphaned (its instance was never written, long after
   * the claim). Only that holder's claim is taken over; any other holder still refuses.
   */
  readonly takeOverFrom?: string;
}

export interface ReleaseDomain {
  readonly type: 'ReleaseDomain';
  readonly domain: string;
  readonly instanceId: string;
}

export type DomainClaimCommand = ClaimDomain | ReleaseDomain;

export interface DomainClaimState {
  readonly claimedBy: string | undefined;
}

export const DomainClaim: Decider<DomainClaimCommand, DomainClaimEvent, DomainClaimState> = {
  initialState: () => ({ claimedBy: undefined }),
  evolve: (state, event) => {
    switch (event.type) {
      case DomainClaimEventTypes.Claimed:
        return { claimedBy: event.data.instanceId };
      case DomainClaimEventTypes.Released:
        return state.claimedBy === event.data.instanceId ? { claimedBy: undefined } : state;
    }
  },
  decide: (command, state) => {
    const data = { domain: command.domain, instanceId: command.instanceId };
    switch (command.type) {
      case 'ClaimDomain':
        if (state.claimedBy !== undefined && state.claimedBy !== command.instanceId && state.claimedBy !== command.takeOverFrom) {
          throw Errors.domainTaken(command.domain);
        }
        // Claiming again what one holds already re-states it: a retried set-up goes through.
        return [{ type: DomainClaimEventTypes.Claimed, data }];
      case 'ReleaseDomain':
        if (state.claimedBy !== command.instanceId) throw Errors.domainNotClaimed(command.domain);
        return [{ type: DomainClaimEventTypes.Released, data }];
    }
  },
};
