import { Instance, instanceStreamId, type InstanceCommand } from '../../domain/index.js';
import { handleCommand } from '../command-handler.js';
import { isoTimeOf } from '../iso-time.js';
import type { EventStore } from '../ports/event-store.js';
import type { Clock, IdGenerator, PermissionChecker, Principal, SecretEncryptor } from '../ports/services.js';
import type { ProjectionRunner } from '../projection/projection-runner.js';

/** ZITADEL's ObjectDetails of a change or a removal: no creation date. */
export interface ChangeDetails {
  readonly sequence: string;
  readonly changeDate: string;
  readonly resourceOwner: string;
}

export interface SmtpCommandDeps {
  readonly events: EventStore;
  /** What to wait on for read-your-writes; absent when the projection runs elsewhere (the answer comes from the event either way). */
  readonly projection?: Pick<ProjectionRunner, 'waitFor'>;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly encryptor: SecretEncryptor;
  readonly permissions: PermissionChecker;
  /** How long to wait for the read model to show the change. */
  readonly projectionTimeoutMs?: number;
  /** Told when the read model did not catch up in time (the answer is the same: it comes from the event). */
  readonly onReadModelLag?: (error: unknown) => void;
}

/** What every call of a configuration command carries. */
export interface SmtpCommandCall {
  readonly principal: Principal;
  readonly instanceId: string;
  /** The configuration's id, from the path. */
  readonly id: string;
  readonly correlationId?: string;
  /** Defaults to a new id; pass the caller's idempotency key to make a retried call append nothing twice. */
  readonly commandId?: string;
}

/**
 * The shared path of the configuration's commands after validation: load the instance, decide,
 * append with the expected revision (deciding again after a lost race), then wait for the read model
 * so that a read right after the answer sees the change. The answer comes from the appended event.
 */
export const executeSmtpCommand = async (
  deps: SmtpCommandDeps,
  call: SmtpCommandCall,
  kind: string,
  command: (now: Date) => InstanceCommand,
): Promise<{ details: ChangeDetails }> => {
  const now = deps.clock.now();
  const commandId = call.commandId ?? `${kind}-${deps.ids.nextId()}`;
  const result = await handleCommand(deps.events, Instance, instanceStreamId(call.instanceId), command(now), {
    instanceId: call.instanceId,
    editorUserId: call.principal.userId,
    commandId,
    correlationId: call.correlationId ?? commandId,
    now,
  });
  if (deps.projection) {
    await deps.projection.waitFor(result.append.position, deps.projectionTimeoutMs ?? 5_000).catch((error: unknown) => deps.onReadModelLag?.(error));
  }
  return { details: { sequence: result.sequence.toString(), changeDate: isoTimeOf(now), resourceOwner: call.instanceId } };
};
