import {
  DomainClaim,
  Errors,
  fold,
  Instance,
  initialInstanceState,
  instanceStreamId,
  isDomainError,
  normalizeDomains,
  domainClaimStreamId,
  type DomainClaimEvent,
  type SetUpInstance,
} from '../../domain/index.js';
import { handleCommand, type CommandContext } from '../command-handler.js';
import type { EventStore, GlobalPosition } from '../ports/event-store.js';
import type { Clock, IdGenerator } from '../ports/services.js';

/** How old a claim must be before it counts as orphaned when its instance was never written. */
export const ORPHANED_CLAIM_AFTER_MS = 60_000;

const DOMAIN_TAKEN_ID = Errors.domainTaken('').id;

/**
 * Creates an instance with its domains: the first instance of an installation, the instance
 * command, and tests. Each domain is claimed in its own stream first (a domain names at most one
 * instance, under any race), then the instance's events are appended; if that fails, the claims are
 * released again. A claim whose instance was never written (a crash between the two steps) is taken
 * over once it is older than {@link ORPHANED_CLAIM_AFTER_MS}.
 */
export class SetUpInstanceUseCase {
  constructor(private readonly deps: { readonly events: EventStore; readonly clock: Clock; readonly ids: IdGenerator }) {}

  async execute(input: { name: string; domains: readonly string[]; instanceId?: string; editorUserId?: string }): Promise<{
    instanceId: string;
    domains: readonly string[];
    position: GlobalPosition;
  }> {
    const instanceId = input.instanceId ?? this.deps.ids.nextId();
    const now = this.deps.clock.now();
    const command: SetUpInstance = { type: 'SetUpInstance', instanceId, name: input.name, domains: input.domains, now };
    // Bad input is refused before anything is written (the decider is pure, so this is a dry run).
    Instance.decide(command, initialInstanceState());
    const commandId = `setup-instance-${instanceId}`;
    const context: CommandContext = { instanceId, editorUserId: input.editorUserId ?? 'SYSTEM', commandId, correlationId: commandId, now };
    const domains = normalizeDomains(input.domains);
    const claimed: string[] = [];
    try {
      for (const domain of domains) {
        await this.claim(domain, instanceId, context);
        claimed.push(domain);
      }
      const result = await handleCommand(this.deps.events, Instance, instanceStreamId(instanceId), command, context);
      return { instanceId, domains, position: result.append.position };
    } catch (error) {
      for (const domain of claimed) {
        await handleCommand(this.deps.events, DomainClaim, domainClaimStreamId(domain), { type: 'ReleaseDomain', domain, instanceId }, context).catch(
          () => undefined, // what stays claimed is taken over once orphaned
        );
      }
      throw error;
    }
  }

  private async claim(domain: string, instanceId: string, context: CommandContext): Promise<void> {
    const stream = domainClaimStreamId(domain);
    try {
      await handleCommand(this.deps.events, DomainClaim, stream, { type: 'ClaimDomain', domain, instanceId }, context);
    } catch (error) {
      if (!isDomainError(error) || error.id !== DOMAIN_TAKEN_ID) throw error;
      const holder = await this.orphanedHolder(stream, context.now);
      if (holder === undefined) throw error;
      await handleCommand(this.deps.events, DomainClaim, stream, { type: 'ClaimDomain', domain, instanceId, takeOverFrom: holder }, context);
    }
  }

  /** The holder of the domain when its claim is old and its instance does not exist, else undefined. */
  private async orphanedHolder(stream: string, now: Date): Promise<string | undefined> {
    const { events } = await this.deps.events.readStream(stream);
    const holder = fold(DomainClaim, events.map((e) => ({ type: e.type, data: e.data }) as DomainClaimEvent)).claimedBy;
    const claimedAt = Date.parse(events.at(-1)?.metadata.createdAt ?? '');
    if (holder === undefined || !(now.getTime() - claimedAt >= ORPHANED_CLAIM_AFTER_MS)) return undefined;
    const instance = await this.deps.events.readStream(instanceStreamId(holder));
    return instance.currentRevision === undefined ? holder : undefined;
  }
}
