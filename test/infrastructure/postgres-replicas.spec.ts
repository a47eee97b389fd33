import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  catchUpReadModel,
  comparePositions,
  InMemoryProjectionStore,
  instanceStreamId,
  loadOrCreateDevSigningKey,
  PostgresEventStore,
  PostgresProjectionStore,
  SetUpInstanceUseCase,
  signToken,
  SystemClock,
  type EventStore,
  type ProjectionStore,
} from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';
import { SequentialIds, seedRequest } from '../support/fixtures.js';
import type { HttpResponse } from '../support/http-server.js';
import { FIRST_INSTANCE_CREATED, inParallel, spawnReplica, type Replica } from '../support/replicas/replicas.js';

const USER = '69629023906488001';
const START_TIMEOUT_MS = 120_000;
const { password: _password, ...seedWithoutPassword } = seedRequest;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits (polling, up to `timeoutMs`) until `predicate` holds; fails with `what` otherwise. Not a timing assertion: only a bound on a hang. */
const eventually = async (what: string, predicate: () => boolean | Promise<boolean>, timeoutMs: number, explain: () => string = () => ''): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms\n${explain()}`);
    await sleep(100);
  }
};

/** The shared read model's checkpoint has reached the head the event store has now. */
const checkpointReachesHead = async (events: EventStore, readModel: ProjectionStore, timeoutMs: number): Promise<void> => {
  const head = await events.headPosition();
  if (!head) return;
  await eventually(
    `the shared checkpoint reaching the events' head ${head.commit}`,
    async () => {
      const at = await readModel.checkpoint();
      return at !== undefined && comparePositions(at, head) >= 0;
    },
    timeoutMs,
  );
};

const isConnectionError = (error: unknown): boolean => {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '';
  return ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(code) || (error instanceof Error && /socket hang up/i.test(error.message));
};

/** How many sessions wait for the advisory lock `hashtext(name)`. */
const waitingFor = async (client: pg.Client, name: string): Promise<number> => {
  const { rows } = await client.query<{ classid: string; objid: string; key: string }>(
    `SELECT l.classid::text AS classid, l.objid::text AS objid, hashtext($1)::bigint::text AS key
       FROM pg_locks l WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [name],
  );
  return rows.filter((r) => BigInt.asIntN(64, (BigInt(r.classid) << 32n) | BigInt(r.objid)) === BigInt(r.key)).length;
};

describe.skipIf(postgresSkipReason !== undefined)('server replicas sharing one PostgreSQL schema', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await Promise.resolve(c()).catch((e: unknown) => console.warn('cleanup failed', e));
  }, 60_000);

  /** A fresh schema and data directory, dropped and removed after the test. */
  const environment = async () => {
    const db = await freshPostgresSchema(4);
    cleanup.push(() => db.drop());
    const dataDir = mkdtempSync(join(tmpdir(), 'smtp-replicas-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const spawn = (names: readonly string[]): Replica[] => {
      const replicas = names.map((name) => spawnReplica(name, { DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema, DATA_DIR: dataDir }));
      cleanup.push(() => Promise.all(replicas.map((r) => r.stop())).then(() => undefined));
      return replicas;
    };
    /** The test's own view of the schema, through the library. */
    const stores = async () => {
      const events = await PostgresEventStore.open(db.pool, { schema: db.schema, pollIntervalMs: 50 });
      cleanup.push(() => events.close());
      const readModel = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
      return { events, readModel };
    };
    const smtpEvents = async () =>
      (
        await db.pool.query<{ stream_id: string; id: string }>(
          `SELECT stream_id, data->>'id' AS id FROM ${db.schema}.events WHERE type = 'instance.smtp.config.added' ORDER BY position`,
        )
      ).rows;
    return { db, dataDir, spawn, stores, smtpEvents };
  };

  const startAll = async (replicas: readonly Replica[]) => {
    await Promise.all(replicas.map((r) => r.listening(START_TIMEOUT_MS)));
    await eventually(
      'one replica taking the projection lock',
      () => replicas.some((r) => r.writesReadModel),
      60_000,
      () => replicas.map((r) => r.describe()).join('\n'),
    );
  };

  it(
    'keeps every acknowledged configuration, once, readable on every survivor, when the projection writer is killed in the middle of 300 adds',
    { timeout: 180_000 },
    async () => {
      const env = await environment();
      const replicas = env.spawn(['replica-a', 'replica-b', 'replica-c']);
      await startAll(replicas);
      const { events, readModel } = await env.stores();

      // 300 instances, each with a domain of its own, set up through the library beside the running replicas.
      const N = 300;
      const setUp = new SetUpInstanceUseCase({ events, clock: new SystemClock(), ids: new SequentialIds() });
      const instances: { id: string; domain: string; token: string }[] = [];
      const { privateJwk } = await loadOrCreateDevSigningKey(env.dataDir);
      await inParallel(
        Array.from({ length: N }, (_, i) => i),
        16,
        async (i) => {
          const domain = `tenant${i}.example.com`;
          const { instanceId } = await setUp.execute({ name: `tenant${i}`, domains: [domain] });
          const token = await signToken(privateJwk, { userId: USER, instanceId, roles: ['IAM_OWNER'], expiresIn: '1h' });
          instances[i] = { id: instanceId, domain, token };
        },
      );
      await checkpointReachesHead(events, readModel, 60_000);

      interface Outcome {
        readonly index: number;
        readonly replica: Replica;
        readonly sentAfterKill: boolean;
        readonly response?: HttpResponse;
        readonly error?: unknown;
        /** A GET right after a 200, on another live replica. */
        readonly readBack?: { replica: Replica; response: HttpResponse };
      }
      const outcomes: Outcome[] = [];
      let finished = 0;
      let killed: Replica | undefined;
      let killDone = false;
      const live = () => replicas.filter((r) => r !== killed && r.alive);

      await inParallel(instances, 16, async (instance, i) => {
        // Round-robin over the three; once one is dead, over the ones left (as a load balancer would).
        const sentAfterKill = killDone;
        const targets = sentAfterKill ? live() : replicas;
        const replica = targets[i % targets.length]!;
        let outcome: Outcome;
        try {
          outcome = { index: i, replica, sentAfterKill, response: await replica.post(instance.domain, instance.token, seedRequest) };
        } catch (error) {
          outcome = { index: i, replica, sentAfterKill, error };
        }
        const posted = outcome.response;
        if (posted?.status === 200) {
          // Read-your-writes across replicas: the 200 came after the shared read model had it, so
          // another replica serves it at once (if that one is killed meanwhile, the next one).
          for (;;) {
            const others = live().filter((r) => r !== replica);
            const reader = others[i % Math.max(others.length, 1)] ?? replica;
            try {
              outcome = { ...outcome, readBack: { replica: reader, response: await reader.get(instance.domain, instance.token, posted.json.id as string) } };
              break;
            } catch (error) {
              if (reader.alive && reader !== killed) throw error;
            }
          }
        }
        outcomes.push(outcome);
        if (++finished === N / 2) {
          // Half-way, with 15 others in flight: kill -9 the replica that writes the read model.
          const holders = replicas.filter((r) => r.writesReadModel);
          expect(holders.map((r) => r.name), 'exactly one replica says it writes the read model').toHaveLength(1);
          killed = holders[0]!;
          await killed.kill9();
          killDone = true;
        }
      });
      expect(killed, 'a projection writer was killed').toBeDefined();
      const survivors = replicas.filter((r) => r !== killed);

      // A surviving replica takes the projection over.
      await eventually(
        'a surviving replica taking the projection over',
        () => survivors.some((r) => r.writesReadModel),
        60_000,
        () => survivors.map((r) => r.describe()).join('\n'),
      );

      // Only the killed replica may fail, and only by going away; every other answer is a 200.
      const failures = outcomes.filter((o) => o.error !== undefined);
      for (const f of failures) {
        expect(f.replica.name, `request ${f.index} failed on a replica that was not killed: ${String(f.error)}`).toBe(killed!.name);
        expect(isConnectionError(f.error), `request ${f.index} failed with ${String(f.error)}`).toBe(true);
      }
      const answered = outcomes.filter((o) => o.response !== undefined);
      const notOk = answered.filter((o) => o.response!.status !== 200).map((o) => `${o.replica.name} #${o.index}: ${o.response!.status} ${o.response!.text}`);
      expect(notOk, 'answers other than 200').toEqual([]);
      const afterKill = answered.filter((o) => o.sentAfterKill);
      expect(afterKill.length, 'POSTs sent after the kill that were answered').toBeGreaterThan(0);
      expect(afterKill.every((o) => o.response!.status === 200)).toBe(true);

      // Read-your-writes right after each 200, on another replica.
      const unreadable = answered
        .filter((o) => o.readBack && o.readBack.response.status !== 200)
        .map((o) => `#${o.index} written on ${o.replica.name}, read on ${o.readBack!.replica.name}: ${o.readBack!.response.status} ${o.readBack!.response.text}`);
      expect(unreadable, 'a 200 that another replica could not read right after').toEqual([]);

      // The requests the killed replica never answered go to a survivor: the event may be stored already (then 409).
      const retried = new Map<number, HttpResponse>();
      for (const f of failures) {
        const instance = instances[f.index]!;
        const response = await survivors[f.index % survivors.length]!.post(instance.domain, instance.token, seedRequest);
        retried.set(f.index, response);
        expect([200, 409], `retry of #${f.index}: ${response.text}`).toContain(response.status);
        if (response.status === 409) expect(response.json.code).toBe(6);
      }

      // Exactly one configuration event per instance, and each 200 named it.
      const stored = await env.smtpEvents();
      const byInstance = new Map<string, string[]>();
      for (const row of stored) byInstance.set(row.stream_id, [...(byInstance.get(row.stream_id) ?? []), row.id]);
      const counts = instances.map((instance) => byInstance.get(instanceStreamId(instance.id))?.length ?? 0);
      expect(counts.filter((c) => c !== 1), 'instances without exactly one instance.smtp.config.added').toEqual([]);
      expect(stored).toHaveLength(N);
      const acknowledged = new Map<number, HttpResponse>(answered.map((o) => [o.index, o.response!]));
      for (const [i, r] of retried) if (r.status === 200) acknowledged.set(i, r);
      for (const [i, r] of acknowledged) expect(r.json.id, `#${i}`).toBe(byInstance.get(instanceStreamId(instances[i]!.id))![0]);

      // The shared read model catches up to the events' head; then every configuration reads back on every survivor.
      await checkpointReachesHead(events, readModel, 60_000);
      const wrongReads: string[] = [];
      await inParallel(instances, 16, async (instance, i) => {
        const id = byInstance.get(instanceStreamId(instance.id))![0]!;
        for (const survivor of survivors) {
          const res = await survivor.get(instance.domain, instance.token, id);
          const posted = acknowledged.get(i);
          const expected = {
            smtpConfig: {
              ...seedWithoutPassword,
              id,
              details: posted ? posted.json.details : expect.objectContaining({ resourceOwner: instance.id }),
            },
          };
          try {
            expect(res.status).toBe(200);
            expect(res.json).toEqual(expected);
          } catch {
            wrongReads.push(`#${i} on ${survivor.name}: ${res.status} ${res.text}`);
          }
        }
      });
      expect(wrongReads, 'configurations that a survivor did not serve as acknowledged').toEqual([]);

      // The read model equals a fresh rebuild from the events.
      const rebuilt = new InMemoryProjectionStore();
      await catchUpReadModel(events, rebuilt, 120_000);
      expect(await readModel.snapshot()).toEqual(await rebuilt.snapshot());
    },
  );

  it('lets exactly one of 50 concurrent adds on one instance through three replicas win', { timeout: 180_000 }, async () => {
    const env = await environment();
    const replicas = env.spawn(['replica-a', 'replica-b', 'replica-c']);
    await startAll(replicas);
    const { readModel } = await env.stores();
    const first = await readModel.instanceByDomain('localhost');
    expect(first, 'the first instance').toBeDefined();
    const { privateJwk } = await loadOrCreateDevSigningKey(env.dataDir);
    const token = await signToken(privateJwk, { userId: USER, instanceId: first!.id, roles: ['IAM_OWNER'], expiresIn: '1h' });

    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => replicas[i % replicas.length]!.post('localhost', token, seedRequest)));

    const won = responses.filter((r) => r.status === 200);
    const lost = responses.filter((r) => r.status !== 200);
    expect(won, responses.map((r) => `${r.status} ${r.text}`).join('\n')).toHaveLength(1);
    expect(lost.map((r) => [r.status, r.json?.code])).toEqual(Array(49).fill([409, 6]));
    const stored = (await env.smtpEvents()).filter((e) => e.stream_id === instanceStreamId(first!.id));
    expect(stored.map((e) => e.id)).toEqual([won[0]!.json.id]);
    for (const replica of replicas) {
      const res = await replica.get('localhost', token, won[0]!.json.id as string);
      expect(res.status, `${replica.name}: ${res.text}`).toBe(200);
      expect(res.json.smtpConfig.details).toEqual(won[0]!.json.details);
    }
  });

  it('starts two replicas together on an empty schema, both serving the one first instance that exists', { timeout: 180_000 }, async () => {
    // The race (both find the store empty, one loses the domain claims) is not hit every time: three rounds.
    for (let round = 1; round <= 3; round++) {
      const env = await environment();
      // Line the two up: hold the schema's migration lock until both wait for it, then let go, so that
      // both find the store empty at (nearly) the same moment rather than one after the other's start-up.
      const gate = new pg.Client({ connectionString: testDatabaseUrl });
      await gate.connect();
      cleanup.push(() => gate.end());
      const migrateKey = `${env.db.schema}.migrate`;
      await gate.query('SELECT pg_advisory_lock(hashtext($1))', [migrateKey]);
      const replicas = env.spawn([`round${round}-replica-a`, `round${round}-replica-b`]);
      await eventually(
        `round ${round}: both replicas waiting for the schema`,
        async () => (await waitingFor(gate, migrateKey)) === 2,
        START_TIMEOUT_MS,
        () => replicas.map((r) => r.describe()).join('\n'),
      );
      await gate.query('SELECT pg_advisory_unlock(hashtext($1))', [migrateKey]);
      await Promise.all(replicas.map((r) => r.listening(START_TIMEOUT_MS)));

      const { rows: added } = await env.db.pool.query<{ stream_id: string }>(`SELECT stream_id FROM ${env.db.schema}.events WHERE type = 'instance.added'`);
      expect(added, `round ${round}: instance.added events`).toHaveLength(1);
      const { readModel } = await env.stores();
      const listed = [];
      for await (const i of readModel.instances()) listed.push(i);
      expect(listed.map((i) => [i.name, i.domains])).toEqual([['ZITADEL', ['localhost', '127.0.0.1']]]);
      expect(added[0]!.stream_id).toBe(instanceStreamId(listed[0]!.id));
      const creators = replicas.filter((r) => r.lines.some((l) => l.msg === FIRST_INSTANCE_CREATED));
      expect(creators.map((r) => r.name), `round ${round}: replicas that say they created the first instance`).toHaveLength(1);
      expect(creators[0]!.lines.find((l) => l.msg === FIRST_INSTANCE_CREATED)!.instanceId).toBe(listed[0]!.id);

      // Both serve it: the first add wins on one, the other replica finds it set already.
      const { privateJwk } = await loadOrCreateDevSigningKey(env.dataDir);
      const token = await signToken(privateJwk, { userId: USER, instanceId: listed[0]!.id, roles: ['IAM_OWNER'], expiresIn: '1h' });
      const firstAdd = await replicas[0]!.post('127.0.0.1', token, seedRequest);
      expect(firstAdd.status, firstAdd.text).toBe(200);
      const secondAdd = await replicas[1]!.post('localhost', token, seedRequest);
      expect([secondAdd.status, secondAdd.json?.code], secondAdd.text).toEqual([409, 6]);

      await Promise.all(replicas.map((r) => r.stop()));
    }
  });
});
