import {
  DomainError,
  ErrorKind,
  Instance,
  instanceStreamId,
  parseAddSmtpConfigRequest,
  type AddSmtpConfig,
} from '../../domain/index.js';
import { handleCommand } from '../command-handler.js';
import type { EventStore } from '../ports/event-store.js';
import type { SmtpConfigQueries } from '../ports/read-model.js';
import type { Clock, IdGenerator, PermissionChecker, Principal, SecretEncryptor } from '../ports/services.js';
import type { ProjectionRunner } from '../projection/projection-runner.js';

/** ZITADEL's ObjectDetails, as the API returns it. */
export interface ObjectDetails {
  readonly sequence: string;
  readonly creationDate: string;
  readonly changeDate: string;
  readonly resourceOwner: string;
}

export interface AddSmtpConfigResponse {
  readonly details: ObjectDetails;
  readonly id: string;
}

export interface AddSmtpConfigCall {
  readonly principal: Principal;
  readonly instanceId: string;
  /** The request body as it came in; validated here. */
  readonly body: unknown;
  readonly correlationId?: string;
  /** Defaults to a new id; pass the caller's idempotency key to make a retried call append nothing twice. */
  readonly commandId?: string;
}

export interface AddSmtpConfigDeps {
  readonly events: EventStore;
  readonly queries: SmtpConfigQueries;
  readonly projection: Pick<ProjectionRunner, 'waitFor'>;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly encryptor: SecretEncryptor;
  readonly permissions: PermissionChecker;
  /** How long to wait for the read model to show the new configuration. */
  readonly projectionTimeoutMs?: number;
  /** Told when the read model did not catch up in time (the answer then comes from the appended event). */
  readonly onReadModelLag?: (error: unknown) => void;
}

/**
 * Add a new SMTP configuration if nothing is set yet: authorize, validate, encrypt the password,
 * load the instance, decide, append (deciding again after a lost race), wait for the projection,
 * and answer from the read model (or, if it lags, from the appended event).
 */
export class AddSmtpConfigUseCase {
  constructor(private readonly deps: AddSmtpConfigDeps) {}

  async execute(call: AddSmtpConfigCall): Promise<AddSmtpConfigResponse> {
    const { events, queries, projection, clock, ids, encryptor, permissions } = this.deps;
    await permissions.require(call.principal, 'iam.write', call.instanceId);
    const { password, ...config } = parseAddSmtpConfigRequest(call.body);
    const encrypted = password === '' ? undefined : await encryptor.encrypt(password);
    const configId = ids.nextId();
    const now = clock.now();
    const command: AddSmtpConfig = { type: 'AddSmtpConfig', instanceId: call.instanceId, configId, config, password: encrypted, now };
    const commandId = call.commandId ?? `add-smtp-${configId}`;
    const result = await handleCommand(events, Instance, instanceStreamId(call.instanceId), command, {
      instanceId: call.instanceId,
      editorUserId: call.principal.userId,
      commandId,
      correlationId: call.correlationId ?? commandId,
      now,
    });
    // Read-your-writes: answer from the read model once it shows the new configuration. The event is
    // on disk already, so when the read model lags past the timeout (its disk is full, its writer is
    // failing over) the answer is still 200, built from the appended event exactly as the projection
    // builds it; the read model shows it once it catches up.
    const caughtUp = await projection.waitFor(result.append.position, this.deps.projectionTimeoutMs ?? 5_000).then(
      () => true,
      (error: unknown) => {
        this.deps.onReadModelLag?.(error);
        return false;
      },
    );
    if (!caughtUp) {
      const at = now.toISOString();
      return { details: { sequence: result.sequence.toString(), creationDate: at, changeDate: at, resourceOwner: call.instanceId }, id: configId };
    }
    const view = await queries.smtpConfigById(call.instanceId, configId);
    if (!view) {
      throw new DomainError(ErrorKind.Internal, 'SMTP-proj-k3d9', 'Errors.Internal', 'the projection did not produce the configuration');
    }
    return {
      details: {
        sequence: view.sequence.toString(),
        creationDate: view.creationDate,
        changeDate: view.changeDate,
        resourceOwner: view.resourceOwner,
      },
      id: view.id,
    };
  }
}
