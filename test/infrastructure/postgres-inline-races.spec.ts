import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AddSmtpConfigUseCase,
  AesGcmEncryptor,
  catchUpReadModel,
  ErrorIds,
  CheckpointWatcher,
  InMemoryProjectionStore,
  INSTANCE_STREAM_PREFIX,
  PostgresEventStore,
  PostgresProjectionStore,
  ProjectionRunner,
  projectEvent,
  RemoveSmtpConfigUseCase,
  RoleBasedPermissionChecker,
  SetUpInstanceUseCase,
  UpdateSmtpConfigPasswordUseCase,
  UpdateSmtpConfigUseCase,
  type EventMetadata,
  type NewEvent,
} from '../support/everything.js';
import { postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';
import { ManualClock, owner, seedRequest, SequentialIds, testKeyRing, testMetadata as metadata } from '../support/fixtures.js';

/**
 * The inline projection under races, wired as the server wires it (each replica's appends report to
 * a CheckpointWatcher; one leader runner, with small batches so that its batches overlap reading),
 * with replicas on pools of their own, a writer that never projects, retried appends, appends with
 * expected revision 'any', and (in the second test) in-place rebuilds and shadow adoptions beside
 * them. The read model must end equal to a fresh rebuild, and a command's wait must never resolve
 * before its row is there.
 */
describe.skipIf(postgresSkipReason !== undefined)('PostgreSQL inline projection under races', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });
  let schemas = 0;

  const freshSchema = async () => {
    const schema = `t_races_${process.pid}_${Date.now().toString(36)}_${++schemas}`;
    cleanup.push(async () => {
      const admin = new pg.Pool({ connectionString: testDatabaseUrl, max: 1 });
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.query(`DROP SCHEMA IF EXISTS ${schema}_shadow CASCADE`);
      await admin.end();
    });
    return schema;
  };

  const pool = (max = 4) => {
    const p = new pg.Pool({ connectionString: testDatabaseUrl, max });
    cleanup.push(() => p.end());
    return p;
  };

  const replica = async (schema: string, k: number, lags: unknown[]) => {
    const p = pool(4);
    const events = await PostgresEventStore.open(p, { schema, pollIntervalMs: 50 });
    cleanup.push(() => events.close());
    const readModel = await PostgresProjectionStore.open(p, { schema });
    const watcher = new CheckpointWatcher(readModel, 20);
    events.projectInline(readModel, { handler: projectEvent, streamPrefixes: [INSTANCE_STREAM_PREFIX], onProjected: (at) => watcher.reached(at) });
    const clock = new ManualClock();
    const ids = new SequentialIds(BigInt(k + 1) * 10n ** 15n);
    const deps = {
      events,
      projection: watcher,
      clock,
      ids,
      encryptor: new AesGcmEncryptor(testKeyRing()),
      permissions: new RoleBasedPermissionChecker(),
      projectionTimeoutMs: 5_000,
      onReadModelLag: (e: unknown) => lags.push(e),
    };
    return {
      events,
      readModel,
      clock,
      setUp: new SetUpInstanceUseCase({ events, clock, ids }),
      add: new AddSmtpConfigUseCase({ ...deps, queries: readModel }),
      update: new UpdateSmtpConfigUseCase(deps),
      password: new UpdateSmtpConfigPasswordUseCase(deps),
      remove: new RemoveSmtpConfigUseCase(deps),
    };
  };
  type Replica = Awaited<ReturnType<typeof replica>>;

  const leaderOn = async (schema: string) => {
    const p = pool(4);
    const events = await PostgresEventStore.open(p, { schema, pollIntervalMs: 20 });
    cleanup.push(() => events.close());
    const readModel = await PostgresProjectionStore.open(p, { schema });
    const errors: unknown[] = [];
    const runner = new ProjectionRunner(events, readModel, {
      handler: projectEvent,
      streamPrefixes: [INSTANCE_STREAM_PREFIX],
      maxBatchSize: 3,
      initialBackoffMs: 10,
      onError: (e) => errors.push(e),
    });
    runner.start();
    cleanup.push(() => runner.stop());
    return { events, readModel, runner, errors };
  };

  const rebuilt = async (events: PostgresEventStore) => {
    const fresh = new InMemoryProjectionStore();
    await catchUpReadModel(events, fresh, 30_000);
    return fresh.snapshot();
  };

  /** One instance's life through one replica, checking after each command that the read model shows it. */
  const lifecycle = async (r: Replica, instanceId: string, checkReads: boolean) => {
    const principal = owner(instanceId);
    const { id } = await r.add.execute({ principal, instanceId, body: { ...seedRequest, description: `first ${instanceId}` } });
    if (checkReads) expect((await r.readModel.smtpConfigById(instanceId, id))?.description).toBe(`first ${instanceId}`);
    r.clock.advance(1_000);
    await r.update.execute({ principal, instanceId, id, body: { ...seedRequest, tls: false, description: `changed ${instanceId}` } });
    if (checkReads) expect((await r.readModel.smtpConfigById(instanceId, id))?.description).toBe(`changed ${instanceId}`);
    r.clock.advance(1_000);
    await r.password.execute({ principal, instanceId, id, body: { password: 'another one' } });
    r.clock.advance(1_000);
    await r.remove.execute({ principal, instanceId, id });
    if (checkReads) expect(await r.readModel.smtpConfigById(instanceId, id)).toBeUndefined();
    r.clock.advance(1_000);
    const added = await r.add.execute({ principal, instanceId, body: { ...seedRequest, host: 'smtp.example.com:465', description: `second ${instanceId}` } });
    if (checkReads) expect((await r.readModel.smtpConfigById(instanceId, added.id))?.description).toBe(`second ${instanceId}`);
  };


  /** Beside the commands: a writer that never projects, retries of appends already made, and 'any' appends. */
  const disturb = async (schema: string, instances: readonly string[], stop: () => boolean) => {
    const p = pool(2);
    const plain = await PostgresEventStore.open(p, { schema });
    cleanup.push(() => plain.close());
    let n = 0;
    while (!stop()) {
      n++;
      const instanceId = instances[n % instances.length]!;
      const stream = `${INSTANCE_STREAM_PREFIX}${instanceId}`;
      const { events, currentRevision } = await plain.readStream(stream);
      const kind = n % 3;
      if (kind === 0 && events.length > 0) {
        // A retry of an append that is already in the log: same ids, same expected revision.
        const last = events.at(-1)!;
        const again: NewEvent = { id: last.id, type: last.type, data: last.data, metadata: last.metadata };
        await plain.appendToStream(stream, [again], last.revision === 0n ? 'no_stream' : last.revision - 1n);
      } else if (kind === 1) {
        const domain: NewEvent = {
          id: `00000000-0000-4000-8000-${(0xa00000000000 + n).toString(16)}`,
          type: 'instance.domain.added',
          data: { domain: `extra${n}.example.com`, generated: false },
          metadata: metadata(instanceId),
        };
        await plain.appendToStream(stream, [domain], 'any');
      } else if (currentRevision !== undefined) {
        const domain: NewEvent = {
          id: `00000000-0000-4000-8000-${(0xb00000000000 + n).toString(16)}`,
          type: 'instance.domain.added',
          data: { domain: `plain${n}.example.com`, generated: false },
          metadata: metadata(instanceId),
        };
        await plain.appendToStream(stream, [domain], currentRevision).catch(() => undefined); // a conflict with a command is fine
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it('keeps the read model equal to a fresh rebuild, and every command reads its own write, with four replicas, a leader and a plain writer', { timeout: 180_000 }, async () => {
    for (let round = 0; round < 3; round++) {
      const schema = await freshSchema();
      const lags: unknown[] = [];
      const replicas = await Promise.all([0, 1, 2, 3].map((k) => replica(schema, k, lags)));
      const leader = await leaderOn(schema);
      const instances = await Promise.all(
        Array.from({ length: 24 }, async (_, i) => (await replicas[i % 4]!.setUp.execute({ name: `r${round}i${i}`, domains: [`r${round}i${i}.example.com`] })).instanceId),
      );
      let done = false;
      const disturbing = disturb(schema, instances, () => done);
      let next = 0;
      try {
        await Promise.all(
          Array.from({ length: 12 }, async (_, w) => {
            while (next < instances.length) {
              const i = next++;
              await lifecycle(replicas[(i + w) % 4]!, instances[i]!, true);
            }
          }),
        );
      } finally {
        done = true;
        await disturbing;
      }
      const head = await leader.events.headPosition();
      await leader.runner.waitFor(head!, 30_000);
      expect(await leader.readModel.checkpoint()).toEqual(head);
      expect(await leader.readModel.snapshot()).toEqual(await rebuilt(leader.events));
      expect(leader.runner.failure).toBeUndefined();
      for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
    }
  });

  // An in-place rebuild empties the read model under a command that has just been told its event is
  // in (a race of the in-place reset itself, inline or not: the server never rebuilds in place), so
  // reads are checked only beside shadow adoptions, which never move the read model back.
  it.each([
    ['rebuilds in place', 'rebuild'],
    ['adopts a shadow rebuild', 'adopt'],
    ['rebuilds in place and adopts a shadow rebuild', 'both'],
  ] as const)('keeps the read model equal to a fresh rebuild while the operator %s beside inline appends', { timeout: 180_000 }, async (_name, mode) => {
    for (let round = 0; round < 3; round++) {
      const schema = await freshSchema();
      const lags: unknown[] = [];
      const replicas = await Promise.all([0, 1, 2, 3].map((k) => replica(schema, k, lags)));
      const leader = await leaderOn(schema);
      const instances = await Promise.all(
        Array.from({ length: 16 }, async (_, i) => (await replicas[i % 4]!.setUp.execute({ name: `s${round}i${i}`, domains: [`s${round}i${i}.example.com`] })).instanceId),
      );
      const shadowPool = pool(4);
      let done = false;
      const disturbing = disturb(schema, instances, () => done);
      const operator = (async () => {
        let adopted = 0;
        for (let k = 0; !done; k++) {
          await new Promise((r) => setTimeout(r, 40));
          if (mode === 'rebuild' || (mode === 'both' && k % 2 === 0)) {
            await leader.runner.rebuild(30_000);
          } else {
            const shadowSchema = `${schema}_shadow`;
            await shadowPool.query(`DROP SCHEMA IF EXISTS ${shadowSchema} CASCADE`);
            const shadow = await PostgresProjectionStore.open(shadowPool, { schema: shadowSchema });
            for (let attempt = 0; attempt < 20; attempt++) {
              await catchUpReadModel(leader.events, shadow, 30_000);
              if (await leader.readModel.adopt(shadow)) {
                adopted++;
                break;
              }
            }
          }
        }
        return adopted;
      })();
      let next = 0;
      try {
        await Promise.all(
          Array.from({ length: 8 }, async (_, w) => {
            while (next < instances.length) {
              const i = next++;
              await lifecycle(replicas[(i + w) % 4]!, instances[i]!, mode === 'adopt').catch((error: unknown) => {
                // See above: a command whose row an in-place reset took between its wait and its read.
                if (mode === 'adopt' || (error as { id?: string }).id !== ErrorIds.ProjectionMissing) throw error;
              });
            }
          }),
        );
      } finally {
        done = true;
        await disturbing;
        await operator;
      }
      const head = await leader.events.headPosition();
      await leader.runner.waitFor(head!, 30_000);
      expect(await leader.readModel.checkpoint()).toEqual(head);
      expect(await leader.readModel.snapshot()).toEqual(await rebuilt(leader.events));
      expect(leader.runner.failure).toBeUndefined();
      for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
    }
  });
});

describe.skipIf(postgresSkipReason !== undefined)('PostgreSQL inline projection: one group-commit batch', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });
  let n = 0;
  const id = () => `00000000-0000-4000-8000-${(0xc00000000000 + ++n).toString(16)}`;
  const added = (instanceId: string, eventId = id()): NewEvent => ({ id: eventId, type: 'instance.added', data: { name: `name ${instanceId}` }, metadata: metadata(instanceId) });
  const domain = (instanceId: string, d: string, eventId = id()): NewEvent => ({
    id: eventId,
    type: 'instance.domain.added',
    data: { domain: d, generated: false },
    metadata: metadata(instanceId),
  });

  it('projects every new append of a batch that also holds conflicts, duplicate ids, retries and other streams, and nothing twice', { timeout: 60_000 }, async () => {
    for (let round = 0; round < 10; round++) {
      const schema = `t_batch_${process.pid}_${Date.now().toString(36)}_${round}`;
      const p = new pg.Pool({ connectionString: testDatabaseUrl, max: 4 });
      cleanup.push(async () => {
        await p.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await p.end();
      });
      const events = await PostgresEventStore.open(p, { schema });
      cleanup.push(() => events.close());
      const readModel = await PostgresProjectionStore.open(p, { schema });
      const reported: bigint[] = [];
      events.projectInline(readModel, { handler: projectEvent, streamPrefixes: [INSTANCE_STREAM_PREFIX], onProjected: (at) => reported.push(at.commit) });
      const first = added('a');
      await events.appendToStream('instance-a', [first], 'no_stream');
      const taken = id();
      // Queued while the first commit is in flight, so they go as one batch (in this order).
      const outcomes = await Promise.allSettled([
        events.appendToStream('instance-b', [added('b'), domain('b', `b${round}.example.com`)], 'no_stream'),
        events.appendToStream('instance-a', [domain('a', 'conflict.example.com')], 5n), // conflict
        events.appendToStream('instance-a', [first], 'no_stream'), // a retry of the first append
        events.appendToStream('domain-x', [{ ...domain('a', 'x.example.com'), id: taken, type: 'instance.domain.claimed' }], 'no_stream'), // another stream
        events.appendToStream('instance-c', [{ ...added('c'), id: taken }], 'no_stream'), // an id already used: refused
        events.appendToStream('instance-a', [domain('a', `a${round}.example.com`), domain('a', `b${round}.example.com`)], 0n), // moves b's domain to a
        events.appendToStream('instance-b', [domain('b', `late${round}.example.com`)], 1n),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      const head = await events.headPosition();
      expect(await readModel.checkpoint()).toEqual(head);
      expect(reported.at(-1)).toBe(head!.commit);
      expect((await readModel.instanceById('a'))?.domains).toEqual([`a${round}.example.com`, `b${round}.example.com`]);
      expect((await readModel.instanceByDomain(`b${round}.example.com`))?.id).toBe('a');
      expect((await readModel.instanceById('b'))?.domains).toEqual([`b${round}.example.com`, `late${round}.example.com`]);
      expect(await readModel.instanceById('c')).toBeUndefined();
      const fresh = new InMemoryProjectionStore();
      await catchUpReadModel(events, fresh, 10_000);
      expect(await readModel.snapshot()).toEqual(await fresh.snapshot());
      for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
    }
  });
});
