import {
  DomainError,
  ErrorIds,
  ErrorKind,
  Instance,
  InstanceEventTypes,
  instanceStreamId,
  parseAddSmtpConfigRequest,
  type AddSmtpConfig,
  type SMTPConfigAddedData,
} from '../../domain/index.js';
import { handleCommand } from '../command-handler.js';
import { eventsOfCommand } from '../command-replay.js';
import { isoTimeOf } from '../iso-time.js';
import type { EventStore, RecordedEvent } from '../ports/event-store.js';
import type { Logger } from '../ports/logger.js';
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
  /**
   * The caller's idempotency key. A call retried with the same key after it succeeded appends
   * nothing and gets the first call's response again (a different request under the same key is
   * refused, `COMMAND-idem-3r7v`). Without it every call is a new command.
   */
  readonly commandId?: string;
}

/**
 * Where the answer comes from. `read-model` (default): wait until the read model shows the new
 * configuration and answer from it (read-your-writes; if it lags past the timeout, from the event).
 * `append`: answer from the appended event at once, for a projection that runs in another process.
 */
export type AddSmtpConfigAnswer = 'read-model' | 'append';

export interface AddSmtpConfigDeps {
  readonly events: EventStore;
  /** Needed when answering from the read model (the default). */
  readonly queries?: SmtpConfigQueries;
  /** Needed when answering from the read model (the default); `hasProcessed`, if there, spares a wait for what is there already. */
  readonly projection?: Pick<ProjectionRunner, 'waitFor'> & Partial<Pick<ProjectionRunner, 'hasProcessed'>>;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly encryptor: SecretEncryptor;
  readonly permissions: PermissionChecker;
  /** How long to wait for the read model to show the new configuration. */
  readonly projectionTimeoutMs?: number;
  /** Told when the read model did not catch up in time (the answer then comes from the appended event). */
  readonly onReadModelLag?: (error: unknown) => void;
  /** Default `read-model`. */
  readonly answerFrom?: AddSmtpConfigAnswer;
  /** Told (at debug) about every configuration added; default: nothing. */
  readonly logger?: Logger;
}

/**
 * Add a new SMTP configuration if nothing is set yet: authorize, validate, encrypt the password,
 * load the instance, decide, append (deciding again after a lost race), wait for the projection,
 * and answer from the read model (or, if it lags, from the appended event).
 */
export class AddSmtpConfigUseCase {
  constructor(private readonly deps: AddSmtpConfigDeps) {
    if ((deps.answerFrom ?? 'read-model') === 'read-model' && !(deps.queries && deps.projection)) {
      throw new TypeError('AddSmtpConfigUseCase: answering from the read model needs `queries` and `projection` (or pass answerFrom: "append")');
    }
  }

  async execute(call: AddSmtpConfigCall): Promise<AddSmtpConfigResponse> {
    const { events, clock, ids, encryptor, permissions } = this.deps;
    await permissions.require(call.principal, 'iam.write', call.instanceId);
    const { password, ...config } = parseAddSmtpConfigRequest(call.body);
    const streamId = instanceStreamId(call.instanceId);
    if (call.commandId !== undefined) {
      // A retry of a call that succeeded: the first answer again, built from the event it appended.
      const { events: recorded } = await events.readStream(streamId);
      const previous = eventsOfCommand(recorded, streamId, call.commandId).find((e) => e.type === InstanceEventTypes.SMTPConfigAdded);
      if (previous) {
        await this.requireSameRequest(previous.data as SMTPConfigAddedData, config, password);
        return answerFromEvent(previous, call.instanceId);
      }
    }
    const encrypted = password === '' ? undefined : await encryptor.encrypt(password);
    const configId = ids.nextId();
    const now = clock.now();
    const command: AddSmtpConfig = { type: 'AddSmtpConfig', instanceId: call.instanceId, configId, config, password: encrypted, now };
    const commandId = call.commandId ?? `add-smtp-${configId}`;
    const at = isoTimeOf(now);
    const result = await handleCommand(events, Instance, streamId, command, {
      instanceId: call.instanceId,
      editorUserId: call.principal.userId,
      commandId,
      correlationId: call.correlationId ?? commandId,
      now,
      createdAt: at,
    });
    this.deps.logger?.debug({ instanceId: call.instanceId, id: configId, sequence: result.sequence.toString() }, 'SMTP configuration added');
    const { queries, projection } = this.deps;
    if (this.deps.answerFrom === 'append' || !queries || !projection) return answerFromAppend(result.sequence, at, call.instanceId, configId);
    // Read-your-writes: answer from the read model once it shows the new configuration. The event is
    // on disk already, so when the read model lags past the timeout (its disk is full, its writer is
    // failing over) the answer is still 200, built from the appended event exactly as the projection
    // builds it; the read model shows it once it catches up.
    const position = result.append.position;
    const caughtUp =
      projection.hasProcessed?.(position) ||
      (await projection.waitFor(position, this.deps.projectionTimeoutMs ?? 5_000).then(
        () => true,
        (error: unknown) => {
          this.deps.onReadModelLag?.(error);
          return false;
        },
      ));
    if (!caughtUp) return answerFromAppend(result.sequence, at, call.instanceId, configId);
    // The row the append's own transaction wrote, when the projection ran inline in this process;
    // else the read model is asked.
    const view = queries.takeSmtpConfigProjectedAt?.(call.instanceId, configId, position) ?? (await queries.smtpConfigById(call.instanceId, configId));
    if (!view) {
      throw new DomainError(ErrorKind.Internal, ErrorIds.ProjectionMissing, 'Errors.Internal', 'the projection did not produce the configuration');
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

  /** The same key must come with the same request: every field, and the password (compared decrypted). */
  private async requireSameRequest(stored: SMTPConfigAddedData, config: AddSmtpConfig['config'], password: string): Promise<void> {
    const fields = ['senderAddress', 'senderName', 'tls', 'host', 'user', 'replyToAddress', 'description'] as const;
    const differs: string[] = fields.filter((f) => stored[f] !== config[f]);
    const storedPassword = stored.password ? await this.deps.encryptor.decrypt(stored.password) : '';
    if (storedPassword !== password) differs.push('password');
    if (differs.length > 0) {
      throw new DomainError(
        ErrorKind.FailedPrecondition,
        ErrorIds.CommandIdReused,
        'Errors.Command.IdReused',
        `the commandId was used before for a different request (${differs.join(', ')} differ)`,
      );
    }
  }
}

/**
 * The response from the appended event, as the projection builds the view. A function of its own
 * rather than a closure in `execute`, so that a command that answers from the read model (nearly
 * every one) makes no closure it does not call.
 */
const answerFromAppend = (sequence: bigint, at: string, instanceId: string, id: string): AddSmtpConfigResponse => ({
  details: { sequence: sequence.toString(), creationDate: at, changeDate: at, resourceOwner: instanceId },
  id,
});

/** The response as the first call gave it, from the event it appended (as the projection builds the view). */
const answerFromEvent = (event: RecordedEvent, instanceId: string): AddSmtpConfigResponse => ({
  details: {
    sequence: (event.revision + 1n).toString(),
    creationDate: event.metadata.createdAt,
    changeDate: event.metadata.createdAt,
    resourceOwner: instanceId,
  },
  id: (event.data as SMTPConfigAddedData).id,
});
