import { afterEach, describe, expect, it } from 'vitest';
import {
  catchUpReadModel,
  InMemoryProjectionStore,
  INSTANCE_STREAM_PREFIX,
  PostgresEventStore,
  PostgresProjectionStore,
  projectEvent,
  type EventMetadata,
} from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason } from '../support/adapters.js';
import { contractHistories } from '../contract/projection-store.contract.js';
import { createHarness, owner, seedRequest, SequentialIds, type Harness, rebuiltSnapshot, runLifecycle } from '../support/fixtures.js';

/**
 * The inline projection (PostgresEventStore.projectInline, migration 0005): an append that finds the
 * read model at the log's head writes its rows in its own transaction; otherwise the runner does.
 * Either way the read model must equal a fresh rebuild from the events.
 */
describe.skipIf(postgresSkipReason !== undefined)('PostgreSQL inline projection', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  const open = async (poolSize = 8) => {
    const db = await freshPostgresSchema(poolSize);
    cleanup.push(() => db.drop());
    const events = await PostgresEventStore.open(db.pool, { schema: db.schema, pollIntervalMs: 50 });
    cleanup.push(() => events.close());
    const readModel = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
    const h = createHarness({ events, readModel });
    cleanup.push(() => h.close());
    return { db, events, readModel, h };
  };


  it.each(Object.entries(contractHistories))('applies the %s history in SQL exactly as the set-based writer and the in-memory store do', async (_name, changes) => {
    const db = await freshPostgresSchema(2);
    cleanup.push(() => db.drop());
    const readModel = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
    const json = (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    // One call per event, as an append batch makes them; the checkpoint as the append moves it.
    for (const entry of changes) await db.pool.query(`SELECT ${db.schema}.apply_read_model_changes($1)`, [json(entry.changes)]);
    await readModel.saveCheckpoint(changes.at(-1)!.position);
    const reference = new InMemoryProjectionStore();
    await reference.applyBatch(changes);
    expect(await readModel.snapshot()).toEqual(await reference.snapshot());
  });

  it('refuses a NUL in a text field as invalid input, leaving no event, while the adds beside it succeed', { timeout: 60_000 }, async () => {
    const { h, events } = await open();
    const instances = await Promise.all([1, 2, 3].map((i) => h.newInstance(`nul${i}`)));
    const head = await events.headPosition();
    const results = await Promise.allSettled(
      instances.map((instanceId, i) =>
        h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: i === 1 ? { ...seedRequest, senderName: 'a\u0000b' } : seedRequest }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ kind: 'InvalidArgument' });
    expect(String((results[1] as PromiseRejectedResult).reason.message)).toContain('senderName');
    const after = await events.headPosition();
    expect(after!.commit - head!.commit).toBe(2n);
    expect((await events.readStream(`instance-${instances[1]}`)).events).toHaveLength(2);
  });

  it('writes the rows in the append itself: with the runner stopped, every command still reads its own write', { timeout: 60_000 }, async () => {
    const { h, events, readModel } = await open();
    await h.runner.stop();

    const instanceId = await h.newInstance('inline');
    expect((await readModel.instanceById(instanceId))?.domains).toEqual(['inline.example.com']);
    const added = await runLifecycle(h, instanceId);
    const row = await readModel.smtpConfigById(instanceId, added.id);
    expect(row).toMatchObject({ host: 'smtp.example.com:465', senderName: 'Changed', hasPassword: true, sequence: BigInt(added.details.sequence) + 1n });
    expect(row!.creationDate).toBe(added.details.creationDate);
    expect(row!.changeDate > row!.creationDate).toBe(true);
    expect(await readModel.checkpoint()).toEqual(await events.headPosition());
    expect(await readModel.snapshot()).toEqual(await rebuiltSnapshot(events));
  });

  it('leaves the events to the runner while the read model lags, and goes inline again once it has caught up', { timeout: 60_000 }, async () => {
    const { db, h, events, readModel } = await open();
    await h.runner.stop();
    const first = await h.newInstance('first');

    // Another writer that does not project (a tool, an older replica) puts the read model behind the head.
    const plain = await PostgresEventStore.open(db.pool, { schema: db.schema });
    cleanup.push(() => plain.close());
    const metadata: EventMetadata = { instanceId: 'other', editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 };
    await plain.appendToStream('instance-other', [{ id: '00000000-0000-4000-8000-00000000aaaa', type: 'instance.added', data: { name: 'other' }, metadata }], 'no_stream');
    const behind = await readModel.checkpoint();

    const second = await h.newInstance('second');
    expect(await readModel.instanceById(second)).toBeUndefined();
    expect(await readModel.checkpoint()).toEqual(behind);

    h.runner.start();
    await h.runner.waitForCaughtUp(10_000);
    const head = await events.headPosition();
    await h.runner.waitFor(head!, 10_000);
    expect(await readModel.instanceById('other')).toMatchObject({ name: 'other' });
    expect(await readModel.instanceById(second)).toBeDefined();
    await h.runner.stop();

    const third = await h.newInstance('third');
    expect(await readModel.instanceById(third)).toBeDefined();
    expect(first).not.toEqual(third);
    expect(await readModel.snapshot()).toEqual(await rebuiltSnapshot(events));
  });

  it('never waits for a runner batch that holds the checkpoint: the append commits at once and the runner projects it', { timeout: 60_000 }, async () => {
    const { db, h, readModel } = await open();
    await h.runner.stop();
    await h.newInstance('before');
    // A runner's batch on another replica: it has locked the checkpoint row and not committed yet.
    const other = await db.pool.connect();
    await other.query('BEGIN');
    await other.query(`SELECT 1 FROM ${db.schema}.projection_checkpoints FOR UPDATE`);
    try {
      const started = Date.now();
      const during = await h.newInstance('during');
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(await readModel.instanceById(during)).toBeUndefined();
    } finally {
      await other.query('ROLLBACK');
      other.release();
    }
    h.runner.start();
    await h.runner.waitForCaughtUp(10_000);
    const after = await h.newInstance('after');
    expect(await readModel.instanceById(after)).toBeDefined();
    expect((await readModel.instanceByDomain('during.example.com'))?.name).toBe('during');
  });

  it('answers a committed append as committed even when the listener told of it throws', { timeout: 60_000 }, async () => {
    const db = await freshPostgresSchema(2);
    cleanup.push(() => db.drop());
    const events = await PostgresEventStore.open(db.pool, { schema: db.schema });
    cleanup.push(() => events.close());
    const readModel = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
    let told = 0;
    events.projectInline(readModel, {
      handler: projectEvent,
      streamPrefixes: [INSTANCE_STREAM_PREFIX],
      onProjected: () => {
        told++;
        throw new Error('a listener that fails');
      },
    });
    const metadata: EventMetadata = { instanceId: 'loud', editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 };
    const appended = await events.appendToStream('instance-loud', [{ id: '00000000-0000-4000-8000-00000000cccc', type: 'instance.added', data: { name: 'loud' }, metadata }], 'no_stream');
    expect(told).toBe(1);
    expect(await readModel.checkpoint()).toEqual(appended.position);
    expect(await readModel.instanceById('loud')).toMatchObject({ name: 'loud' });
  });

  it('does not go inline past an event the projection refuses; the runner stops there, naming it', { timeout: 60_000 }, async () => {
    const { h, events, readModel } = await open();
    await h.runner.stop();
    const instanceId = await h.newInstance('poisoned');
    const metadata: EventMetadata = { instanceId, editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 };
    const before = await readModel.checkpoint();
    await events.appendToStream(`instance-${instanceId}`, [{ id: '00000000-0000-4000-8000-00000000bbbb', type: 'instance.smtp.config.added', data: { id: 7 }, metadata }], 1n);
    expect(await readModel.checkpoint()).toEqual(before);

    const later = await h.newInstance('later');
    expect(await readModel.instanceById(later)).toBeUndefined();
    h.runner.start();
    await expect(h.runner.waitForCaughtUp(10_000)).rejects.toMatchObject({ id: 'EVENT-DEC-7m3q' });
    expect(await readModel.checkpoint()).toEqual(before);
  });

  it('keeps the read model equal to a fresh rebuild while 16 commands at a time go through four stores and a runner', { timeout: 120_000 }, async () => {
    const { db, h, events, readModel } = await open(12);
    // Three more processes' worth of stores on the same schema, each projecting inline.
    const others = await Promise.all(
      [1, 2, 3].map(async (k) => {
        const e = await PostgresEventStore.open(db.pool, { schema: db.schema, pollIntervalMs: 50 });
        const r = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
        const other = createHarness({ events: e, readModel: r, ids: new SequentialIds(BigInt(k) * 10n ** 15n) });
        await other.runner.stop();
        cleanup.push(async () => {
          await other.close();
        });
        return other;
      }),
    );
    const harnesses = [h, ...others];
    const instances = await Promise.all(Array.from({ length: 32 }, (_, i) => harnesses[i % 4]!.newInstance(`many${i}`)));
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        while (next < instances.length) {
          const i = next++;
          await runLifecycle(harnesses[(i + w) % 4]!, instances[i]!);
        }
      }),
    );
    const head = await events.headPosition();
    await h.runner.waitFor(head!, 30_000);
    expect(await readModel.checkpoint()).toEqual(head);
    const snapshot = await readModel.snapshot();
    expect(snapshot).toEqual(await rebuiltSnapshot(events));
    for (const instanceId of instances) expect((await readModel.smtpConfigOfInstance(instanceId))?.host).toBe('smtp.example.com:465');
  });
});
