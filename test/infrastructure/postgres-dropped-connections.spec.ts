import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  comparePositions,
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
import { rebuiltSnapshot, SequentialIds, seedRequest } from '../support/fixtures.js';
import type { HttpResponse } from '../support/http-server.js';
import { inParallel, spawnReplica, type Replica } from '../support/replicas/replicas.js';

/**
 * What a PostgreSQL restart or a failover does to running servers: every database connection they
 * hold (the pool's, the LISTEN connections of the live feed, the projection lock's) is cut at once,
 * here with pg_terminate_backend, while POSTs are in flight. Each replica connects under an
 * application_name of its own (set in DATABASE_URL), so that only its connections are cut (other
 * suites share the database) and each backend can be told apart.
 */

const USER = '69629023906488001';
const START_TIMEOUT_MS = 60_000;
/** A POST or GET that takes longer than this counts as a hang. */
const HANG_MS = 15_000;
/** Bounds on recovery: generous for a noisy two-core machine; a broken reconnect never gets there. */
const RECOVERY_MS = 15_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits (polling, up to `timeoutMs`) until `predicate` holds; fails with `what` otherwise. A bound on a hang, not a timing assertion. */
const eventually = async (what: string, predicate: () => boolean | Promise<boolean>, timeoutMs: number, explain: () => string | Promise<string> = () => ''): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms\n${await explain()}`);
    await sleep(50);
  }
};

/** A request's answer; fails on a hang, and says so when the replica is gone. */
const withinHangBound = <T>(what: string, replica: Replica, work: Promise<T>): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${HANG_MS} ms`)), HANG_MS)));
  return Promise.race([work, hang])
    .catch(async (error: unknown) => {
      // A refused connection may come just before the exit is seen.
      await Promise.race([replica.exited, sleep(1_000)]);
      throw replica.alive ? error : new Error(`${what}: ${replica.name} is gone (${String(error)})\n${replica.describe()}`);
    })
    .finally(() => clearTimeout(timer));
};

const urlWithApplicationName = (name: string): string => {
  const url = new URL(testDatabaseUrl);
  url.searchParams.set('application_name', name);
  return url.toString();
};

interface Backend {
  readonly pid: number;
  readonly app: string;
  readonly query: string;
}

describe.skipIf(postgresSkipReason !== undefined)('servers on PostgreSQL when every database connection is dropped at once', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await Promise.resolve(c()).catch((e: unknown) => console.warn('cleanup failed', e));
  }, 60_000);

  it(
    'answers 503 or 200 (never 500, never a hang) while the connections drop, recovers within seconds, twice, with the lock, the LISTEN connections and the read model whole',
    { timeout: 120_000 },
    async () => {
      const db = await freshPostgresSchema(4);
      cleanup.push(() => db.drop());
      const dataDir = mkdtempSync(join(tmpdir(), 'smtp-dropped-'));
      cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));

      // One application_name per replica, all with a prefix no other test uses.
      const prefix = `drop_${db.schema}`;
      const appOf = new Map<Replica, string>();
      const replicas = ['a', 'b'].map((name) => {
        const app = `${prefix}_${name}`;
        const replica = spawnReplica(`replica-${name}`, { DATABASE_URL: urlWithApplicationName(app), DATABASE_SCHEMA: db.schema, DATA_DIR: dataDir });
        appOf.set(replica, app);
        return replica;
      });
      cleanup.push(() => Promise.all(replicas.map((r) => r.stop())).then(() => undefined));
      const describeReplicas = () => replicas.map((r) => r.describe()).join('\n');
      await Promise.all(replicas.map((r) => r.listening(START_TIMEOUT_MS)));
      await eventually('one replica taking the projection lock', () => replicas.some((r) => r.writesReadModel), START_TIMEOUT_MS, describeReplicas);

      /** The replicas' backends, as PostgreSQL sees them (the test's own pool has another application_name). */
      const backends = async (): Promise<Backend[]> =>
        (
          await db.pool.query<Backend>(
            `SELECT pid, application_name AS app, query FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid() AND starts_with(application_name, $1)`,
            [prefix],
          )
        ).rows;
      const lockKey = `${db.schema}.projection.smtp-config`;
      /** The application_names of the sessions that hold the projection lock. */
      const lockHolders = async (): Promise<string[]> =>
        (
          await db.pool.query<{ app: string }>(
            `SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND l.objsubid = 1 AND l.classid::bigint = ((hashtext($1)::bigint >> 32) & 4294967295) AND l.objid::bigint = (hashtext($1)::bigint & 4294967295)`,
            [lockKey],
          )
        ).rows.map((r) => r.app);
      const listenQueries = [`LISTEN "${db.schema}_events"`, `LISTEN "${db.schema}_checkpoint"`];
      /** Each replica's LISTEN connections (one per channel) are up, on backends that are not among `gone`. */
      const listening = async (gone: ReadonlySet<number>): Promise<boolean> => {
        const now = await backends();
        return replicas.every((r) => listenQueries.every((q) => now.filter((b) => b.app === appOf.get(r) && b.query === q && !gone.has(b.pid)).length === 1));
      };
      const explainBackends = async () => `backends: ${JSON.stringify(await backends())}\nlock holders: ${JSON.stringify(await lockHolders())}\n${describeReplicas()}`;

      // Before anything drops: the connections are where the checks below look for them.
      await eventually('every replica LISTENing on both channels', () => listening(new Set()), RECOVERY_MS, explainBackends);
      const leader = replicas.find((r) => r.writesReadModel)!;
      expect(await lockHolders(), 'the projection lock is held by the replica that says it writes the read model').toEqual([appOf.get(leader)]);

      // The instances, set up through the library beside the replicas, as the replica test does.
      const events = await PostgresEventStore.open(db.pool, { schema: db.schema, pollIntervalMs: 50 });
      cleanup.push(() => events.close());
      const readModel = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
      const N = 300;
      const setUp = new SetUpInstanceUseCase({ events, clock: new SystemClock(), ids: new SequentialIds() });
      const { privateJwk } = await loadOrCreateDevSigningKey(dataDir);
      const instances: { id: string; domain: string; token: string }[] = [];
      await inParallel(
        Array.from({ length: N }, (_, i) => i),
        8,
        async (i) => {
          const domain = `drop${i}.example.com`;
          const { instanceId } = await setUp.execute({ name: `drop${i}`, domains: [domain] });
          instances[i] = { id: instanceId, domain, token: await signToken(privateJwk, { userId: USER, instanceId, roles: ['IAM_OWNER'], expiresIn: '1h' }) };
        },
      );
      await checkpointReachesHead(events, readModel, RECOVERY_MS);

      interface Outcome {
        readonly index: number;
        readonly replica: Replica;
        readonly round: number;
        readonly response: HttpResponse;
      }
      const outcomes: Outcome[] = [];
      const problems: string[] = [];
      /** 200s whose read-back met the outage (503 / code 14): read again once the replicas have recovered. */
      const unreadYet: { outcome: Outcome; reader: Replica }[] = [];
      let nextInstance = 0;
      /** Instances kept for the POSTs after each recovery. */
      const RESERVE = 12;
      const isUnavailable = (r: HttpResponse) => r.status === 503 && r.json?.code === 14;

      /** Reads the configuration a 200 acknowledged on `reader`: undefined when it reads back as acknowledged, else what was read. */
      const readBack = async ({ index, response }: Outcome, reader: Replica): Promise<HttpResponse | undefined> => {
        const instance = instances[index]!;
        const read = await withinHangBound(`GET #${index} on ${reader.name}`, reader, reader.get(instance.domain, instance.token, response.json.id as string));
        return read.status === 200 && read.json?.smtpConfig?.id === response.json.id && read.json.smtpConfig.details?.sequence === response.json.details?.sequence ? undefined : read;
      };

      /** POSTs to the next instance on `replica`; a 200 is read back at once on every replica. */
      const postNext = async (replica: Replica, round: number): Promise<Outcome> => {
        const index = nextInstance++;
        if (index >= N) throw new Error('out of instances: raise N');
        const instance = instances[index]!;
        const response = await withinHangBound(`POST #${index} on ${replica.name}`, replica, replica.post(instance.domain, instance.token, seedRequest));
        const outcome = { index, replica, round, response };
        outcomes.push(outcome);
        if (response.status === 200) {
          for (const reader of replicas) {
            const read = await readBack(outcome, reader);
            if (read && isUnavailable(read)) unreadYet.push({ outcome, reader });
            else if (read) problems.push(`#${index} written on ${replica.name} (round ${round}), read on ${reader.name}: ${read.status} ${read.text}`);
          }
        } else if (!isUnavailable(response)) {
          problems.push(`#${index} on ${replica.name} (round ${round}): ${response.status} ${response.text}`);
        }
        return outcome;
      };

      for (let round = 1; round <= 2; round++) {
        // Both replicas serve before the drop.
        for (const replica of [...replicas, ...replicas]) {
          const { response } = await postNext(replica, round);
          expect(response.status, `round ${round}, before the drop, ${replica.name}: ${response.text}`).toBe(200);
        }

        // POSTs keep coming, four at a time over both replicas, while every connection of the replicas is cut.
        const before = await backends();
        const gone = new Set(before.map((b) => b.pid));
        let dropped = false;
        let recovered = false;
        const okAfterDrop = new Set<Replica>();
        let sent = 0;
        const load = Promise.all(
          Array.from({ length: 4 }, async (_, worker) => {
            while (!recovered) {
              if (nextInstance >= N - RESERVE) {
                await sleep(50);
                continue;
              }
              const replica = replicas[(sent++ + worker) % replicas.length]!;
              const sentAfterDrop = dropped;
              const { response } = await postNext(replica, round);
              if (sentAfterDrop && response.status === 200) okAfterDrop.add(replica);
              await sleep(200); // pacing, so that the instances last through a slow recovery
            }
          }),
        );
        await eventually('a few POSTs in flight', () => sent >= 6, RECOVERY_MS);

        // The projection writer in the middle of a batch when its session ends: the test holds the
        // checkpoint row while another writer (the library, as the instances were set up) appends, so
        // the lock holder's runner waits inside its transaction for the row.
        const leaderNow = replicas.find((r) => r.writesReadModel)!;
        const rowHolder = await db.pool.connect();
        try {
          await rowHolder.query('BEGIN');
          await rowHolder.query(`SELECT 1 FROM ${db.schema}.projection_checkpoints WHERE projection = 'smtp-config' FOR UPDATE`);
          await setUp.execute({ name: `drop-round${round}`, domains: [`drop-round${round}.example.com`] });
          await eventually(
            `round ${round}: ${leaderNow.name}'s runner waiting for the checkpoint row`,
            async () =>
              (
                await db.pool.query(
                  `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND query LIKE '%projection_checkpoints%FOR UPDATE%'`,
                  [appOf.get(leaderNow)],
                )
              ).rows.length > 0,
            RECOVERY_MS,
            explainBackends,
          );
        } catch (error) {
          recovered = true; // ends the load
          await rowHolder.query('ROLLBACK');
          rowHolder.release();
          throw error;
        }
        const { rows: killed } = await db.pool.query<{ pid: number; ok: boolean }>(
          `SELECT pid, pg_terminate_backend(pid) AS ok FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND starts_with(application_name, $1)`,
          [prefix],
        );
        dropped = true;
        await rowHolder.query('ROLLBACK');
        rowHolder.release();
        // Every replica had its pool's connections, two LISTEN connections, and the leader its lock's.
        expect(killed.filter((k) => k.ok).length, `round ${round}: backends terminated`).toBeGreaterThanOrEqual(2 * 3 + 1);
        const droppedAt = Date.now();

        // Within seconds, a POST sent after the drop answers 200 on each replica.
        try {
          await eventually(`round ${round}: a 200 from each replica after the drop`, () => okAfterDrop.size === replicas.length, RECOVERY_MS, explainBackends);
        } finally {
          recovered = true;
          await load;
        }
        const recoveredInMs = Date.now() - droppedAt;
        for (const replica of replicas) expect(replica.alive, `round ${round}: ${replica.name} is still running\n${replica.describe()}`).toBe(true);

        // The projection lock is held again, by exactly one replica, on a new connection; each replica LISTENs again.
        await eventually(
          `round ${round}: one replica holding the projection lock again`,
          async () => (await lockHolders()).length === 1 && replicas.filter((r) => r.writesReadModel).length === 1,
          RECOVERY_MS,
          explainBackends,
        );
        const holder = replicas.find((r) => r.writesReadModel)!;
        expect(await lockHolders(), `round ${round}: the lock's holder`).toEqual([appOf.get(holder)]);
        await eventually(`round ${round}: every replica LISTENing again on new connections`, () => listening(gone), RECOVERY_MS, explainBackends);

        // The lock holder's runner has caught up, the other writer's append it was cut off in the
        // middle of included, and both replicas answer at once.
        await checkpointReachesHead(events, readModel, RECOVERY_MS);
        for (const replica of replicas) {
          const { response } = await postNext(replica, round);
          expect(response.status, `round ${round}, after recovery (${recoveredInMs} ms), ${replica.name}: ${response.text}`).toBe(200);
        }
        for (const { outcome, reader } of unreadYet.splice(0)) {
          const read = await readBack(outcome, reader);
          if (read) problems.push(`#${outcome.index} written on ${outcome.replica.name} (round ${round}), read after recovery on ${reader.name}: ${read.status} ${read.text}`);
        }
        expect(problems, `round ${round}: answers other than 200 or 503 / code 14, and 200s not readable on every replica`).toEqual([]);
      }

      // A 503 said nothing was saved, but a connection cut just after COMMIT can leave it stored: a
      // retry then finds the configuration (409 / code 6) or adds it (200). Never two.
      for (const o of outcomes.filter((x) => x.response.status === 503)) {
        const instance = instances[o.index]!;
        const retry = await withinHangBound(`retry of #${o.index}`, o.replica, o.replica.post(instance.domain, instance.token, seedRequest));
        expect([retry.status, retry.json?.code], `retry of #${o.index}: ${retry.text}`).toEqual(retry.status === 200 ? [200, undefined] : [409, 6]);
      }
      const { rows: stored } = await db.pool.query<{ stream_id: string; id: string }>(
        `SELECT stream_id, data->>'id' AS id FROM ${db.schema}.events WHERE type = 'instance.smtp.config.added' ORDER BY position`,
      );
      const used = instances.slice(0, nextInstance);
      const perInstance = used.map((instance) => stored.filter((e) => e.stream_id === instanceStreamId(instance.id)).length);
      expect(
        perInstance.map((n, i) => [i, n]).filter(([, n]) => n !== 1),
        'instances without exactly one instance.smtp.config.added',
      ).toEqual([]);
      expect(stored).toHaveLength(used.length);
      for (const o of outcomes.filter((x) => x.response.status === 200)) {
        expect(o.response.json.id, `#${o.index}`).toBe(stored.find((e) => e.stream_id === instanceStreamId(instances[o.index]!.id))!.id);
      }

      // The replicas logged the idle connections that failed (their pools had some at each drop) by the
      // error alone, without the pg client pg-pool hangs on it (kilobytes of its state, for each one).
      const idleFailures = replicas.flatMap((r) => r.lines.filter((l) => l.msg === 'an idle database connection failed'));
      expect(idleFailures.length, 'idle connections the replicas logged as failed').toBeGreaterThan(0);
      expect(idleFailures.map((l) => l.err)).toEqual(idleFailures.map(() => expect.not.objectContaining({ client: expect.anything() })));
      expect(idleFailures.map((l) => (l.err as { code?: string }).code)).toEqual(idleFailures.map(() => '57P01'));

      // The shared read model equals a fresh rebuild from the events.
      await checkpointReachesHead(events, readModel, RECOVERY_MS);
      expect(await readModel.snapshot()).toEqual(await rebuiltSnapshot(events));
    },
  );
});

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
