import { INSTANCE_STREAM_PREFIX } from '../../domain/index.js';
import type { EventStore } from '../ports/event-store.js';
import type { ProjectionStore } from '../ports/read-model.js';
import { ProjectionRunner } from './projection-runner.js';
import { projectEvent } from './smtp-config-projection.js';

/** The SMTP configuration projection's runner on the given stores (not started). */
export const smtpConfigProjection = (
  events: EventStore,
  readModel: ProjectionStore,
  options: { onError?: (error: unknown) => void } = {},
): ProjectionRunner =>
  new ProjectionRunner(events, readModel, {
    handler: projectEvent,
    streamPrefixes: [INSTANCE_STREAM_PREFIX],
    ...(options.onError ? { onError: options.onError } : {}),
  });

/**
 * Brings a read model up to the event store's current head, from its checkpoint, and stops: for
 * tools that read the read model while a server may or may not be running. Safe beside a running
 * projection, because the read model skips what it has applied already.
 */
export const catchUpReadModel = async (events: EventStore, readModel: ProjectionStore, timeoutMs = 120_000): Promise<void> => {
  const head = await events.headPosition();
  if (!head) return;
  const runner = smtpConfigProjection(events, readModel);
  runner.start();
  try {
    await runner.waitFor(head, timeoutMs);
  } finally {
    await runner.stop();
  }
};
