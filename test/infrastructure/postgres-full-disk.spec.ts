// A full disk under the PostgreSQL store, for real: the schema's tables and indexes are moved into a
// tablespace on a small tmpfs, which a filler table then fills until PostgreSQL itself answers
// "could not extend file …: No space left on device" (SQLSTATE 53100). Only the data files cannot
// grow: the WAL stays on the server's main disk, so this is the data volume (or a tablespace) running
// full, not pg_wal (that stops PostgreSQL: a restart, which postgres-dropped-connections.spec.ts covers).
// Needs root (mount), a superuser on TEST_DATABASE_URL (CREATE TABLESPACE) and a server on this
// machine (it must see the mount); skips, saying which, without them.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmdirSync, statSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  AddSmtpConfigUseCase,
  AesGcmEncryptor,
  DomainError,
  ErrorIds,
  ErrorKind,
  InMemoryProjectionStore,
  INSTANCE_STREAM_PREFIX,
  instanceStreamId,
  PostgresEventStore,
  PostgresProjectionStore,
  ProjectionRunner,
  projectEvent,
  RoleBasedPermissionChecker,
  SetUpInstanceUseCase,
  SystemClock,
  type EventStore,
  type GlobalPosition,
  type ProjectionStore,
} from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';
import { owner, rebuiltSnapshot, seedRequest, SequentialIds, testKeyRing } from '../support/fixtures.js';
import { send, startTestServer, type HttpResponse, type TestServer } from '../support/http-server.js';

const EVENT_TABLES = ['events'] as const;
const READ_MODEL_TABLES = ['projection_checkpoints', 'instances', 'instance_domains', 'smtp_configs'] as const;
/** The tmpfs: room for the schema and a few hundred events; the filler takes the rest. */
const TMPFS_SIZE = '8m';
/** What the client is told on a full disk: the cause, and that it may try again. */
const DISK_FULL_MESSAGE = /out of disk space.*nothing was saved, try again later/;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits (polling, up to `timeoutMs`) until `predicate` holds; fails with `what` otherwise. A bound on a hang, not a timing assertion. */
const eventually = async (what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(50);
  }
};

const codeOf = (error: unknown) => (typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '');

/** The read model as a runner alone makes it of `events` up to `checkpoint` (the whole log when undefined), from nothing. */
const rebuiltUpTo = async (events: EventStore, checkpoint: GlobalPosition | undefined): Promise<unknown> => {
  if (!checkpoint) return rebuiltSnapshot(events);
  const fresh = new InMemoryProjectionStore();
  const abort = new AbortController();
  for await (const item of events.subscribeToAll({ streamPrefixes: [INSTANCE_STREAM_PREFIX], signal: abort.signal })) {
    if (item.kind === 'caught-up') break;
    if (item.kind === 'event' && item.event.position.commit <= checkpoint.commit) await fresh.apply(projectEvent(item.event), item.event.position);
  }
  abort.abort();
  await fresh.saveCheckpoint(checkpoint);
  return fresh.snapshot();
};

describe.skipIf(postgresSkipReason !== undefined)('PostgreSQL on a full disk (the schema in a tablespace on a small tmpfs)', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  /** Undoes everything, each step even when one before it failed; then fails if any did (a tablespace or mount left behind must be seen). */
  const runCleanup = async () => {
    const failed: unknown[] = [];
    for (const c of cleanup.splice(0).reverse()) await Promise.resolve(c()).catch((e: unknown) => failed.push(e));
    if (failed.length > 0) throw new AggregateError(failed, `cleanup failed: ${failed.map(String).join('; ')}`);
  };
  afterEach(runCleanup, 60_000);
  afterAll(runCleanup, 60_000);

  /**
   * A fresh schema, migrated, with the given tables and their indexes moved into a tablespace of
   * their own on a fresh tmpfs; or a skip that says why it cannot be done here. Everything (schema,
   * tablespace, mount) goes in the cleanup, in the order that undoes it.
   */
  const schemaOnSmallDisk = async (ctx: { skip: (note?: string) => never }, tables: readonly string[]) => {
    if (process.getuid?.() !== 0) ctx.skip('needs root to mount a tmpfs for the tablespace; run as root (CI does)');
    const admin = new pg.Client({ connectionString: testDatabaseUrl });
    await admin.connect();
    cleanup.push(() => admin.end());
    const { rows: [server] } = await admin.query<{ superuser: boolean; dataDirectory: string | null }>(
      `SELECT rolsuper AS superuser, CASE WHEN rolsuper THEN current_setting('data_directory') END AS "dataDirectory" FROM pg_roles WHERE rolname = current_user`,
    );
    if (!server!.superuser) ctx.skip('CREATE TABLESPACE needs a superuser; the user of TEST_DATABASE_URL is not one');
    // The tablespace must be on a file system the database server sees: this machine's.
    if (!server!.dataDirectory || !existsSync(server!.dataDirectory)) {
      ctx.skip(`the PostgreSQL server is not on this machine (its data directory ${server!.dataDirectory} is not here), so it cannot see a tmpfs mounted here`);
    }
    const dataDirectory = statSync(server!.dataDirectory!);

    // Undone backwards: the schema (its tables are in the tablespace), then the tablespace, then the mount.
    const mountPoint = mkdtempSync(join(tmpdir(), 'smtp-pgfull-'));
    const isMounted = () => readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mountPoint);
    cleanup.push(() => {
      if (isMounted() && spawnSync('umount', [mountPoint]).status !== 0) spawnSync('umount', ['-l', mountPoint]);
      if (isMounted()) throw new Error(`could not unmount ${mountPoint}`);
      // Not recursive: an empty mount point is all there should be (never the tablespace's files under a live server).
      rmdirSync(mountPoint);
    });
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700,uid=${dataDirectory.uid},gid=${dataDirectory.gid}`, 'tmpfs', mountPoint], {
      encoding: 'utf8',
    });
    if (mounted.status !== 0) ctx.skip(`cannot mount a tmpfs here (exit ${mounted.status}): ${mounted.stderr.trim() || mounted.error?.message}`);
    // Named after the schema, which is unique per run, so parallel runs never collide.
    const db = await freshPostgresSchema(4);
    const tablespace = `full_${db.schema}`;
    await admin.query(`CREATE TABLESPACE ${tablespace} LOCATION '${mountPoint}'`);
    cleanup.push(() => admin.query(`DROP TABLESPACE IF EXISTS ${tablespace}`).then(() => undefined));
    cleanup.push(() => db.drop());

    const events = await PostgresEventStore.open(db.pool, { schema: db.schema, pollIntervalMs: 50 });
    cleanup.push(() => events.close());
    const readModel = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
    for (const table of tables) {
      await db.pool.query(`ALTER TABLE ${db.schema}.${table} SET TABLESPACE ${tablespace}`);
      const { rows } = await db.pool.query<{ name: string }>(`SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = $1::regclass`, [`${db.schema}.${table}`]);
      for (const { name } of rows) await db.pool.query(`ALTER INDEX ${name} SET TABLESPACE ${tablespace}`);
    }
    // The premise: exactly these tables and every index of theirs live on the small disk.
    const { rows: placed } = await db.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_tablespace t ON t.oid = c.reltablespace
        WHERE n.nspname = $1 AND t.spcname = $2 AND c.relkind = 'r' ORDER BY 1`,
      [db.schema, tablespace],
    );
    expect(placed.map((r) => r.name)).toEqual([...tables].sort());
    const { rows: [elsewhere] } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = $1 AND t.relname = ANY($2::text[]) AND c.reltablespace <> (SELECT oid FROM pg_tablespace WHERE spcname = $3)`,
      [db.schema, tables, tablespace],
    );
    expect(elsewhere!.n, 'indexes of the moved tables left on the main disk').toBe(0);

    const bytesFree = () => {
      const s = statfsSync(mountPoint);
      return s.bavail * s.bsize;
    };
    const filler = `${db.schema}.filler`;
    return {
      db,
      events,
      readModel,
      tablespace,
      bytesFree,
      /**
       * Fills the tmpfs with a table of its own in the tablespace, 64 pages at a time, until
       * PostgreSQL cannot extend it; what is left is less than a page. (No autovacuum on the filler:
       * a vacuum would truncate its empty tail and hand space back.)
       */
      async fill() {
        await db.pool.query(`CREATE TABLE ${filler} (b bytea) WITH (autovacuum_enabled = false, vacuum_truncate = false) TABLESPACE ${tablespace}`);
        await db.pool.query(`ALTER TABLE ${filler} ALTER COLUMN b SET STORAGE PLAIN`);
        for (let round = 0; ; round++) {
          expect(round, 'the tablespace never filled up').toBeLessThan(200);
          try {
            await db.pool.query(`INSERT INTO ${filler} SELECT decode(repeat('00', 7000), 'hex') FROM generate_series(1, 64)`);
          } catch (error) {
            expect(codeOf(error), String(error)).toBe('53100');
            break;
          }
        }
        expect(bytesFree()).toBeLessThan(8192);
      },
      /** Frees the space again, as an operator would (here: the filler goes; its files are truncated at commit). */
      async free() {
        await db.pool.query(`DROP TABLE ${filler}`);
        expect(bytesFree()).toBeGreaterThan(1024 * 1024);
      },
    };
  };

  interface Instance {
    readonly id: string;
    readonly domain: string;
    readonly token: string;
  }

  /** The server as `npm start` wires it on DATABASE_URL, in-process, on the prepared schema, with `n` instances set up. */
  const serverOn = async (schema: string, n: number) => {
    const server = await startTestServer({ DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: schema, DATABASE_POOL_SIZE: '4' });
    cleanup.push(() => server.close());
    const instances: Instance[] = [];
    for (let i = 0; i < n; i++) {
      const domain = `full${i}.example.com`;
      const id = await server.newInstance(domain);
      instances.push({ id, domain, token: await server.token({ instanceId: id, roles: ['IAM_OWNER'] }) });
    }
    const port = new URL(server.url).port;
    const post = (instance: Instance): Promise<HttpResponse> => server.post(seedRequest, { host: `${instance.domain}:${port}`, token: instance.token });
    const get = (instance: Instance, id: string): Promise<HttpResponse> =>
      send(server.url, { path: `/admin/v1/smtp/${id}`, host: `${instance.domain}:${port}`, headers: { authorization: `Bearer ${instance.token}` } });
    return { server, instances, post, get };
  };

  /** The SMTP configurations stored as events, by instance id. */
  const storedConfigs = async (db: { pool: pg.Pool; schema: string }): Promise<Map<string, string[]>> => {
    const { rows } = await db.pool.query<{ stream_id: string; id: string }>(
      `SELECT stream_id, data->>'id' AS id FROM ${db.schema}.events WHERE type = 'instance.smtp.config.added' ORDER BY position`,
    );
    const byStream = new Map<string, string[]>();
    for (const r of rows) byStream.set(r.stream_id, [...(byStream.get(r.stream_id) ?? []), r.id]);
    return byStream;
  };

  /** 503 / code 14 in the API's error body, naming the full disk; not a 500, no stack. */
  const expectDiskFullAnswer = (res: HttpResponse) => {
    expect({ status: res.status, code: res.json?.code }, res.text).toEqual({ status: 503, code: 14 });
    expect(res.json).toEqual({
      code: 14,
      message: expect.stringMatching(DISK_FULL_MESSAGE),
      details: [{ '@type': 'type.googleapis.com/zitadel.v1.ErrorDetail', id: ErrorIds.StoreUnavailable, message: expect.stringMatching(DISK_FULL_MESSAGE) }],
    });
    expect(res.text).not.toMatch(/ at |pg_tblspc|\.ts:|\.js:/);
  };

  /**
   * POSTs to one instance after another until one is refused (the pages that still had room fill
   * first). Every 200 is recorded as acknowledged; the refusal must be the full-disk answer.
   */
  const postUntilRefused = async (post: (i: Instance) => Promise<HttpResponse>, instances: readonly Instance[], acknowledged: Map<Instance, string>) => {
    for (const instance of instances) {
      const res = await post(instance);
      if (res.status === 200) {
        acknowledged.set(instance, res.json.id as string);
        continue;
      }
      expectDiskFullAnswer(res);
      return instance;
    }
    throw new Error(`the disk never refused a POST (${instances.length} sent)`);
  };

  /** Every acknowledged configuration is served, and stored once, in its instance's stream; nothing else is stored. */
  const expectExactlyAcknowledged = async (
    db: { pool: pg.Pool; schema: string },
    get: (i: Instance, id: string) => Promise<HttpResponse>,
    acknowledged: ReadonlyMap<Instance, string>,
  ) => {
    const served = await Promise.all([...acknowledged].map(async ([instance, id]) => ({ id, res: await get(instance, id) })));
    expect(served.filter(({ id, res }) => res.status !== 200 || res.json?.smtpConfig?.id !== id).map(({ res }) => res.text)).toEqual([]);
    const stored = await storedConfigs(db);
    expect(new Map([...stored].filter(([stream]) => stream.startsWith(INSTANCE_STREAM_PREFIX)))).toEqual(
      new Map([...acknowledged].map(([instance, id]) => [instanceStreamId(instance.id), [id]])),
    );
  };

  /** Events, read model and checkpoint agree: the checkpoint at the log's head, the rows a rebuild's. */
  const expectReadModelWhole = async (events: EventStore, readModel: ProjectionStore) => {
    const head = await events.headPosition();
    await eventually('the checkpoint reaching the head', async () => (await readModel.checkpoint())?.commit === head?.commit);
    expect(await readModel.snapshot()).toEqual(await rebuiltSnapshot(events));
  };

  /**
   * No 500 in the server's log, and each refusal logged for the operator as a warning: the reason,
   * and PostgreSQL's own error (the file it could not extend, its hint), which the client is not shown.
   */
  const expectLoggedForTheOperator = (server: TestServer, refusals: number) => {
    const lines = server.logs.map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string; err?: { code?: string; message?: string; hint?: string }; res?: { statusCode?: number } });
    expect(lines.filter((l) => l.res?.statusCode === 500 || l.msg === 'request failed')).toEqual([]);
    const faults = lines.filter((l) => l.msg === 'request failed: the store cannot take it');
    expect(faults).toHaveLength(refusals);
    expect(faults).toEqual(
      faults.map(() =>
        expect.objectContaining({
          level: 40,
          reason: expect.stringMatching(DISK_FULL_MESSAGE),
          err: expect.objectContaining({ code: '53100', message: expect.stringMatching(/could not extend file .*No space left on device/), hint: 'Check free disk space.' }),
        }),
      ),
    );
  };

  it(
    'when the events and the read model cannot grow, a POST answers 503 / code 14 naming the full disk and stores nothing; earlier 200s stay; once there is room the same server answers 200 and the read model equals a rebuild',
    { timeout: 60_000 },
    async (ctx) => {
      const disk = await schemaOnSmallDisk(ctx, [...EVENT_TABLES, ...READ_MODEL_TABLES]);
      const { server, instances, post, get } = await serverOn(disk.db.schema, 100);
      const acknowledged = new Map<Instance, string>();
      // Acknowledged before the disk fills: they must survive everything that follows.
      for (const instance of instances.slice(0, 2)) {
        const res = await post(instance);
        expect(res.status, res.text).toBe(200);
        acknowledged.set(instance, res.json.id as string);
      }

      await disk.fill();
      const refused = await postUntilRefused(post, instances.slice(2), acknowledged);
      // Another try is refused alike; so is (or is stored whole) each of eight at once, which go in
      // group-commit transactions together.
      expectDiskFullAnswer(await post(refused));
      const wave = instances.slice(instances.indexOf(refused) + 1, instances.indexOf(refused) + 9);
      expect(wave).toHaveLength(8);
      const answers = await Promise.all(wave.map((instance) => post(instance)));
      answers.forEach((res, k) => (res.status === 200 ? acknowledged.set(wave[k]!, res.json.id as string) : expectDiskFullAnswer(res)));
      const refusals = 2 + answers.filter((res) => res.status !== 200).length;
      // While the disk is still full: nothing half-written, every 200 readable.
      await expectExactlyAcknowledged(disk.db, get, acknowledged);
      await expectReadModelWhole(disk.events, disk.readModel);
      expect((await storedConfigs(disk.db)).get(instanceStreamId(refused.id))).toBeUndefined();

      await disk.free();
      const again = await post(refused);
      expect(again.status, again.text).toBe(200);
      acknowledged.set(refused, again.json.id as string);
      await expectExactlyAcknowledged(disk.db, get, acknowledged);
      await expectReadModelWhole(disk.events, disk.readModel);
      expectLoggedForTheOperator(server, refusals);
    },
  );

  it(
    'when only the read model cannot grow, an inline POST fails as a whole (no event without its rows) with 503 / code 14; once there is room it answers 200',
    { timeout: 60_000 },
    async (ctx) => {
      const disk = await schemaOnSmallDisk(ctx, READ_MODEL_TABLES);
      const { server, instances, post, get } = await serverOn(disk.db.schema, 100);
      const acknowledged = new Map<Instance, string>();
      const before = await post(instances[0]!);
      expect(before.status, before.text).toBe(200);
      acknowledged.set(instances[0]!, before.json.id as string);

      await disk.fill();
      const refused = await postUntilRefused(post, instances.slice(1), acknowledged);
      // The events had room: the refusal came from the read-model rows in the same transaction.
      await expectExactlyAcknowledged(disk.db, get, acknowledged);
      await expectReadModelWhole(disk.events, disk.readModel);

      await disk.free();
      const again = await post(refused);
      expect(again.status, again.text).toBe(200);
      acknowledged.set(refused, again.json.id as string);
      await expectExactlyAcknowledged(disk.db, get, acknowledged);
      await expectReadModelWhole(disk.events, disk.readModel);
      expectLoggedForTheOperator(server, 1);
    },
  );

  it(
    'when only the read model cannot grow under the projection runner, appends are acknowledged, the runner stops at the last batch it could write and retries, skipping nothing, once there is room',
    { timeout: 60_000 },
    async (ctx) => {
      const disk = await schemaOnSmallDisk(ctx, READ_MODEL_TABLES);
      const { events, readModel } = disk;
      const errors: unknown[] = [];
      const runner = new ProjectionRunner(events, readModel, {
        handler: projectEvent,
        streamPrefixes: [INSTANCE_STREAM_PREFIX],
        maxBackoffMs: 200,
        onError: (error) => errors.push(error),
      });
      runner.start();
      cleanup.push(() => runner.stop());
      const clock = new SystemClock();
      const setUp = new SetUpInstanceUseCase({ events, clock, ids: new SequentialIds() });
      const add = new AddSmtpConfigUseCase({
        events,
        queries: readModel,
        projection: runner,
        clock,
        ids: new SequentialIds(79629023906488334n),
        encryptor: new AesGcmEncryptor(testKeyRing()),
        permissions: new RoleBasedPermissionChecker(),
        projectionTimeoutMs: 300,
      });
      const first = await setUp.execute({ name: 'before', domains: ['before.example.com'] });
      await runner.waitFor(first.position, 10_000);

      await disk.fill();
      // Appends go on (the events are on the main disk) until the runner has failed to write a batch.
      let appended = 0;
      while (errors.length === 0) {
        expect(appended, 'the runner never failed: the read model never ran out of space').toBeLessThan(500);
        await setUp.execute({ name: `while-full-${appended}`, domains: [`while-full-${appended++}.example.com`] });
        await sleep(5);
      }
      const failure = errors[0] as DomainError;
      expect(failure).toBeInstanceOf(DomainError);
      expect(failure).toMatchObject({ kind: ErrorKind.Unavailable, id: ErrorIds.StoreUnavailable });
      expect(failure.message).toMatch(DISK_FULL_MESSAGE);
      expect(codeOf(failure.cause)).toBe('53100');
      // The runner keeps trying and gets nowhere: it has neither skipped the batch nor stopped for good.
      const stuckAt = await readModel.checkpoint();
      const failuresSoFar = errors.length;
      await eventually('the runner trying again', () => errors.length > failuresSoFar + 1);
      expect(await readModel.checkpoint()).toEqual(stuckAt);
      expect(runner.running).toBe(true);
      expect(runner.failure).toBeUndefined();
      expect(stuckAt!.commit).toBeLessThan((await events.headPosition())!.commit);
      // What it did write is a prefix of the log, exactly as a rebuild up to there.
      expect(await readModel.snapshot()).toEqual(await rebuiltUpTo(events, stuckAt));

      // A command still answers 200 from its stored event (it is on disk), after waiting for the read model in vain.
      const added = await add.execute({ principal: owner(first.instanceId), instanceId: first.instanceId, body: seedRequest });
      expect((await storedConfigs(disk.db)).get(instanceStreamId(first.instanceId))).toEqual([added.id]);

      await disk.free();
      await expectReadModelWhole(events, readModel);
      expect(await readModel.smtpConfigById(first.instanceId, added.id)).toMatchObject({ id: added.id });
      expect(runner.failure).toBeUndefined();
    },
  );
});
