import { describe, expect, it } from 'vitest';
import {
  InMemoryEventStore,
  ProjectionRunner,
  type GlobalPosition,
  type NewEvent,
  type Positioned,
  type ProjectionTarget,
  type RecordedEvent,
} from '../support/everything.js';

/** A backend's own projection: one audit line per event, kept with its checkpoint. */
interface AuditEntry {
  readonly eventId: string;
  readonly line: string;
}

/**
 * Deliberately naive: it appends whatever it is handed, without skipping positions it has seen, so
 * any event the runner delivers twice shows up as a duplicate line.
 */
class AuditLog implements ProjectionTarget<AuditEntry> {
  readonly entries: AuditEntry[] = [];
  private at: GlobalPosition | undefined;
  failNext = false;
  async checkpoint() {
    return this.at;
  }
  async applyBatch(batch: readonly Positioned<AuditEntry>[]) {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk full');
    }
    for (const { changes, position } of batch) {
      this.entries.push(...changes);
      this.at = position;
    }
  }
}

const audit = (e: RecordedEvent): AuditEntry[] => [{ eventId: e.id, line: `${e.metadata.createdAt} ${e.metadata.editorUserId} ${e.type} ${e.streamId}@${e.revision}` }];

let n = 0;
const someEvent = (): NewEvent => ({
  id: `00000000-0000-4000-8000-${(++n).toString(16).padStart(12, '0')}`,
  type: 'instance.added',
  data: { name: `i${n}` },
  metadata: { instanceId: `i${n}`, editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});

const append = async (events: InMemoryEventStore, count: number) => {
  for (let i = 0; i < count; i++) await events.appendToStream(`instance-a${n}`, [someEvent()], 'no_stream');
};

describe('the generic projection runner with a projection of its own', () => {
  it('an audit log sees every event exactly once across a restart, a dropped feed and a failed batch', async () => {
    const events = new InMemoryEventStore();
    const log = new AuditLog();
    await append(events, 250);

    const first = new ProjectionRunner(events, log, { handler: audit, maxBatchSize: 100, initialBackoffMs: 1 });
    first.start();
    await first.waitForCaughtUp(5_000);
    await append(events, 30);
    events.dropSubscriptions();
    log.failNext = true;
    await append(events, 20);
    await first.waitFor((await events.headPosition())!, 5_000);
    await first.stop();

    // The process restarts: more events arrive while nothing runs, and a new runner resumes.
    await append(events, 120);
    const second = new ProjectionRunner(events, log, { handler: audit, maxBatchSize: 100 });
    second.start();
    await second.waitForCaughtUp(5_000);
    await second.stop();

    const all: string[] = [];
    for await (const item of events.subscribeToAll()) {
      if (item.kind === 'caught-up') break;
      if (item.kind === 'event') all.push(item.event.id);
    }
    expect(all).toHaveLength(420);
    expect(log.entries.map((e) => e.eventId)).toEqual(all);
    expect(await log.checkpoint()).toEqual(await events.headPosition());
  });
});
