import { INSTANCE_STREAM_PREFIX } from '../../domain/index.js';
import type { EventStore } from '../ports/event-store.js';
import type { ProjectionStore } from '../ports/read-model.js';
import { ProjectionRunner, type ProjectionRunnerOptions } from './projection-runner.js';
import { projectEvent } from './smtp-config-projection.js';

/** The SMTP configuration projection's runner on the given stores (not started). */
export const smtpConfigProjection = (
  events: EventStore,
  readModel: ProjectionStore,
  options: Pick<ProjectionRunnerOptions, 'onError' | 'maxBatchSize' | 'onApplied'> = {},
): ProjectionRunner =>
  new ProjectionRunner(events, readModel, {
    handler: projectEvent,
    streamPrefixes: [INSTANCE_STREAM_PREFIX],
    maxBatchSize: options.maxBatchSize ?? 2_000,
    ...(options.onApplied ? { onApplied: options.onApplied } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  });

/**
 * Brings a read model up to what the event store holds now, from its checkpoint, and stops: for
 * tools that read the read model while a server may or may not be running. It waits for the
 * projection's own feed to say it caught up, not for the store's head, which may be an event in a
 * stream the projection does not follow. Safe beside a running projection, because the read model
 * skips what it has applied already.
 */
export const catchUpReadModel = async (events: EventStore, readModel: ProjectionStore, timeoutMs = 120_000): Promise<void> => {
  const runner = smtpConfigProjection(events, readModel);
  runner.start();
  try {
    await runner.waitForCaughtUp(timeoutMs);
  } finally {
    await runner.stop();
  }
};
