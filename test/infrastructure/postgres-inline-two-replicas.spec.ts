import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AddSmtpConfigUseCase,
  AesGcmEncryptor,
  catchUpReadModel,
  CheckpointWatcher,
  INSTANCE_STREAM_PREFIX,
  InMemoryProjectionStore,
  PostgresEventStore,
  PostgresProjectionStore,
  projectEvent,
  RoleBasedPermissionChecker,
} from '../support/everything.js';
import { postgresHarness, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';
import { ManualClock, owner, seedRequest, SequentialIds, testKeyRing } from '../support/fixtures.js';

/**
 * Two replicas on one schema, both projecting their appends inline (as servers do), only one of
 * them running the projection (the leader), appends racing with random commit delays. Each add
 * answered by the follower from the row its own append wrote must be the row the read model holds,
 * and the read model must end equal to a fresh rebuild of the log.
 */
describe.skipIf(postgresSkipReason !== undefined)('inline projection from two replicas at once', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('answers each add with its own row and leaves the read model equal to a rebuild', { timeout: 120_000 }, async () => {
    const leader = await postgresHarness({ poolSize: 4, pollIntervalMs: 50 });
    cleanup.push(() => leader.close());
    const pool = new pg.Pool({ connectionString: testDatabaseUrl, max: 4 });
    cleanup.push(() => pool.end());
    const events = await PostgresEventStore.open(pool, {
      schema: leader.db.schema,
      pollIntervalMs: 50,
      holdBeforeCommitMs: () => (Math.random() < 0.3 ? Math.floor(Math.random() * 10) : 0),
    });
    cleanup.push(() => events.close());
    const readModel = await PostgresProjectionStore.open(pool, { schema: leader.db.schema });
    const watcher = new CheckpointWatcher(readModel, 20);
    let projectedOnFollower = 0;
    events.projectInline(readModel, { handler: projectEvent, streamPrefixes: [INSTANCE_STREAM_PREFIX], onProjected: (p) => {
        projectedOnFollower++;
        watcher.reached(p);
      },
    });
    const add = new AddSmtpConfigUseCase({
      events,
      queries: readModel,
      projection: watcher,
      clock: new ManualClock(),
      ids: new SequentialIds(900_000_000_000n),
      encryptor: new AesGcmEncryptor(testKeyRing()),
      permissions: new RoleBasedPermissionChecker(),
    });

    const { h } = leader;
    const instances = await Promise.all(Array.from({ length: 10 }, (_, i) => h.newInstance(`two${i}`)));
    const answers: { instanceId: string; answer: Awaited<ReturnType<typeof add.execute>> }[] = [];
    await Promise.all(
      instances.map(async (instanceId, i) => {
        for (let k = 0; k < 4; k++) {
          // Alternate which replica adds; the leader removes, except the last round's.
          const onFollower = (i + k) % 2 === 0;
          const body = { ...seedRequest, description: `d${k}` };
          const answer = onFollower
            ? await add.execute({ principal: owner(instanceId), instanceId, body })
            : await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body });
          if (onFollower) answers.push({ instanceId, answer });
          if (k < 3) await h.removeSmtpConfig.execute({ principal: owner(instanceId), instanceId, id: answer.id });
        }
      }),
    );
    const head = await leader.events.headPosition();
    await h.runner.waitFor(head!, 30_000);
    await new Promise((r) => setTimeout(r, 100));

    const fresh = new InMemoryProjectionStore();
    await catchUpReadModel(leader.events, fresh, 30_000);
    expect(await leader.readModel.snapshot()).toEqual(await fresh.snapshot());
    // Every add the follower answered: its answer is what the rebuilt read model says of it (when
    // the configuration is still there), and what its own event says (its revision as sequence).
    for (const { instanceId, answer } of answers) {
      const stream = (await leader.events.readStream(`${INSTANCE_STREAM_PREFIX}${instanceId}`)).events;
      const added = stream.find((e) => (e.data as { id?: string }).id === answer.id);
      expect(added).toBeDefined();
      expect(answer.details.sequence).toBe((added!.revision + 1n).toString());
      const row = await fresh.smtpConfigById(instanceId, answer.id);
      if (row) expect(answer.details).toEqual({ sequence: row.sequence.toString(), creationDate: row.creationDate, changeDate: row.changeDate, resourceOwner: row.resourceOwner });
    }
    // The follower's appends did go inline (and its answers came from their rows) at least sometimes.
    expect(answers.length).toBeGreaterThan(0);
    expect(projectedOnFollower).toBeGreaterThan(0);
  });
});
