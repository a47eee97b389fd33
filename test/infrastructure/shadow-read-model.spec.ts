import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresProjectionStore, SqliteProjectionStore, type ProjectionStore, type ReadModelChange } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason } from '../support/adapters.js';
import { configView } from '../support/fixtures.js';

const at = (n: number) => ({ commit: BigInt(n), prepare: BigInt(n) });
const instance = (id: string, name: string, sequence: bigint): ReadModelChange => ({
  kind: 'upsertInstance',
  instance: { id, name, domains: [], sequence, creationDate: '2024-06-11T10:37:15.680Z' },
});

/** Live: instance a as "old" at 5. Shadow: a as "new" and b, at `shadowAt`. */
const fill = async (live: ProjectionStore, shadow: ProjectionStore, shadowAt: number) => {
  await live.applyBatch([{ changes: [instance('a', 'old', 1n)], position: at(5) }]);
  await shadow.applyBatch([{ changes: [instance('a', 'new', 1n), instance('b', 'bee', 1n)], position: at(shadowAt) }]);
};

const adoptionRules = (open: () => Promise<{ live: ProjectionStore; shadow: ProjectionStore; adopt: () => Promise<boolean>; close: () => Promise<void> }>) => {
  it('takes every row and the checkpoint of a shadow that is at or past the live read model', async () => {
    const { live, shadow, adopt, close } = await open();
    try {
      await fill(live, shadow, 7);
      expect(await adopt()).toBe(true);
      expect(await live.snapshot()).toEqual(await shadow.snapshot());
      expect(await live.instanceById('a')).toMatchObject({ name: 'new' });
      expect(await live.checkpoint()).toEqual(at(7));
    } finally {
      await close();
    }
  });

  it('refuses, changing nothing, while the live read model is ahead of the shadow', async () => {
    const { live, shadow, adopt, close } = await open();
    try {
      await fill(live, shadow, 3);
      const before = await live.snapshot();
      expect(await adopt()).toBe(false);
      expect(await live.snapshot()).toEqual(before);
    } finally {
      await close();
    }
  });
};

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('switching to a rebuilt read model: SQLite', () => {
  adoptionRules(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smtp-shadow-'));
    dirs.push(dir);
    const live = SqliteProjectionStore.open(dir);
    const shadow = SqliteProjectionStore.open(dir, { file: SqliteProjectionStore.SHADOW_FILE });
    return { live, shadow, adopt: async () => live.adopt(shadow), close: async () => (await live.close(), await shadow.close()) };
  });
});

describe.skipIf(postgresSkipReason)('switching to a rebuilt read model: PostgreSQL', () => {
  adoptionRules(async () => {
    const db = await freshPostgresSchema(4);
    const live = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
    const shadow = await PostgresProjectionStore.open(db.pool, { schema: `${db.schema}_shadow` });
    return {
      live,
      shadow,
      adopt: () => live.adopt(shadow),
      close: async () => {
        await db.pool.query(`DROP SCHEMA IF EXISTS ${db.schema}_shadow CASCADE`);
        await db.drop();
      },
    };
  });
});

/**
 * The live read model's smtp_configs with its creation_date dropped and added again by hand (it then
 * stands last): a switch must put each of the shadow's values in the column of its name.
 */
const columnsInAnotherOrder = (open: () => Promise<{ live: ProjectionStore; shadow: ProjectionStore; alterLive: (sql: string) => Promise<void>; adopt: () => Promise<boolean>; close: () => Promise<void> }>) => {
  it("puts each of the shadow's values in the column of its name, not of its place (a column dropped and added again by hand goes last)", async () => {
    const { live, shadow, alterLive, adopt, close } = await open();
    try {
      const config = configView({ creationDate: '2026-01-01T00:00:00.000Z', changeDate: '2026-02-02T00:00:00.000Z', resourceOwner: 'owner-1' });
      await shadow.applyBatch([{ changes: [instance('i1', 'one', 1n), { kind: 'upsertSmtpConfig', config }], position: at(7) }]);
      await alterLive('ALTER TABLE smtp_configs DROP COLUMN creation_date');
      await alterLive("ALTER TABLE smtp_configs ADD COLUMN creation_date text NOT NULL DEFAULT ''");
      expect(await adopt()).toBe(true);
      expect(await live.smtpConfigById('i1', 'c1')).toEqual(config);
    } finally {
      await close();
    }
  });
};

describe('switching to a rebuilt read model: SQLite, live columns in another order', () => {
  columnsInAnotherOrder(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smtp-shadow-'));
    dirs.push(dir);
    const live = SqliteProjectionStore.open(dir);
    const shadow = SqliteProjectionStore.open(dir, { file: SqliteProjectionStore.SHADOW_FILE });
    return {
      live,
      shadow,
      alterLive: async (sql) => {
        const db = new Database(live.file);
        try {
          db.exec(sql);
        } finally {
          db.close();
        }
      },
      adopt: async () => live.adopt(shadow),
      close: async () => (await live.close(), await shadow.close()),
    };
  });
});

describe.skipIf(postgresSkipReason)('switching to a rebuilt read model: PostgreSQL, live columns in another order', () => {
  columnsInAnotherOrder(async () => {
    const db = await freshPostgresSchema(4);
    const live = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
    const shadow = await PostgresProjectionStore.open(db.pool, { schema: `${db.schema}_shadow` });
    return {
      live,
      shadow,
      alterLive: async (sql) => void (await db.pool.query(sql.replace('smtp_configs', `${db.schema}.smtp_configs`))),
      adopt: () => live.adopt(shadow),
      close: async () => {
        await db.pool.query(`DROP SCHEMA IF EXISTS ${db.schema}_shadow CASCADE`);
        await db.drop();
      },
    };
  });
});

describe.skipIf(postgresSkipReason)('replacing a damaged PostgreSQL read model with a rebuilt one', () => {
  const openDamaged = async (damage: (schema: string, db: Awaited<ReturnType<typeof freshPostgresSchema>>) => Promise<void>) => {
    const db = await freshPostgresSchema(4);
    const live = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
    const shadow = await PostgresProjectionStore.open(db.pool, { schema: `${db.schema}_shadow` });
    const close = async () => {
      await db.pool.query(`DROP SCHEMA IF EXISTS ${db.schema}_shadow CASCADE`);
      await db.drop();
    };
    return { db, live, shadow, close, damage: () => damage(db.schema, db) };
  };

  it('names what is damaged (a table dropped, a column dropped, the function dropped); a healthy one, or one never made, is not', async () => {
    const { db, close } = await openDamaged(async () => undefined);
    try {
      const attached = PostgresProjectionStore.attach(db.pool, { schema: db.schema });
      expect(await attached.damage()).toBeUndefined();
      // Never made (a new schema, or one with the events alone): nothing damaged, opening makes it.
      expect(await PostgresProjectionStore.attach(db.pool, { schema: `${db.schema}_new` }).damage()).toBeUndefined();
      await db.pool.query(`DROP TABLE ${db.schema}.projection_checkpoints`);
      await db.pool.query(`ALTER TABLE ${db.schema}.smtp_configs DROP COLUMN host`);
      await db.pool.query(`DROP FUNCTION ${db.schema}.apply_read_model_changes(json)`);
      const damage = await attached.damage();
      expect(damage).toContain(`the table ${db.schema}.projection_checkpoints is missing`);
      expect(damage).toContain(`the table ${db.schema}.smtp_configs: column "host" does not exist`);
      expect(damage).toContain(`the function ${db.schema}.apply_read_model_changes(json) is missing`);
    } finally {
      await close();
    }
  });

  it('names a column whose type was changed by hand (tls as text reads back the string \'false\'), and replacing it makes the column again with its type', async () => {
    const { db, live, shadow, close } = await openDamaged(async () => undefined);
    try {
      await shadow.applyBatch([{ changes: [instance('i1', 'one', 1n), { kind: 'upsertSmtpConfig', config: configView({ tls: false }) }], position: at(7) }]);
      await live.applyBatch([{ changes: [], position: at(5) }]);
      await db.pool.query(`ALTER TABLE ${db.schema}.smtp_configs ALTER COLUMN tls TYPE text`);
      const attached = PostgresProjectionStore.attach(db.pool, { schema: db.schema });
      expect(await attached.damage()).toBe(`the table ${db.schema}.smtp_configs: column "tls" is of type text, not boolean`);
      expect(await attached.replaceDamaged(shadow)).toBe(true);
      expect(await attached.damage()).toBeUndefined();
      expect(await attached.smtpConfigById('i1', 'c1')).toMatchObject({ tls: false });
    } finally {
      await close();
    }
  });

  it('a dropped checkpoint table beside instances a rebuild from the events does not have (the events emptied or replaced): refuses, changing nothing', async () => {
    const { db, live, shadow, close, damage } = await openDamaged((schema) => db.pool.query(`DROP TABLE ${schema}.projection_checkpoints`).then(() => undefined));
    try {
      await live.applyBatch([{ changes: [instance('a', 'old', 1n)], position: at(5) }]);
      await shadow.applyBatch([{ changes: [instance('b', 'bee', 1n)], position: at(2) }]);
      await damage();
      const attached = PostgresProjectionStore.attach(db.pool, { schema: db.schema });
      await expect(attached.replaceDamaged(shadow)).rejects.toThrow(`holds the instance a, which a rebuild from the events does not: the events were replaced, emptied or lost`);
      expect(await attached.instanceById('a')).toMatchObject({ name: 'old' });
      expect(await attached.damage()).toContain('projection_checkpoints is missing');
    } finally {
      await close();
    }
  });

  it('a dropped checkpoint table: the shadow takes its place, tables made again, and the live read model works on', async () => {
    const { db, live, shadow, close, damage } = await openDamaged((schema) => db.pool.query(`DROP TABLE ${schema}.projection_checkpoints`).then(() => undefined));
    try {
      await fill(live, shadow, 7);
      await damage();
      const attached = PostgresProjectionStore.attach(db.pool, { schema: db.schema });
      expect(await attached.replaceDamaged(shadow)).toBe(true);
      expect(await attached.damage()).toBeUndefined();
      const reopened = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
      expect(await reopened.snapshot()).toEqual(await shadow.snapshot());
      await reopened.applyBatch([{ changes: [instance('c', 'sea', 1n)], position: at(8) }]);
      expect(await reopened.instanceById('c')).toMatchObject({ name: 'sea' });
      expect(await reopened.checkpoint()).toEqual(at(8));
    } finally {
      await close();
    }
  });

  it('a dropped rows table whose checkpoint is ahead of the shadow (a replica applied more): refuses, changing nothing', async () => {
    const { db, live, shadow, close, damage } = await openDamaged((schema) => db.pool.query(`DROP TABLE ${schema}.smtp_configs`).then(() => undefined));
    try {
      await fill(live, shadow, 3);
      await damage();
      const attached = PostgresProjectionStore.attach(db.pool, { schema: db.schema });
      expect(await attached.replaceDamaged(shadow)).toBe(false);
      expect(await attached.checkpoint()).toEqual(at(5));
      expect(await attached.instanceById('a')).toMatchObject({ name: 'old' });
      expect(await attached.damage()).toContain('smtp_configs is missing');
    } finally {
      await close();
    }
  });
});
