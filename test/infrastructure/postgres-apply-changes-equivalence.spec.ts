import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryProjectionStore, PostgresProjectionStore, type PositionedChanges, type ReadModelChange, type SmtpConfigView } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason } from '../support/adapters.js';

/**
 * apply_read_model_changes (the inline projection's SQL) against the set-based TypeScript writer and
 * the in-memory store, on generated histories in the projection's own order (an instance is added
 * once, before its domains): unicode, quotes, backslashes, empty strings, patches of any subset of
 * fields, removals and re-adds, domains moved between instances, batches cut anywhere.
 */
describe.skipIf(postgresSkipReason !== undefined)('apply_read_model_changes and the set-based writer, on generated histories', () => {
  let sqlDb: Awaited<ReturnType<typeof freshPostgresSchema>>;
  let tsDb: Awaited<ReturnType<typeof freshPostgresSchema>>;
  let sqlStore: PostgresProjectionStore;
  let tsStore: PostgresProjectionStore;
  beforeAll(async () => {
    sqlDb = await freshPostgresSchema(2);
    tsDb = await freshPostgresSchema(2);
    sqlStore = await PostgresProjectionStore.open(sqlDb.pool, { schema: sqlDb.schema });
    tsStore = await PostgresProjectionStore.open(tsDb.pool, { schema: tsDb.schema });
  });
  afterAll(async () => {
    await sqlDb?.drop();
    await tsDb?.drop();
  });

  const text = fc.oneof(
    fc.constantFrom('', ' ', "it's", 'a"b', 'back\\slash', '{"json":1}', '😀 ü ß', 'null', 'true', '%_', '\n\t'),
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc.string({ maxLength: 12 }).filter((s) => !s.includes('\u0000')),
  );
  const instanceIds = ['i1', 'i2', 'i3'];
  const configIds = ['c1', 'c2'];
  const domains = ['one.example.com', 'two.example.com', 'xn--bcher-kva.example'];
  type Step =
    | { k: 'instance'; id: string; name: string }
    | { k: 'domain'; id: string; domain: string }
    | { k: 'config'; id: string; cid: string; fields: Omit<SmtpConfigView, 'instanceId' | 'id' | 'sequence' | 'creationDate' | 'changeDate' | 'resourceOwner'> }
    | { k: 'patch'; id: string; cid: string; changes: Record<string, unknown> }
    | { k: 'remove'; id: string; cid: string };
  const fields = fc.record({
    senderAddress: text,
    senderName: text,
    tls: fc.boolean(),
    host: text,
    user: text,
    replyToAddress: text,
    description: text,
    hasPassword: fc.boolean(),
  });
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ k: fc.constant('instance' as const), id: fc.constantFrom(...instanceIds), name: text }),
    fc.record({ k: fc.constant('domain' as const), id: fc.constantFrom(...instanceIds), domain: fc.constantFrom(...domains) }),
    fc.record({ k: fc.constant('config' as const), id: fc.constantFrom(...instanceIds), cid: fc.constantFrom(...configIds), fields }),
    fc.record({ k: fc.constant('patch' as const), id: fc.constantFrom(...instanceIds), cid: fc.constantFrom(...configIds), changes: fc.record(
      { senderAddress: text, senderName: text, tls: fc.boolean(), host: text, user: text, replyToAddress: text, description: text, hasPassword: fc.boolean() },
      { requiredKeys: [] },
    ) }),
    fc.record({ k: fc.constant('remove' as const), id: fc.constantFrom(...instanceIds), cid: fc.constantFrom(...configIds) }),
  );

  /** The steps as the projection would produce them: an instance added once, before its domains. */
  const history = (steps: readonly Step[]): PositionedChanges[] => {
    const added = new Set<string>();
    const out: PositionedChanges[] = [];
    let seq = 0n;
    for (const s of steps) {
      seq++;
      const at = `2024-06-11T10:${String(Number(seq % 60n)).padStart(2, '0')}:00.000Z`;
      let change: ReadModelChange | undefined;
      if (s.k === 'instance') {
        if (added.has(s.id)) continue;
        added.add(s.id);
        change = { kind: 'upsertInstance', instance: { id: s.id, name: s.name, domains: [], sequence: seq, creationDate: at } };
      } else if (s.k === 'domain') {
        if (!added.has(s.id)) continue; // (the set-based writer applies a batch's instances before its domains)
        change = { kind: 'addInstanceDomain', instanceId: s.id, domain: s.domain, sequence: seq };
      } else if (s.k === 'config') {
        change = { kind: 'upsertSmtpConfig', config: { instanceId: s.id, id: s.cid, ...s.fields, sequence: seq, creationDate: at, changeDate: at, resourceOwner: s.id } };
      } else if (s.k === 'patch') {
        change = { kind: 'patchSmtpConfig', instanceId: s.id, id: s.cid, changes: s.changes, sequence: seq, changeDate: at };
      } else {
        change = { kind: 'removeSmtpConfig', instanceId: s.id, id: s.cid };
      }
      out.push({ changes: [change], position: { commit: BigInt(out.length + 1), prepare: BigInt(out.length + 1) } });
    }
    return out;
  };

  const json = (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

  it('gives the same rows in SQL, in the set-based writer (batches cut anywhere) and in memory', { timeout: 240_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), fc.array(fc.nat(40), { maxLength: 4 }), async (steps, cuts) => {
        const changes = history(steps);
        if (changes.length === 0) return;
        const reference = new InMemoryProjectionStore();
        await reference.applyBatch(changes);
        await sqlStore.reset();
        for (const entry of changes) await sqlDb.pool.query(`SELECT ${sqlDb.schema}.apply_read_model_changes($1)`, [json(entry.changes)]);
        await sqlStore.saveCheckpoint(changes.at(-1)!.position);
        await tsStore.reset();
        const bounds = [...new Set([0, ...cuts.map((c) => c % changes.length), changes.length])].sort((a, b) => a - b);
        for (let i = 0; i + 1 < bounds.length; i++) await tsStore.applyBatch(changes.slice(bounds[i], bounds[i + 1]));
        const expected = await reference.snapshot();
        expect(await sqlStore.snapshot()).toEqual(expected);
        expect(await tsStore.snapshot()).toEqual(expected);
      }),
      { numRuns: 60, seed: 20261125 },
    );
  });
});
