import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ADDED_FROM, deepFreeze, InMemoryProjectionStore, type ReadModelChange, type SMTPConfigAddedData, type SmtpConfigView } from '../support/everything.js';
import { configView } from '../support/fixtures.js';

const at = (n: number) => ({ commit: BigInt(n), prepare: BigInt(n) });
const row = (instanceId: string, id: string, overrides: Partial<SmtpConfigView> = {}): SmtpConfigView =>
  configView({ instanceId, id, resourceOwner: instanceId, ...overrides });
const upsert = (config: SmtpConfigView): ReadModelChange => ({ kind: 'upsertSmtpConfig', config });

// The domain allows one configuration per instance; the read model keeps rows by instance for that,
// and still answers like the other stores for histories that hold several (events written by hand).
describe('InMemoryProjectionStore with several configurations in one instance', () => {
  it('keeps each row by its id, answers the first added for the instance, and patches and removes one alone', async () => {
    const store = new InMemoryProjectionStore();
    await store.apply([upsert(row('i1', 'c1')), upsert(row('i1', 'c2', { senderName: 'second' })), upsert(row('i2', 'c1', { user: 'other' }))], at(1));
    expect(await store.smtpConfigById('i1', 'c2')).toMatchObject({ senderName: 'second' });
    expect(await store.smtpConfigById('i2', 'c1')).toMatchObject({ user: 'other' });
    expect(await store.smtpConfigById('i1', 'c3')).toBeUndefined();
    expect(await store.smtpConfigOfInstance('i1')).toMatchObject({ id: 'c1' });

    await store.apply([{ kind: 'patchSmtpConfig', instanceId: 'i1', id: 'c2', changes: { user: 'patched' }, sequence: 5n, changeDate: '2024-06-12T00:00:00.000Z' }], at(2));
    expect(await store.smtpConfigById('i1', 'c2')).toEqual(row('i1', 'c2', { senderName: 'second', user: 'patched', sequence: 5n, changeDate: '2024-06-12T00:00:00.000Z' }));
    expect(await store.smtpConfigById('i1', 'c1')).toEqual(row('i1', 'c1'));

    await store.apply([upsert(row('i1', 'c1', { description: 'again' }))], at(3));
    expect(await store.smtpConfigOfInstance('i1')).toMatchObject({ id: 'c1', description: 'again' });

    await store.apply([{ kind: 'removeSmtpConfig', instanceId: 'i1', id: 'c1' }], at(4));
    expect(await store.smtpConfigById('i1', 'c1')).toBeUndefined();
    expect(await store.smtpConfigOfInstance('i1')).toMatchObject({ id: 'c2', user: 'patched' });
    expect(((await store.snapshot()) as { smtpConfigs: [string, unknown][] }).smtpConfigs.map(([key]) => key)).toEqual(['i1/c2', 'i2/c1']);

    await store.apply([{ kind: 'removeSmtpConfig', instanceId: 'i1', id: 'c2' }, upsert(row('i1', 'c3'))], at(5));
    expect(await store.smtpConfigOfInstance('i1')).toMatchObject({ id: 'c3' });
    await store.apply([{ kind: 'removeSmtpConfig', instanceId: 'i1', id: 'c3' }], at(6));
    expect(await store.smtpConfigOfInstance('i1')).toBeUndefined();
    expect(await store.smtpConfigOfInstance('i2')).toMatchObject({ id: 'c1' });
  });

  it('keeps an instance with exactly its domains, once each', async () => {
    const store = new InMemoryProjectionStore();
    await store.apply(
      [
        { kind: 'upsertInstance', instance: { id: 'i1', name: 'one', domains: [], sequence: 1n, creationDate: '2024-06-11T10:37:15.680Z' } },
        { kind: 'addInstanceDomain', instanceId: 'i1', domain: 'a.example.com', sequence: 2n },
        { kind: 'addInstanceDomain', instanceId: 'i1', domain: 'b.example.com', sequence: 3n },
        { kind: 'addInstanceDomain', instanceId: 'i1', domain: 'a.example.com', sequence: 4n },
      ],
      at(1),
    );
    expect((await store.instanceByDomain('b.example.com'))?.domains).toEqual(['a.example.com', 'b.example.com']);
  });

  // Configurations are kept in their instance's row once it has one: they must follow the row as it
  // is replaced, come along when the row appears after them, and never show in the row itself.
  it('keeps a configuration across its instance being set up after it, renamed and given a domain (twice), and shows only the view in the row', async () => {
    const store = new InMemoryProjectionStore();
    const instance = { id: 'i1', name: 'one', domains: [], sequence: 1n, creationDate: '2024-06-11T10:37:15.680Z' };
    await store.apply([upsert(row('i1', 'c1'))], at(1));
    expect(await store.smtpConfigOfInstance('i1')).toMatchObject({ id: 'c1' });
    await store.apply([{ kind: 'upsertInstance', instance }], at(2));
    expect(await store.smtpConfigById('i1', 'c1')).toEqual(row('i1', 'c1'));
    expect((await store.instanceById('i1'))?.domains).toEqual([]);
    await store.apply([{ kind: 'addInstanceDomain', instanceId: 'i1', domain: 'a.example.com', sequence: 2n }], at(3));
    await store.apply([{ kind: 'addInstanceDomain', instanceId: 'i1', domain: 'a.example.com', sequence: 2n }], at(4));
    await store.apply([{ kind: 'upsertInstance', instance: { ...instance, name: 'renamed', sequence: 3n } }], at(5));
    expect(await store.smtpConfigOfInstance('i1')).toEqual(row('i1', 'c1'));
    const shown = await store.instanceById('i1');
    expect({ ...shown }).toEqual({ ...instance, name: 'renamed', domains: ['a.example.com'], sequence: 3n });
    expect(JSON.parse(JSON.stringify(shown, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))).toEqual({
      id: 'i1',
      name: 'renamed',
      domains: ['a.example.com'],
      sequence: '3',
      creationDate: '2024-06-11T10:37:15.680Z',
    });
    expect(((await store.snapshot()) as { smtpConfigs: [string, unknown][] }).smtpConfigs.map(([key]) => key)).toEqual(['i1/c1']);
    await store.apply([{ kind: 'removeSmtpConfig', instanceId: 'i1', id: 'c1' }], at(6));
    expect(await store.smtpConfigOfInstance('i1')).toBeUndefined();
    expect(((await store.snapshot()) as { smtpConfigs: unknown[] }).smtpConfigs).toEqual([]);
  });
});

describe('InMemoryProjectionStore keeping an added configuration as its event payload', () => {
  const payloadOf = (view: SmtpConfigView): SMTPConfigAddedData => ({
    id: view.id,
    senderAddress: view.senderAddress,
    senderName: view.senderName,
    tls: view.tls,
    host: view.host,
    user: view.user,
    ...(view.hasPassword ? { password: { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'k', crypted: 'x' } } : {}),
    replyToAddress: view.replyToAddress,
    description: view.description,
  });
  // Frozen, as an event store in memory keeps a payload (the read model keeps one that is not frozen as the row itself).
  const added = (view: SmtpConfigView, payload = payloadOf(view)): ReadModelChange => ({ kind: 'upsertSmtpConfig', config: view, [ADDED_FROM]: deepFreeze(payload) });

  it('answers every read with the row the projection made, as a store given the rows alone does', async () => {
    const rows = [row('i1', 'c1'), row('i2', 'c2', { hasPassword: false, tls: false }), row('i3', 'c3')];
    const kept = new InMemoryProjectionStore();
    const plain = new InMemoryProjectionStore();
    await kept.apply([{ kind: 'upsertInstance', instance: { id: 'i1', name: 'one', domains: [], sequence: 1n, creationDate: '2024-06-11T10:37:15.680Z' } }], at(1));
    await plain.apply([{ kind: 'upsertInstance', instance: { id: 'i1', name: 'one', domains: [], sequence: 1n, creationDate: '2024-06-11T10:37:15.680Z' } }], at(1));
    await kept.apply(rows.map((r) => added(r)), at(2));
    await plain.apply(rows.map(upsert), at(2));
    for (const r of rows) {
      expect(await kept.smtpConfigById(r.instanceId, r.id)).toEqual(r);
      expect(await kept.smtpConfigOfInstance(r.instanceId)).toEqual(r);
    }
    // Its password stays in the payload: no row read shows it, not even its encrypted form.
    expect(JSON.stringify(await kept.snapshot())).not.toContain('crypted');
    expect(await kept.snapshot()).toEqual(await plain.snapshot());
    await kept.apply([{ kind: 'patchSmtpConfig', instanceId: 'i1', id: 'c1', changes: { user: 'patched' }, sequence: 5n, changeDate: '2024-06-12T00:00:00.000Z' }], at(3));
    expect(await kept.smtpConfigById('i1', 'c1')).toEqual(row('i1', 'c1', { user: 'patched', sequence: 5n, changeDate: '2024-06-12T00:00:00.000Z' }));
  });

  it('keeps the row the projection made when its payload says otherwise', async () => {
    const store = new InMemoryProjectionStore();
    const view = row('i1', 'c1', { senderName: 'from the row' });
    await store.apply([added(view, { ...payloadOf(view), senderName: 'from the payload' }), upsert(row('i2', 'c2'))], at(1));
    expect(await store.smtpConfigById('i1', 'c1')).toEqual(view);
    const moved = row('i1', 'c3', { changeDate: '2024-06-12T00:00:00.000Z', resourceOwner: 'elsewhere' });
    await store.apply([added(moved), upsert(row('i2', 'c2'))], at(2));
    expect(await store.smtpConfigById('i1', 'c3')).toEqual(moved);
  });
});

describe('InMemoryProjectionStore fed by an event store that does not keep the payloads it hands over (EventStoreDB, SQLite, PostgreSQL)', () => {
  /** The heap the read model keeps per configuration, measured in a process of its own (see added-config-row-heap.mts). */
  const bytesPerConfig = (mode: 'view' | 'unshared' | 'frozen'): number => {
    const script = fileURLToPath(new URL('../support/added-config-row-heap.mts', import.meta.url));
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, mode], { encoding: 'utf8', timeout: 60_000 });
    return (JSON.parse(out) as { bytesPerConfig: number }).bytesPerConfig;
  };

  it('keeps no more per configuration than the row alone when the payload is a copy of its own (not frozen), as smtpConfigModule with EventStoreDB does', () => {
    const view = bytesPerConfig('view');
    const unshared = bytesPerConfig('unshared');
    // A payload nobody else keeps is a dozen more objects and strings (its encrypted password among them): no saving, a cost.
    expect(unshared).toBeLessThanOrEqual(view + 16);
    // Where the payload is shared with the event store beside it (frozen), the row is the saving this pass measured.
    expect(bytesPerConfig('frozen')).toBeLessThan(view / 2);
  }, 120_000);
});
