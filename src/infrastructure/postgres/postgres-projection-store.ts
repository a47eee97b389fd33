import type pg from 'pg';
import {
  comparePositions,
  patchedSmtpConfig,
  readModelSnapshot,
  type GlobalPosition,
  type InstanceView,
  type PositionedChanges,
  type ProjectionStore,
  type ReadModelChange,
  type SmtpConfigView,
} from '../../application/index.js';
import { ProjectedRows } from '../sql/projected-rows.js';
import { StoreFileError } from '../sqlite/store-file-error.js';
import { codeOf, isPgDataError, pgCanHoldKey, pgStoreError } from './errors.js';
import { withPoolClient } from './pool-client.js';
import { ReadBatcher } from './read-batcher.js';
import { channelName } from './live-feed.js';
import { applyMigrations, migratePostgres, migrationLockKey, schemaIdentifier } from './migrate.js';
import { pgApplyChanges } from './migrations/0004-apply-changes.js';
import { pgReadModelMigrations, pgReadModelSchema } from './migrations/0002-read-model.js';

interface InstanceRow {
  id: string;
  name: string;
  domains: string[];
  sequence: string;
  creation_date: string;
}

interface SmtpConfigRow {
  instance_id: string;
  id: string;
  sender_address: string;
  sender_name: string;
  tls: boolean;
  host: string;
  user: string;
  reply_to_address: string;
  description: string;
  has_password: boolean;
  sequence: string;
  creation_date: string;
  change_date: string;
  resource_owner: string;
}

const toInstance = (r: InstanceRow): InstanceView => ({ id: r.id, name: r.name, domains: r.domains, sequence: BigInt(r.sequence), creationDate: r.creation_date });

const toSmtpConfig = (r: SmtpConfigRow): SmtpConfigView => ({
  instanceId: r.instance_id,
  id: r.id,
  senderAddress: r.sender_address,
  senderName: r.sender_name,
  tls: r.tls,
  host: r.host,
  user: r.user,
  replyToAddress: r.reply_to_address,
  description: r.description,
  hasPassword: r.has_password,
  sequence: BigInt(r.sequence),
  creationDate: r.creation_date,
  changeDate: r.change_date,
  resourceOwner: r.resource_owner,
});

const SMTP_COLUMNS =
  'instance_id, id, sender_address, sender_name, tls, host, "user", reply_to_address, description, has_password, sequence, creation_date, change_date, resource_owner';

/** The read model's tables with the columns its statements use (see damage), in the order a replacement drops them. */
const READ_MODEL_TABLES: readonly (readonly [string, string])[] = [
  ['smtp_configs', SMTP_COLUMNS],
  ['instance_domains', 'domain, instance_id'],
  ['instances', 'id, name, domains, sequence, creation_date'],
  ['projection_checkpoints', 'projection, commit_position, prepare_position'],
];
/**
 * The type (as format_type writes it) of each column its schema step makes that is not `text`: a
 * column whose type was changed by hand would be read back as another kind of value ('false', a
 * string, where a boolean is expected), and adopting a rebuilt read model keeps the type it finds.
 */
const NON_TEXT_COLUMNS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  smtp_configs: { tls: 'boolean', has_password: 'boolean', sequence: 'bigint' },
  instance_domains: {},
  instances: { domains: 'jsonb', sequence: 'bigint' },
  projection_checkpoints: { commit_position: 'numeric(20,0)', prepare_position: 'numeric(20,0)' },
};
const APPLY_CHANGES = 'apply_read_model_changes(json)';

/**
 * The rows of the read model in schema `from` into the same (empty) tables in `to`, column by
 * column by name: a table whose columns stand in another order (a column dropped and added again
 * by hand goes last) would otherwise get each value in its neighbour's column, silently where the
 * types agree (creation_date, change_date, resource_owner are all text).
 */
const copyRows = async (client: pg.PoolClient, from: string, to: string): Promise<void> => {
  for (const [table, columns] of READ_MODEL_TABLES) {
    if (table === 'projection_checkpoints') continue;
    await client.query(`INSERT INTO ${to}.${table} (${columns}) SELECT ${columns} FROM ${from}.${table}`);
  }
};

/**
 * The read model in PostgreSQL. A batch is one transaction that locks the projection's checkpoint
 * row, skips what is already applied, writes the rows with a few set-based statements (one per
 * kind of change, so catching up costs a handful of round trips per 500 events), moves the
 * checkpoint and notifies `<schema>_checkpoint`, so that replicas waiting for read-your-writes wake.
 * Two writers (a replica that has just lost the projection lock, a tool) therefore never apply an
 * event twice or out of order.
 */
export class PostgresProjectionStore implements ProjectionStore {
  private readonly s: string;
  private readonly configReads = new ReadBatcher<readonly [string, string], SmtpConfigView | undefined>((keys) => this.smtpConfigsById(keys), 2, 500, isPgDataError);
  private readonly domainReads = new ReadBatcher<string, InstanceView | undefined>((domains) => this.instancesByDomain(domains), 2, 500, isPgDataError);
  /** Configuration rows an inline projection in this process wrote, by the append that wrote them (see takeSmtpConfigProjectedAt). */
  private readonly projectedRows = new ProjectedRows();

  private constructor(
    private readonly pool: pg.Pool,
    schema: string,
    private readonly projection: string,
  ) {
    this.s = schemaIdentifier(schema);
  }

  static async open(pool: pg.Pool, options: { schema?: string; projection?: string } = {}): Promise<PostgresProjectionStore> {
    const store = new PostgresProjectionStore(pool, options.schema ?? 'smtp_config', options.projection ?? 'smtp-config');
    await migratePostgres(pool, store.s, 'read-model', pgReadModelMigrations);
    // The checkpoint row exists from the start (-1: nothing applied), so every batch can lock it.
    await store.query(`INSERT INTO ${store.s}.projection_checkpoints (projection, commit_position, prepare_position) VALUES ($1, -1, -1) ON CONFLICT DO NOTHING`, [
      store.projection,
    ]);
    return store;
  }

  /**
   * The read model in `schema` as it stands, neither migrated nor written: for {@link damage} and
   * {@link replaceDamaged}, as one whose tables were dropped or altered cannot be opened.
   */
  static attach(pool: pg.Pool, options: { schema?: string; projection?: string } = {}): PostgresProjectionStore {
    return new PostgresProjectionStore(pool, options.schema ?? 'smtp_config', options.projection ?? 'smtp-config');
  }

  /**
   * What makes this read model unusable although its schema steps are recorded as applied (so that
   * opening it would not make it again): a table dropped, a column it reads gone, a primary key
   * (which its upserts need) dropped, its inline-projection function dropped. Undefined when there
   * is nothing of the sort, or when the read model was never made (opening it makes it). A column
   * whose type was changed is damage too (see NON_TEXT_COLUMNS).
   */
  async damage(): Promise<string | undefined> {
    // A schema without schema_migrations (a new one, beside events in EventStoreDB) has nothing yet.
    const made = await this.pool.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [`${this.s}.schema_migrations`]);
    if (!made.rows[0]!.exists) return undefined;
    const recorded = await this.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${this.s}.schema_migrations WHERE component = 'read-model'`,
    );
    if (recorded.rows[0]!.n === 0) return undefined;
    const problems: string[] = [];
    for (const [table, columns] of READ_MODEL_TABLES) {
      const name = `${this.s}.${table}`;
      const { rows } = await this.pool.query<{ exists: boolean; keyed: boolean }>(
        `SELECT to_regclass($1) IS NOT NULL AS exists,
                EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p') AS keyed`,
        [name],
      );
      if (!rows[0]!.exists) {
        problems.push(`the table ${name} is missing`);
        continue;
      }
      try {
        await this.pool.query(`SELECT ${columns} FROM ${name} LIMIT 0`);
      } catch (error) {
        if (codeOf(error) !== '42703') throw error; // undefined_column
        problems.push(`the table ${name}: ${(error as Error).message}`);
        continue;
      }
      if (!rows[0]!.keyed) problems.push(`the table ${name} has lost its primary key`);
      const types = await this.pool.query<{ column: string; type: string }>(
        `SELECT attname AS column, format_type(atttypid, atttypmod) AS type FROM pg_attribute
         WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped AND attname = ANY($2::text[])`,
        [name, columns.split(', ').map((c) => c.replaceAll('"', ''))],
      );
      for (const { column, type } of types.rows) {
        const expected = NON_TEXT_COLUMNS[table]![column] ?? 'text';
        if (type !== expected) problems.push(`the table ${name}: column "${column}" is of type ${type}, not ${expected}`);
      }
    }
    const fn = await this.pool.query<{ exists: boolean }>('SELECT to_regprocedure($1) IS NOT NULL AS exists', [`${this.s}.${APPLY_CHANGES}`]);
    if (!fn.rows[0]!.exists) problems.push(`the function ${this.s}.${APPLY_CHANGES} is missing`);
    return problems.length > 0 ? problems.join('; ') : undefined;
  }

  /**
   * {@link adopt} for a damaged read model (see {@link damage}): in one transaction, under the
   * migration lock, drops the read model's tables that are left, makes them again by their schema
   * step (and the inline-projection function, if it is gone), and fills them with `shadow`'s rows
   * and checkpoint. The live checkpoint, while its table can still be read, is locked and compared
   * as adopt does: false, changing nothing, while it is ahead of the shadow (a replica's runner
   * that applied it would otherwise skip what lies in between). When it cannot be read, no writer
   * can have moved it since it became unreadable, so the shadow, caught up after that, is not behind
   * any of them. Other projections' checkpoint rows are kept.
   */
  async replaceDamaged(shadow: PostgresProjectionStore): Promise<boolean> {
    return this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [migrationLockKey(this.s)]);
      const cp = `SELECT commit_position::text AS c, prepare_position::text AS p FROM %s.projection_checkpoints WHERE projection = $1`;
      let live: { c: string; p: string } | undefined;
      let others: { projection: string; c: string; p: string }[] = [];
      await client.query('SAVEPOINT live_checkpoint');
      try {
        live = (await client.query<{ c: string; p: string }>(`${cp.replace('%s', this.s)} FOR UPDATE`, [this.projection])).rows[0];
        others = (
          await client.query<{ projection: string; c: string; p: string }>(
            `SELECT projection, commit_position::text AS c, prepare_position::text AS p FROM ${this.s}.projection_checkpoints WHERE projection <> $1`,
            [this.projection],
          )
        ).rows;
        await client.query('RELEASE SAVEPOINT live_checkpoint');
      } catch (error) {
        // Only a table or column that is not there makes it unreadable; anything else stops the switch.
        if (!['42P01', '42703'].includes(codeOf(error))) throw error;
        await client.query('ROLLBACK TO SAVEPOINT live_checkpoint');
      }
      const rebuilt = (await client.query<{ c: string; p: string }>(cp.replace('%s', shadow.s), [this.projection])).rows[0] ?? { c: '-1', p: '-1' };
      if (live && BigInt(live.c) >= 0n && comparePositions({ commit: BigInt(live.c), prepare: BigInt(live.p) }, { commit: BigInt(rebuilt.c), prepare: BigInt(rebuilt.p) }) > 0) return false;
      await this.refuseLostInstances(client, shadow);
      await client.query(`DROP TABLE IF EXISTS ${READ_MODEL_TABLES.map(([table]) => `${this.s}.${table}`).join(', ')}`);
      const steps = [pgReadModelSchema.version];
      const fn = await client.query<{ exists: boolean }>('SELECT to_regprocedure($1) IS NOT NULL AS exists', [`${this.s}.${APPLY_CHANGES}`]);
      if (!fn.rows[0]!.exists) steps.push(pgApplyChanges.version);
      await client.query(`DELETE FROM ${this.s}.schema_migrations WHERE component = 'read-model' AND version = ANY($1::int[])`, [steps]);
      await applyMigrations(client, this.s, 'read-model', pgReadModelMigrations);
      await client.query(
        `INSERT INTO ${this.s}.projection_checkpoints (projection, commit_position, prepare_position)
         SELECT * FROM unnest($1::text[], $2::numeric[], $3::numeric[])`,
        [[this.projection, ...others.map((o) => o.projection)], [rebuilt.c, ...others.map((o) => o.c)], [rebuilt.p, ...others.map((o) => o.p)]],
      );
      await copyRows(client, shadow.s, this.s);
      if (BigInt(rebuilt.c) >= 0n) await client.query('SELECT pg_notify($1, $2)', [this.checkpointChannel, `${rebuilt.c}/${rebuilt.p}`]);
      return true;
    });
  }

  /**
   * Instances are never removed from a read model: one that the live read model holds (while its
   * instances table can be read) and the rebuilt `shadow` does not came from events that are no
   * longer there. Replacing would then throw away the last trace of them, which refuseReadModelAhead
   * cannot see when the checkpoint is what was dropped: stop, as it does.
   */
  private async refuseLostInstances(client: pg.PoolClient, shadow: PostgresProjectionStore): Promise<void> {
    let lost: string | undefined;
    await client.query('SAVEPOINT live_instances');
    try {
      lost = (
        await client.query<{ id: string }>(
          `SELECT l.id FROM ${this.s}.instances l WHERE NOT EXISTS (SELECT 1 FROM ${shadow.s}.instances s WHERE s.id = l.id) LIMIT 1`,
        )
      ).rows[0]?.id;
      await client.query('RELEASE SAVEPOINT live_instances');
    } catch (error) {
      if (!['42P01', '42703'].includes(codeOf(error))) throw error;
      await client.query('ROLLBACK TO SAVEPOINT live_instances');
    }
    if (lost === undefined) return;
    throw new StoreFileError(
      `schema ${this.s} (read-model)`,
      `the read model in the schema ${this.s} holds the instance ${lost}, which a rebuild from the events does not: the events were replaced, emptied or lost, and the damaged read model was left as it is. ` +
        'Restore the events from a backup; if starting over was intended, drop the read model tables too.',
    );
  }

  /** The channel on which every applied batch is announced. */
  get checkpointChannel(): string {
    return channelName(this.s, 'checkpoint');
  }

  async checkpoint(): Promise<GlobalPosition | undefined> {
    const rows = await this.query<{ c: string; p: string }>(
      `SELECT commit_position::text AS c, prepare_position::text AS p FROM ${this.s}.projection_checkpoints WHERE projection = $1 AND commit_position >= 0`,
      [this.projection],
    );
    return rows[0] && { commit: BigInt(rows[0].c), prepare: BigInt(rows[0].p) };
  }

  async apply(changes: readonly ReadModelChange[], position: GlobalPosition): Promise<void> {
    return this.applyBatch([{ changes, position }]);
  }

  async saveCheckpoint(position: GlobalPosition): Promise<void> {
    return this.applyBatch([{ changes: [], position }]);
  }

  async applyBatch(batch: readonly PositionedChanges[]): Promise<void> {
    if (batch.length === 0) return;
    // Events an inline projection has already applied (see PostgresEventStore.projectInline): one
    // read, no transaction. The checkpoint only moves forward (a reset aside, which a runner does
    // only while stopped), so a batch at or below it has nothing left to do.
    let top = batch[0]!.position;
    for (const entry of batch) if (comparePositions(entry.position, top) > 0) top = entry.position;
    const now = await this.checkpoint();
    if (now && comparePositions(top, now) <= 0) return;
    await this.transaction(async (client) => {
      const { rows } = await client.query<{ c: string; p: string }>(
        `SELECT commit_position::text AS c, prepare_position::text AS p FROM ${this.s}.projection_checkpoints WHERE projection = $1 FOR UPDATE`,
        [this.projection],
      );
      let at: GlobalPosition | undefined = rows[0]!.c === '-1' ? undefined : { commit: BigInt(rows[0]!.c), prepare: BigInt(rows[0]!.p) };
      const changes: ReadModelChange[] = [];
      for (const entry of batch) {
        if (at && comparePositions(entry.position, at) <= 0) continue;
        changes.push(...entry.changes);
        at = entry.position;
      }
      if (!at) return;
      await this.write(client, changes);
      await client.query(
        `WITH moved AS (UPDATE ${this.s}.projection_checkpoints SET commit_position = $2, prepare_position = $3 WHERE projection = $1 RETURNING 1)
         SELECT pg_notify($4, $5) FROM moved`,
        [this.projection, at.commit.toString(), at.prepare.toString(), this.checkpointChannel, `${at.commit}/${at.prepare}`],
      );
    }, true);
  }

  /**
   * The batch's changes, set-based. Changes of one kind are applied in their order (the last one
   * for a key wins); the kinds are applied instances first, then domains, then configurations, which
   * is the order the projection produces them in within any instance's stream.
   */
  private async write(client: pg.PoolClient, changes: readonly ReadModelChange[]): Promise<void> {
    const instances = new Map<string, InstanceView>();
    const domainAdds: { instanceId: string; domain: string; sequence: bigint }[] = [];
    const configChanges: Exclude<ReadModelChange, { kind: 'upsertInstance' | 'addInstanceDomain' }>[] = [];
    for (const c of changes) {
      if (c.kind === 'upsertInstance') instances.set(c.instance.id, c.instance);
      else if (c.kind === 'addInstanceDomain') domainAdds.push(c);
      else configChanges.push(c);
    }
    // Instances this batch adds are written with the domains it adds to them, in one statement (a
    // row that exists already keeps its domains, and gets the new ones after them, in order). Domains
    // added to instances from earlier batches are read, merged and written back.
    const fresh = new Map<string, { domains: string[]; sequence: bigint }>();
    for (const [id, instance] of instances) fresh.set(id, { domains: [], sequence: instance.sequence });
    // The instances that hold each domain added: decided below, once it is known which instances exist.
    const existing = new Set<string>(fresh.keys());
    const laterAdds: typeof domainAdds = [];
    for (const add of domainAdds) {
      const instance = fresh.get(add.instanceId);
      if (!instance) {
        laterAdds.push(add);
        continue;
      }
      if (!instance.domains.includes(add.domain)) instance.domains.push(add.domain);
      instance.sequence = add.sequence;
    }
    if (instances.size > 0) {
      const list = [...instances.values()];
      await client.query(
        `INSERT INTO ${this.s}.instances AS i (id, name, domains, sequence, creation_date)
         SELECT u.id, u.name, u.domains::jsonb, u.sequence, u.creation_date
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) AS u(id, name, domains, sequence, creation_date)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, sequence = excluded.sequence, creation_date = excluded.creation_date,
           domains = i.domains || coalesce((SELECT jsonb_agg(d.v ORDER BY d.k) FROM jsonb_array_elements(excluded.domains) WITH ORDINALITY AS d(v, k)
                                            WHERE NOT i.domains @> jsonb_build_array(d.v)), '[]'::jsonb)`,
        [
          list.map((i) => i.id),
          list.map((i) => i.name),
          list.map((i) => JSON.stringify(fresh.get(i.id)!.domains)),
          list.map((i) => fresh.get(i.id)!.sequence.toString()),
          list.map((i) => i.creationDate),
        ],
      );
    }
    if (laterAdds.length > 0) {
      const current = new Map<string, { domains: string[]; sequence: bigint }>();
      const { rows } = await client.query<{ id: string; domains: string[] }>(`SELECT id, domains FROM ${this.s}.instances WHERE id = ANY($1::text[])`, [
        [...new Set(laterAdds.map((d) => d.instanceId))],
      ]);
      for (const r of rows) {
        current.set(r.id, { domains: r.domains, sequence: 0n });
        existing.add(r.id);
      }
      for (const add of laterAdds) {
        const instance = current.get(add.instanceId);
        if (!instance) continue; // as in every store: a domain of an unknown instance changes nothing
        if (!instance.domains.includes(add.domain)) instance.domains = [...instance.domains, add.domain];
        instance.sequence = add.sequence;
      }
      const changed = [...current.entries()].filter(([, v]) => v.sequence !== 0n);
      if (changed.length > 0) {
        await client.query(
          `UPDATE ${this.s}.instances i SET domains = u.domains::jsonb, sequence = u.sequence
           FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(id, domains, sequence) WHERE i.id = u.id`,
          [changed.map(([id]) => id), changed.map(([, v]) => JSON.stringify(v.domains)), changed.map(([, v]) => v.sequence.toString())],
        );
      }
    }
    // In the batch's order, whichever phase wrote the instance: the last instance to add a domain
    // holds it (an earlier instance's add that came before a new instance's must not win).
    const lookup = new Map<string, string>();
    for (const add of domainAdds) if (existing.has(add.instanceId)) lookup.set(add.domain, add.instanceId);
    if (lookup.size > 0) {
      await client.query(
        `INSERT INTO ${this.s}.instance_domains (domain, instance_id) SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (domain) DO UPDATE SET instance_id = excluded.instance_id`,
        [[...lookup.keys()], [...lookup.values()]],
      );
    }
    if (configChanges.length === 0) return;
    // The configurations' changes are folded in order in memory (a patch needs the row as it is, so
    // rows that a patch touches before this batch sets them are read first), then written as one
    // DELETE and one upsert: each row ends in its final state, whatever happened to it in between.
    const keyOf = (instanceId: string, id: string) => JSON.stringify([instanceId, id]);
    const known = new Set<string>();
    const toRead: { instanceId: string; id: string }[] = [];
    for (const c of configChanges) {
      const [instanceId, id] = c.kind === 'upsertSmtpConfig' ? [c.config.instanceId, c.config.id] : [c.instanceId, c.id];
      if (c.kind === 'patchSmtpConfig' && !known.has(keyOf(instanceId, id))) toRead.push({ instanceId, id });
      known.add(keyOf(instanceId, id));
    }
    const configs = new Map<string, SmtpConfigView | undefined>();
    if (toRead.length > 0) {
      const { rows } = await client.query<SmtpConfigRow>(
        `SELECT ${SMTP_COLUMNS} FROM ${this.s}.smtp_configs WHERE (instance_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
        [toRead.map((r) => r.instanceId), toRead.map((r) => r.id)],
      );
      for (const r of rows) configs.set(keyOf(r.instance_id, r.id), toSmtpConfig(r));
    }
    for (const c of configChanges) {
      if (c.kind === 'upsertSmtpConfig') configs.set(keyOf(c.config.instanceId, c.config.id), c.config);
      else if (c.kind === 'removeSmtpConfig') configs.set(keyOf(c.instanceId, c.id), undefined);
      else {
        const row = configs.get(keyOf(c.instanceId, c.id));
        if (row) configs.set(keyOf(c.instanceId, c.id), patchedSmtpConfig(row, c));
      }
    }
    const removed = [...configs.entries()].filter(([, v]) => v === undefined).map(([k]) => JSON.parse(k) as [string, string]);
    if (removed.length > 0) {
      await client.query(`DELETE FROM ${this.s}.smtp_configs WHERE (instance_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, [
        removed.map(([i]) => i),
        removed.map(([, id]) => id),
      ]);
    }
    const list = [...configs.values()].filter((v): v is SmtpConfigView => v !== undefined);
    if (list.length > 0) {
      const col = <K extends keyof SmtpConfigView>(k: K) => list.map((c) => (typeof c[k] === 'bigint' ? String(c[k]) : c[k]));
      await client.query(
        `INSERT INTO ${this.s}.smtp_configs (${SMTP_COLUMNS})
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::text[], $7::text[], $8::text[],
                              $9::text[], $10::boolean[], $11::bigint[], $12::text[], $13::text[], $14::text[])
         ON CONFLICT (instance_id, id) DO UPDATE SET sender_address = excluded.sender_address, sender_name = excluded.sender_name,
           tls = excluded.tls, host = excluded.host, "user" = excluded."user", reply_to_address = excluded.reply_to_address,
           description = excluded.description, has_password = excluded.has_password, sequence = excluded.sequence,
           creation_date = excluded.creation_date, change_date = excluded.change_date, resource_owner = excluded.resource_owner`,
        [
          col('instanceId'),
          col('id'),
          col('senderAddress'),
          col('senderName'),
          col('tls'),
          col('host'),
          col('user'),
          col('replyToAddress'),
          col('description'),
          col('hasPassword'),
          col('sequence'),
          col('creationDate'),
          col('changeDate'),
          col('resourceOwner'),
        ],
      );
    }
  }

  async reset(): Promise<void> {
    this.projectedRows.clear();
    await this.transaction(async (client) => {
      // The checkpoint row first, as every writer locks it (an inline append too): no deadlock with one.
      await client.query(`SELECT 1 FROM ${this.s}.projection_checkpoints WHERE projection = $1 FOR UPDATE`, [this.projection]);
      await client.query(`TRUNCATE ${this.s}.smtp_configs, ${this.s}.instance_domains, ${this.s}.instances`);
      await client.query(`UPDATE ${this.s}.projection_checkpoints SET commit_position = -1, prepare_position = -1 WHERE projection = $1`, [this.projection]);
    });
  }

  /** The name of the projection whose checkpoint this read model keeps. */
  get projectionName(): string {
    return this.projection;
  }

  /** The schema this read model lives in (quoted identifier). */
  get schemaName(): string {
    return this.s;
  }

  /**
   * Replaces every row and the checkpoint with those of `shadow` (the same read model in another
   * schema, rebuilt from the events) in one transaction, and announces the new checkpoint. Refuses
   * (returns false, changing nothing) while this read model has applied more than the shadow.
   */
  async adopt(shadow: PostgresProjectionStore): Promise<boolean> {
    return this.transaction(async (client) => {
      const cp = `SELECT commit_position::text AS c, prepare_position::text AS p FROM %s.projection_checkpoints WHERE projection = $1`;
      const live = (await client.query<{ c: string; p: string }>(`${cp.replace('%s', this.s)} FOR UPDATE`, [this.projection])).rows[0];
      const rebuilt = (await client.query<{ c: string; p: string }>(cp.replace('%s', shadow.s), [this.projection])).rows[0];
      if (!rebuilt || BigInt(rebuilt.c) < 0n) return !live || BigInt(live.c) < 0n;
      if (live && comparePositions({ commit: BigInt(live.c), prepare: BigInt(live.p) }, { commit: BigInt(rebuilt.c), prepare: BigInt(rebuilt.p) }) > 0) return false;
      await client.query(`TRUNCATE ${this.s}.smtp_configs, ${this.s}.instance_domains, ${this.s}.instances`);
      await copyRows(client, shadow.s, this.s);
      await client.query(`UPDATE ${this.s}.projection_checkpoints SET commit_position = $2, prepare_position = $3 WHERE projection = $1`, [
        this.projection,
        rebuilt.c,
        rebuilt.p,
      ]);
      await client.query('SELECT pg_notify($1, $2)', [this.checkpointChannel, `${rebuilt.c}/${rebuilt.p}`]);
      return true;
    });
  }

  /**
   * Reads by a caller's key (this one, smtpConfigOfInstance, instanceById, instanceByDomain): a key
   * PostgreSQL's text cannot hold names nothing stored, and is answered so without a query (see
   * pgCanHoldKey); sent in a batch, it would fail the other callers' reads beside it.
   */
  smtpConfigById(instanceId: string, id: string): Promise<SmtpConfigView | undefined> {
    if (!pgCanHoldKey(instanceId) || !pgCanHoldKey(id)) return Promise.resolve(undefined);
    return this.configReads.get([instanceId, id]);
  }

  /**
   * Told by PostgresEventStore, after the commit, of the changes appends applied inline in their own
   * transaction, each at the position its append ended at: keeps the configuration rows they left,
   * so that the command that appended can answer from its row without reading it back (see
   * ProjectedRows for how many are kept).
   */
  noteInlineApplied(entries: readonly PositionedChanges[]): void {
    this.projectedRows.note(entries);
  }

  takeSmtpConfigProjectedAt(instanceId: string, id: string, position: GlobalPosition): SmtpConfigView | undefined {
    return this.projectedRows.take(instanceId, id, position);
  }

  /** The configurations asked for together, in one query (see ReadBatcher). */
  private async smtpConfigsById(keys: readonly (readonly [string, string])[]): Promise<(SmtpConfigView | undefined)[]> {
    if (keys.length === 1) {
      const rows = await this.query<SmtpConfigRow>(`SELECT ${SMTP_COLUMNS} FROM ${this.s}.smtp_configs WHERE instance_id = $1 AND id = $2`, [...keys[0]!]);
      return [rows[0] && toSmtpConfig(rows[0])];
    }
    const rows = await this.query<SmtpConfigRow>(
      `SELECT ${SMTP_COLUMNS} FROM ${this.s}.smtp_configs WHERE (instance_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [keys.map((k) => k[0]), keys.map((k) => k[1])],
    );
    const found = new Map(rows.map((r) => [JSON.stringify([r.instance_id, r.id]), r]));
    return keys.map((k) => {
      const row = found.get(JSON.stringify(k));
      return row && toSmtpConfig(row);
    });
  }

  async smtpConfigOfInstance(instanceId: string): Promise<SmtpConfigView | undefined> {
    if (!pgCanHoldKey(instanceId)) return undefined;
    const rows = await this.query<SmtpConfigRow>(
      `SELECT ${SMTP_COLUMNS} FROM ${this.s}.smtp_configs WHERE instance_id = $1 ORDER BY id COLLATE "C" LIMIT 1`,
      [instanceId],
    );
    return rows[0] && toSmtpConfig(rows[0]);
  }

  async instanceById(instanceId: string): Promise<InstanceView | undefined> {
    if (!pgCanHoldKey(instanceId)) return undefined;
    const rows = await this.query<InstanceRow>(`SELECT id, name, domains, sequence, creation_date FROM ${this.s}.instances WHERE id = $1`, [instanceId]);
    return rows[0] && toInstance(rows[0]);
  }

  instanceByDomain(domain: string): Promise<InstanceView | undefined> {
    if (!pgCanHoldKey(domain)) return Promise.resolve(undefined);
    return this.domainReads.get(domain.toLowerCase());
  }

  /** The instances of the domains asked for together, in one query (see ReadBatcher): every HTTP request asks for one. */
  private async instancesByDomain(domains: readonly string[]): Promise<(InstanceView | undefined)[]> {
    const rows = await this.query<InstanceRow & { domain: string }>(
      `SELECT d.domain, i.id, i.name, i.domains, i.sequence, i.creation_date FROM ${this.s}.instance_domains d JOIN ${this.s}.instances i ON i.id = d.instance_id
       WHERE d.domain = ANY($1::text[])`,
      [[...new Set(domains)]],
    );
    const found = new Map(rows.map((r) => [r.domain, toInstance(r)]));
    return domains.map((d) => found.get(d));
  }

  async *instances(): AsyncIterable<InstanceView> {
    let after = '';
    for (;;) {
      const rows = await this.query<InstanceRow>(
        `SELECT id, name, domains, sequence, creation_date FROM ${this.s}.instances WHERE id COLLATE "C" > $1 ORDER BY id COLLATE "C" LIMIT 1000`,
        [after],
      );
      for (const r of rows) yield toInstance(r);
      if (rows.length < 1000) return;
      after = rows.at(-1)!.id;
    }
  }

  async snapshot(): Promise<unknown> {
    const { checkpoint, instances, domains, configs } = await this.transaction(async (client) => ({
      checkpoint: (
        await client.query<{ c: string; p: string }>(
          `SELECT commit_position::text AS c, prepare_position::text AS p FROM ${this.s}.projection_checkpoints WHERE projection = $1 AND commit_position >= 0`,
          [this.projection],
        )
      ).rows[0],
      instances: (await client.query<InstanceRow>(`SELECT id, name, domains, sequence, creation_date FROM ${this.s}.instances`)).rows,
      domains: (await client.query<{ domain: string; instance_id: string }>(`SELECT domain, instance_id FROM ${this.s}.instance_domains`)).rows,
      configs: (await client.query<SmtpConfigRow>(`SELECT ${SMTP_COLUMNS} FROM ${this.s}.smtp_configs`)).rows,
    }));
    return readModelSnapshot({
      checkpoint: checkpoint && { commit: BigInt(checkpoint.c), prepare: BigInt(checkpoint.p) },
      instances: instances.map(toInstance),
      domains: domains.map((r) => [r.domain, r.instance_id] as const),
      smtpConfigs: configs.map(toSmtpConfig),
    });
  }

  /** The pool is the caller's; nothing of its own to close. */
  async close(): Promise<void> {}

  /**
   * `asyncCommit`: the read model's batches do not wait for the disk at COMMIT. What a crash can
   * take back is the tail of the last batches, rows and checkpoint together (they commit as one),
   * and the projection applies that tail again from the events; a crash never leaves it torn.
   */
  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>, asyncCommit = false): Promise<T> {
    try {
      return await withPoolClient(this.pool, async (client) => {
        await client.query(asyncCommit ? 'BEGIN; SET LOCAL synchronous_commit TO OFF' : 'BEGIN');
        try {
          const result = await work(client);
          await client.query('COMMIT');
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      });
    } catch (error) {
      throw pgStoreError(error);
    }
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (error) {
      throw pgStoreError(error);
    }
  }
}
