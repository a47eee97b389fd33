import { renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
import { fsyncDirectory, isDamage, openDatabase, storageError, type SqliteDatabase } from './database.js';
import { readModelMigrations } from './migrations/0002-read-model.js';
import { StoreFileError } from './store-file-error.js';

interface InstanceRow {
  id: string;
  name: string;
  domains: string;
  sequence: bigint;
  creation_date: string;
}

interface SmtpConfigRow {
  instance_id: string;
  id: string;
  sender_address: string;
  sender_name: string;
  tls: bigint;
  host: string;
  user: string;
  reply_to_address: string;
  description: string;
  has_password: bigint;
  sequence: bigint;
  creation_date: string;
  change_date: string;
  resource_owner: string;
}

const toInstance = (r: InstanceRow): InstanceView => ({
  id: r.id,
  name: r.name,
  domains: JSON.parse(r.domains) as string[],
  sequence: r.sequence,
  creationDate: r.creation_date,
});

const toSmtpConfig = (r: SmtpConfigRow): SmtpConfigView => ({
  instanceId: r.instance_id,
  id: r.id,
  senderAddress: r.sender_address,
  senderName: r.sender_name,
  tls: r.tls === 1n,
  host: r.host,
  user: r.user,
  replyToAddress: r.reply_to_address,
  description: r.description,
  hasPassword: r.has_password === 1n,
  sequence: r.sequence,
  creationDate: r.creation_date,
  changeDate: r.change_date,
  resourceOwner: r.resource_owner,
});

const NOTHING_APPLIED: readonly PositionedChanges[] = [];

const byKey = <V>(entries: [string, V][]) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/**
 * The read model in SQLite (`read-model.db`), with its checkpoint in the same file: rows and
 * checkpoint change in one transaction, so after a crash the projection resumes exactly where its
 * last committed batch ended. `synchronous=NORMAL`: the file can always be rebuilt from the events,
 * and what a power cut takes back is projected again from the checkpoint. Another process may
 * apply the same events (a command-line tool catching up): each batch re-reads the checkpoint inside
 * its transaction and skips what is already applied.
 */
export class SqliteProjectionStore implements ProjectionStore {
  static readonly FILE = 'read-model.db';

  private readonly s;
  private readonly applyAll: (batch: readonly PositionedChanges[]) => readonly PositionedChanges[];
  /** Configuration rows this store wrote, by the position of the event that made them (see takeSmtpConfigProjectedAt). */
  private readonly projectedRows = new ProjectedRows();

  private constructor(
    private readonly db: SqliteDatabase,
    readonly file: string,
    private readonly projection: string,
  ) {
    this.s = {
      checkpoint: db.prepare<[string], { commit_position: string; prepare_position: string }>(
        'SELECT commit_position, prepare_position FROM projection_checkpoints WHERE projection = ?',
      ),
      saveCheckpoint: db.prepare<[string, string, string]>(
        `INSERT INTO projection_checkpoints (projection, commit_position, prepare_position) VALUES (?, ?, ?)
         ON CONFLICT (projection) DO UPDATE SET commit_position = excluded.commit_position, prepare_position = excluded.prepare_position`,
      ),
      upsertInstance: db.prepare<[string, string, bigint, string]>(
        `INSERT INTO instances (id, name, domains, sequence, creation_date) VALUES (?, ?, '[]', ?, ?)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, sequence = excluded.sequence, creation_date = excluded.creation_date`,
      ),
      instanceById: db.prepare<[string], InstanceRow>('SELECT id, name, domains, sequence, creation_date FROM instances WHERE id = ?'),
      instanceByDomain: db.prepare<[string], InstanceRow>(
        `SELECT i.id, i.name, i.domains, i.sequence, i.creation_date
         FROM instance_domains d JOIN instances i ON i.id = d.instance_id WHERE d.domain = ?`,
      ),
      setDomains: db.prepare<[string, bigint, string]>('UPDATE instances SET domains = ?, sequence = ? WHERE id = ?'),
      claimDomain: db.prepare<[string, string]>(
        'INSERT INTO instance_domains (domain, instance_id) VALUES (?, ?) ON CONFLICT (domain) DO UPDATE SET instance_id = excluded.instance_id',
      ),
      upsertSmtpConfig: db.prepare(
        `INSERT OR REPLACE INTO smtp_configs (instance_id, id, sender_address, sender_name, tls, host, user, reply_to_address,
           description, has_password, sequence, creation_date, change_date, resource_owner)
         VALUES (@instanceId, @id, @senderAddress, @senderName, @tls, @host, @user, @replyToAddress,
           @description, @hasPassword, @sequence, @creationDate, @changeDate, @resourceOwner)`,
      ),
      smtpConfigById: db.prepare<[string, string], SmtpConfigRow>('SELECT * FROM smtp_configs WHERE instance_id = ? AND id = ?'),
      smtpConfigOfInstance: db.prepare<[string], SmtpConfigRow>('SELECT * FROM smtp_configs WHERE instance_id = ? ORDER BY id LIMIT 1'),
      removeSmtpConfig: db.prepare<[string, string]>('DELETE FROM smtp_configs WHERE instance_id = ? AND id = ?'),
      allInstances: db.prepare<[], InstanceRow>('SELECT id, name, domains, sequence, creation_date FROM instances'),
      allDomains: db.prepare<[], { domain: string; instance_id: string }>('SELECT domain, instance_id FROM instance_domains'),
      allSmtpConfigs: db.prepare<[], SmtpConfigRow>('SELECT * FROM smtp_configs'),
    };
    this.applyAll = db
      .transaction((batch: readonly PositionedChanges[]) => {
        let at = this.readCheckpoint();
        // What this transaction applies (not what was applied before): its rows are noted once it commits.
        let applied: PositionedChanges[] | undefined;
        for (const entry of batch) {
          const { changes, position } = entry;
          if (at && comparePositions(position, at) <= 0) continue;
          for (const change of changes) this.applyOne(change);
          at = position;
          if (changes.length > 0) (applied ??= []).push(entry);
        }
        if (at) this.s.saveCheckpoint.run(this.projection, at.commit.toString(), at.prepare.toString());
        return applied ?? NOTHING_APPLIED;
      })
      .immediate;
  }

  /** The shadow a rebuild builds beside the live read model (see adopt). */
  static readonly SHADOW_FILE = 'read-model.shadow.db';

  /** Opens (creating it if needed) `read-model.db` (or `options.file`) in `dir`. */
  static open(dir: string, options: { projection?: string; file?: string } = {}): SqliteProjectionStore {
    const file = join(dir, options.file ?? SqliteProjectionStore.FILE);
    const whenDamaged = whenDamagedOf(file);
    const db = openDatabase(file, { synchronous: 'NORMAL', migrations: readModelMigrations, whenDamaged });
    try {
      return new SqliteProjectionStore(db, file, options.projection ?? 'smtp-config');
    } catch (error) {
      db.close();
      // A table or column dropped by hand: its schema step is recorded, so opening does not make it
      // again, and the statements cannot be prepared. Damage like any other, which a rebuild replaces.
      const message = error instanceof Error ? error.message : '';
      if (!/^no such (table|column)/.test(message)) throw error;
      throw new StoreFileError(file, `${file} is damaged (${message}). ${whenDamaged}`, { damaged: true, cause: error });
    }
  }

  async checkpoint(): Promise<GlobalPosition | undefined> {
    return this.run(() => this.readCheckpoint());
  }

  async apply(changes: readonly ReadModelChange[], position: GlobalPosition): Promise<void> {
    return this.applyBatch([{ changes, position }]);
  }

  async applyBatch(batch: readonly PositionedChanges[]): Promise<void> {
    if (batch.length > 0) this.projectedRows.note(this.run(() => this.applyAll(batch)));
  }

  /**
   * The configuration row exactly as this store wrote it for the event at `position` (the last of
   * the append that asks), handed out once; undefined when it did not write it or no longer holds
   * it (then ask smtpConfigById).
   */
  takeSmtpConfigProjectedAt(instanceId: string, id: string, position: GlobalPosition): SmtpConfigView | undefined {
    return this.projectedRows.take(instanceId, id, position);
  }

  async saveCheckpoint(position: GlobalPosition): Promise<void> {
    return this.applyBatch([{ changes: [], position }]);
  }

  async reset(): Promise<void> {
    this.projectedRows.clear();
    this.run(() =>
      this.db.exec(`BEGIN IMMEDIATE; DELETE FROM smtp_configs; DELETE FROM instance_domains; DELETE FROM instances;
        DELETE FROM projection_checkpoints WHERE projection = '${this.projection.replaceAll("'", "''")}'; COMMIT;`),
    );
  }

  async smtpConfigById(instanceId: string, id: string): Promise<SmtpConfigView | undefined> {
    const row = this.run(() => this.s.smtpConfigById.get(instanceId, id));
    return row && toSmtpConfig(row);
  }

  async smtpConfigOfInstance(instanceId: string): Promise<SmtpConfigView | undefined> {
    const row = this.run(() => this.s.smtpConfigOfInstance.get(instanceId));
    return row && toSmtpConfig(row);
  }

  async instanceById(instanceId: string): Promise<InstanceView | undefined> {
    const row = this.run(() => this.s.instanceById.get(instanceId));
    return row && toInstance(row);
  }

  async instanceByDomain(domain: string): Promise<InstanceView | undefined> {
    const row = this.run(() => this.s.instanceByDomain.get(domain.toLowerCase()));
    return row && toInstance(row);
  }

  /** Every instance, in id order (for the command-line tools). */
  async *instances(): AsyncIterable<InstanceView> {
    const rows = this.run(() => this.s.allInstances.all());
    for (const [, view] of byKey(rows.map((r) => [r.id, toInstance(r)] as [string, InstanceView]))) yield view;
  }

  async snapshot(): Promise<unknown> {
    const { instances, domains, configs, checkpoint } = this.run(() =>
      this.db.transaction(() => ({
        checkpoint: this.readCheckpoint(),
        instances: this.s.allInstances.all(),
        domains: this.s.allDomains.all(),
        configs: this.s.allSmtpConfigs.all(),
      }))(),
    );
    return readModelSnapshot({
      checkpoint,
      instances: instances.map(toInstance),
      domains: domains.map((r) => [r.domain, r.instance_id] as const),
      smtpConfigs: configs.map(toSmtpConfig),
    });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /**
   * Replaces every row and the checkpoint with those of `shadow` (a read model in another file,
   * rebuilt from the events) in one transaction: readers see the old read model or the new one,
   * never a mix, and a server projecting into this file goes on from the new checkpoint. Refuses
   * (returns false, changing nothing) while this read model has applied more than the shadow: the
   * shadow must catch up first, or events in between would be lost.
   */
  adopt(shadow: SqliteProjectionStore): boolean {
    this.projectedRows.clear();
    return this.run(() => {
      this.db.prepare('ATTACH DATABASE ? AS shadow').run(shadow.file);
      try {
        return this.db
          .transaction(() => {
            const live = this.readCheckpoint();
            const row = this.db
              .prepare<[string], { commit_position: string; prepare_position: string }>(
                'SELECT commit_position, prepare_position FROM shadow.projection_checkpoints WHERE projection = ?',
              )
              .get(this.projection);
            const rebuilt = row && { commit: BigInt(row.commit_position), prepare: BigInt(row.prepare_position) };
            if (live && (!rebuilt || comparePositions(live, rebuilt) > 0)) return false;
            this.db.exec('DELETE FROM smtp_configs; DELETE FROM instance_domains; DELETE FROM instances;');
            // By column name, not position: a live table whose columns stand in another order (one
            // dropped and added again by hand) would otherwise take every value one column over.
            for (const table of ['instances', 'instance_domains', 'smtp_configs']) {
              const columns = this.db
                .prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table}', 'shadow')`)
                .all()
                .map((c) => `"${c.name}"`)
                .join(', ');
              this.db.exec(`INSERT INTO main.${table} (${columns}) SELECT ${columns} FROM shadow.${table}`);
            }
            if (rebuilt) this.s.saveCheckpoint.run(this.projection, rebuilt.commit.toString(), rebuilt.prepare.toString());
            return true;
          })
          .immediate();
      } finally {
        this.db.exec('DETACH DATABASE shadow');
      }
    });
  }

  /**
   * What SQLite's `PRAGMA quick_check` finds wrong with the file (the first problem, on one line), or
   * undefined when nothing. Opening reads only the first page and the schema: a torn page among the
   * rows shows only here, or when a statement reaches it.
   */
  damage(): string | undefined {
    let found: unknown;
    try {
      found = this.db.pragma('quick_check(1)', { simple: true });
    } catch (error) {
      if (isDamage(error)) return (error as { code: string }).code;
      throw storageError(error, this.file, whenDamagedOf(this.file));
    }
    if (found === 'ok') return undefined;
    return String(found).replace(/^\*\*\* in database \w+ \*\*\*\s*/, '').replace(/\s+/g, ' ').trim();
  }

  /**
   * Puts `shadow` (closed here) in the place of `file`, a read model that cannot be opened to adopt
   * it (damaged): the shadow's write-ahead log is folded into its file, the damaged file's own
   * -wal and -shm go (SQLite would replay a log left beside the name into the new file), and the
   * shadow is renamed over it in one step, the directory synced. Interrupted anywhere, the damaged
   * file or the new one stands, and the shadow is kept until the rename. No other process may have
   * `file` open: the caller holds the data directory's lock.
   */
  static replaceDamaged(file: string, shadow: SqliteProjectionStore): void {
    shadow.run(() => shadow.db.pragma('journal_mode = DELETE'));
    shadow.db.close();
    for (const suffix of ['-wal', '-shm', '-journal']) rmSync(`${file}${suffix}`, { force: true });
    renameSync(shadow.file, file);
    fsyncDirectory(dirname(file));
  }

  private readCheckpoint(): GlobalPosition | undefined {
    const row = this.s.checkpoint.get(this.projection);
    return row && { commit: BigInt(row.commit_position), prepare: BigInt(row.prepare_position) };
  }

  private applyOne(change: ReadModelChange): void {
    switch (change.kind) {
      case 'upsertInstance': {
        const { id, name, sequence, creationDate } = change.instance;
        this.s.upsertInstance.run(id, name, sequence, creationDate);
        return;
      }
      case 'addInstanceDomain': {
        const row = this.s.instanceById.get(change.instanceId);
        if (!row) return;
        const domains = JSON.parse(row.domains) as string[];
        if (!domains.includes(change.domain)) domains.push(change.domain);
        this.s.setDomains.run(JSON.stringify(domains), change.sequence, change.instanceId);
        this.s.claimDomain.run(change.domain, change.instanceId);
        return;
      }
      case 'upsertSmtpConfig': {
        const c = change.config;
        this.upsertSmtpConfig(c);
        return;
      }
      case 'patchSmtpConfig': {
        const row = this.s.smtpConfigById.get(change.instanceId, change.id);
        if (row) this.upsertSmtpConfig(patchedSmtpConfig(toSmtpConfig(row), change));
        return;
      }
      case 'removeSmtpConfig':
        this.s.removeSmtpConfig.run(change.instanceId, change.id);
        return;
    }
  }

  private upsertSmtpConfig(c: SmtpConfigView): void {
    this.s.upsertSmtpConfig.run({ ...c, tls: c.tls ? 1 : 0, hasPassword: c.hasPassword ? 1 : 0 });
  }

  private run<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw storageError(error, this.file, whenDamagedOf(this.file));
    }
  }
}

/** What an operator does about a damaged read model: it holds only what the events rebuild. */
const whenDamagedOf = (file: string): string =>
  `It holds only what can be rebuilt: stop the server and run \`smtp-config projection rebuild\` (or delete ${file} and start again); it is rebuilt from the events.`;
