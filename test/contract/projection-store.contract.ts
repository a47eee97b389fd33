import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deepFreeze, InMemoryProjectionStore, projectEvent, type InstanceView, type RecordedEvent, type PositionedChanges, type ProjectionStore, type ReadModelChange, type SmtpConfigPatch, type SmtpConfigView } from '../support/everything.js';

export interface ProjectionStoreAdapter {
  readonly name: string;
  create(): Promise<{ store: ProjectionStore; close(): Promise<void> }>;
}

const at = (n: number) => ({ commit: BigInt(n), prepare: BigInt(n) });
const instance = (id: string, sequence = 1n): ReadModelChange => ({
  kind: 'upsertInstance',
  instance: { id, name: `name of ${id}`, domains: [], sequence, creationDate: '2024-06-11T10:37:15.680Z' },
});
const domain = (instanceId: string, d: string, sequence: bigint): ReadModelChange => ({ kind: 'addInstanceDomain', instanceId, domain: d, sequence });
const config = (instanceId: string, id: string, overrides: Partial<SmtpConfigView> = {}): ReadModelChange => ({
  kind: 'upsertSmtpConfig',
  config: {
    instanceId,
    id,
    senderAddress: 'noreply@example.com',
    senderName: 'Sender ü 😀',
    tls: true,
    host: 'smtp.example.com:587',
    user: 'user',
    replyToAddress: '',
    description: "it's \"quoted\"",
    hasPassword: true,
    sequence: 4n,
    creationDate: '2024-06-11T10:37:15.680Z',
    changeDate: '2024-06-11T10:37:15.680Z',
    resourceOwner: instanceId,
    ...overrides,
  },
});
const history: PositionedChanges[] = [
  { changes: [instance('i1')], position: at(1) },
  { changes: [domain('i1', 'one.example.com', 2n)], position: at(2) },
  { changes: [domain('i1', 'login.one.example.com', 3n)], position: at(3) },
  { changes: [], position: at(4) }, // an event the projection ignores
  { changes: [config('i1', 'c1')], position: at(5) },
  { changes: [instance('i2')], position: at(6) },
  { changes: [domain('i2', 'two.example.com', 2n)], position: at(7) },
];

const patch = (instanceId: string, id: string, changes: SmtpConfigPatch, sequence: bigint): ReadModelChange => ({
  kind: 'patchSmtpConfig',
  instanceId,
  id,
  changes,
  sequence,
  changeDate: `2024-06-12T00:00:0${sequence % 10n}.000Z`,
});
const remove = (instanceId: string, id: string): ReadModelChange => ({ kind: 'removeSmtpConfig', instanceId, id });
/** Every kind of change, with patches and removals, a re-add, and patches of missing rows. */
const lifecycle: PositionedChanges[] = [
  ...history,
  { changes: [patch('i1', 'c1', { host: 'smtp.example.com:465', tls: false }, 5n)], position: at(8) },
  { changes: [patch('i1', 'c1', { hasPassword: false }, 6n)], position: at(9) },
  { changes: [config('i2', 'c2', { sequence: 3n })], position: at(10) },
  { changes: [remove('i2', 'c2')], position: at(11) },
  { changes: [config('i2', 'c3', { sequence: 5n, senderName: 'again' })], position: at(12) },
  { changes: [patch('i2', 'c3', { description: 'changed' }, 6n)], position: at(13) },
  { changes: [patch('i2', 'c2', { description: 'after removal' }, 7n), patch('i9', 'c9', { user: 'ghost' }, 2n)], position: at(14) },
];


/** An instance added again (a replayed or repaired stream): it keeps its domains and takes the new ones after them. */
const instanceAgain: PositionedChanges[] = [
  ...history,
  { changes: [instance('i1', 5n), domain('i1', 'new.example.com', 6n), domain('i1', 'one.example.com', 7n), domain('i1', 'new.example.com', 8n)], position: at(8) },
  { changes: [instance('i3'), domain('i3', 'two.example.com', 2n), domain('i3', 'three.example.com', 3n)], position: at(9) },
];


/**
 * A history as the projection itself makes it from recorded events: its upserts carry the added
 * event's payload (ADDED_FROM), which a store may keep instead of the row; a configuration before
 * its instance (an orphan), an upcast one (schemaVersion 0), patches, a removal and a re-add.
 */
const projected = (): PositionedChanges[] => {
  const password = { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'k', crypted: 'NEVER-SHOWN' };
  const added = (id: string, extra: object = {}) => ({
    id,
    senderAddress: 'noreply@example.com',
    senderName: 'Sender',
    tls: true,
    host: 'smtp.example.com:587',
    user: 'user',
    password,
    replyToAddress: '',
    description: 'd',
    ...extra,
  });
  const events: [instanceId: string, type: string, data: object, schemaVersion?: number][] = [
    ['i5', 'instance.smtp.config.added', added('c5')],
    ['i1', 'instance.added', { name: 'one' }],
    ['i1', 'instance.smtp.config.added', added('c1')],
    ['i5', 'instance.added', { name: 'five' }],
    ['i1', 'instance.smtp.config.changed', { id: 'c1', host: 'smtp.example.com:465' }],
    ['i2', 'instance.added', { name: 'two' }],
    ['i2', 'instance.smtp.config.added', (({ id: _id, password: _p, ...v0 }) => v0)(added('x')), 0],
    ['i1', 'instance.smtp.config.removed', { id: 'c1' }],
    ['i1', 'instance.smtp.config.added', added('c3', { tls: false })],
    ['i1', 'instance.smtp.config.password.changed', { id: 'c3', password }],
  ];
  const revisions = new Map<string, bigint>();
  return events.map(([instanceId, type, data, schemaVersion = 1], i) => {
    const revision = revisions.get(instanceId) ?? 0n;
    revisions.set(instanceId, revision + 1n);
    const position = at(i + 1);
    const createdAt = `2024-06-11T10:37:${String(10 + i)}.000Z`;
    const record: RecordedEvent = deepFreeze({
      id: `00000000-0000-8000-8000-${String(i + 1).padStart(12, '0')}`,
      streamId: `instance-${instanceId}`,
      revision,
      position,
      type,
      data,
      metadata: { instanceId, editorUserId: 'u', createdAt, correlationId: 'c', causationId: 'c', schemaVersion },
    });
    return { changes: projectEvent(record), position };
  });
};

/** The histories of this contract, for stores that apply changes another way too (PostgreSQL's inline projection). */
export const contractHistories: Readonly<Record<string, readonly PositionedChanges[]>> = { history, lifecycle, instanceAgain, projected: projected() };

/** The read model port's contract: every store answers like the in-memory one. */
export const projectionStoreContract = (adapter: ProjectionStoreAdapter): void => {
  describe(`projection store contract: ${adapter.name}`, () => {
    let t: Awaited<ReturnType<ProjectionStoreAdapter['create']>>;
    let store: ProjectionStore;
    beforeEach(async () => {
      t = await adapter.create();
      store = t.store;
    });
    afterEach(() => t.close());

    it('starts empty, with no checkpoint', async () => {
      expect(await store.checkpoint()).toBeUndefined();
      expect(await store.instanceById('i1')).toBeUndefined();
      expect(await store.instanceByDomain('one.example.com')).toBeUndefined();
      expect(await store.smtpConfigById('i1', 'c1')).toBeUndefined();
    });

    it('answers lookups by domain made at the same time each with its own instance', async () => {
      await store.applyBatch(history);
      // Asked together (a store may answer them with one query): cases differ, one repeats, one is unknown.
      const domains = ['one.example.com', 'TWO.example.com', 'LOGIN.one.example.com', 'ghost.example.com', 'one.example.com', ...Array.from({ length: 20 }, (_, i) => `n${i}.example.com`)];
      const found = await Promise.all(domains.map((d) => store.instanceByDomain(d)));
      expect(found.map((i) => i?.id)).toEqual(['i1', 'i2', 'i1', undefined, 'i1', ...Array.from({ length: 20 }, () => undefined)]);
      const alone = await Promise.all(domains.slice(0, 4).map(async (d) => (await store.instanceByDomain(d))?.id));
      expect(alone).toEqual(['i1', 'i2', 'i1', undefined]);
    });

    it.each([
      ['a NUL', 'a\u0000b'],
      ['a lone surrogate', 'a\ud800b'],
    ])('answers keys with %s as not found, alone and beside reads of keys that exist', async (_what, bad) => {
      await store.applyBatch([...history, { changes: [config('i2', 'c2'), config('i1', 'a\ufffdb'), instance('a\ufffdb')], position: at(8) }]);
      // Alone: every read that takes a caller's key.
      expect(await store.smtpConfigById('i1', bad)).toBeUndefined();
      expect(await store.smtpConfigById(bad, 'c1')).toBeUndefined();
      expect(await store.smtpConfigOfInstance(bad)).toBeUndefined();
      expect(await store.instanceById(bad)).toBeUndefined();
      expect(await store.instanceByDomain(`${bad}.example.com`)).toBeUndefined();
      // Asked together with reads of keys that exist (a store may answer them with one query).
      const configs = await Promise.all([['i1', 'c1'], ['i1', bad], ['i2', 'c2'], [bad, 'c1'], ['i1', 'c1']].map(([i, c]) => store.smtpConfigById(i!, c!)));
      expect(configs.map((c) => c && `${c.instanceId}/${c.id}`)).toEqual(['i1/c1', undefined, 'i2/c2', undefined, 'i1/c1']);
      const domains = await Promise.all(['one.example.com', `${bad}.example.com`, 'two.example.com'].map((d) => store.instanceByDomain(d)));
      expect(domains.map((i) => i?.id)).toEqual(['i1', undefined, 'i2']);
    });

    it('applies a batch and answers every query from it, the checkpoint at the last position', async () => {
      await store.applyBatch(history);
      expect(await store.checkpoint()).toEqual(at(7));
      const i1: InstanceView = { id: 'i1', name: 'name of i1', domains: ['one.example.com', 'login.one.example.com'], sequence: 3n, creationDate: '2024-06-11T10:37:15.680Z' };
      expect(await store.instanceById('i1')).toEqual(i1);
      expect(await store.instanceByDomain('LOGIN.one.example.com')).toEqual(i1);
      expect(await store.smtpConfigById('i1', 'c1')).toEqual((config('i1', 'c1') as { config: SmtpConfigView }).config);
      expect(await store.smtpConfigById('i2', 'c1')).toBeUndefined();
      const listed: string[] = [];
      for await (const i of store.instances()) listed.push(i.id);
      expect(listed).toEqual(['i1', 'i2']);
    });

    it('gives the same snapshot as the in-memory store, batch by batch or event by event', async () => {
      for (const entry of history) await store.apply(entry.changes, entry.position);
      const reference = new InMemoryProjectionStore();
      await reference.applyBatch(history);
      expect(await store.snapshot()).toEqual(await reference.snapshot());
    });

    it('skips what it has applied already, so a redelivered or overlapping batch changes nothing twice', async () => {
      await store.applyBatch(history.slice(0, 3));
      await store.applyBatch(history.slice(1, 5));
      await store.applyBatch([{ changes: [domain('i1', 'late.example.com', 9n)], position: at(3) }]);
      const reference = new InMemoryProjectionStore();
      await reference.applyBatch(history.slice(0, 5));
      expect(await store.snapshot()).toEqual(await reference.snapshot());
      expect((await store.instanceById('i1'))!.domains).not.toContain('late.example.com');
    });

    it('keeps a domain once per instance and lets a later claim of a domain point to its new instance', async () => {
      await store.applyBatch([
        ...history,
        { changes: [domain('i1', 'one.example.com', 4n)], position: at(8) },
        { changes: [domain('i2', 'one.example.com', 3n)], position: at(9) },
        { changes: [domain('nobody', 'ghost.example.com', 2n)], position: at(10) },
      ]);
      expect((await store.instanceById('i1'))!.domains).toEqual(['one.example.com', 'login.one.example.com']);
      expect((await store.instanceByDomain('one.example.com'))!.id).toBe('i2');
      expect(await store.instanceByDomain('ghost.example.com')).toBeUndefined();
      expect(await store.instanceById('nobody')).toBeUndefined();
    });

    it('points a domain to the instance that added it last, when that one is new in the batch and the earlier one is not', async () => {
      await store.applyBatch(history);
      // i1 comes from an earlier batch; i4 is set up in this one, after i1 added the same domain.
      const moved: PositionedChanges[] = [
        { changes: [domain('i1', 'moved.example.com', 4n)], position: at(8) },
        { changes: [instance('i4'), domain('i4', 'moved.example.com', 2n)], position: at(9) },
      ];
      await store.applyBatch(moved);
      expect((await store.instanceByDomain('moved.example.com'))?.id).toBe('i4');
      const reference = new InMemoryProjectionStore();
      await reference.applyBatch(history);
      await reference.applyBatch(moved);
      expect(await store.snapshot()).toEqual(await reference.snapshot());
    });

    it('keeps the domains of an instance added again and appends the new ones, once each, in order', async () => {
      const reference = new InMemoryProjectionStore();
      await reference.applyBatch(instanceAgain);
      await store.applyBatch(instanceAgain);
      expect(await store.snapshot()).toEqual(await reference.snapshot());
      expect((await store.instanceById('i1'))!.domains).toEqual(['one.example.com', 'login.one.example.com', 'new.example.com']);
      expect((await store.instanceByDomain('two.example.com'))!.id).toBe('i3');
      await store.reset();
      for (const entry of instanceAgain) await store.apply(entry.changes, entry.position);
      expect(await store.snapshot()).toEqual(await reference.snapshot());
    });

    it('moves the checkpoint alone for ignored events, and only forward', async () => {
      await store.saveCheckpoint(at(3));
      await store.saveCheckpoint(at(2));
      expect(await store.checkpoint()).toEqual(at(3));
      await store.apply([instance('i9')], at(3));
      expect(await store.instanceById('i9')).toBeUndefined();
    });

    it('orders positions by commit, then prepare', async () => {
      await store.apply([instance('a')], { commit: 10n, prepare: 5n });
      await store.apply([instance('b')], { commit: 10n, prepare: 4n });
      await store.apply([instance('c')], { commit: 10n, prepare: 6n });
      expect([await store.instanceById('a'), await store.instanceById('b'), await store.instanceById('c')].map((v) => v?.id)).toEqual(['a', undefined, 'c']);
      expect(await store.checkpoint()).toEqual({ commit: 10n, prepare: 6n });
    });

    it('patches a configuration row: the changed fields, its sequence and change date, nothing else', async () => {
      await store.applyBatch(lifecycle.slice(0, 9));
      expect(await store.smtpConfigById('i1', 'c1')).toEqual({
        ...(config('i1', 'c1') as { config: SmtpConfigView }).config,
        host: 'smtp.example.com:465',
        tls: false,
        hasPassword: false,
        sequence: 6n,
        changeDate: '2024-06-12T00:00:06.000Z',
      });
    });

    it('drops a removed row, adds the next one and leaves patches of missing rows without effect', async () => {
      await store.applyBatch(lifecycle);
      expect(await store.smtpConfigById('i2', 'c2')).toBeUndefined();
      expect(await store.smtpConfigById('i9', 'c9')).toBeUndefined();
      expect(await store.smtpConfigOfInstance('i2')).toMatchObject({ id: 'c3', senderName: 'again', description: 'changed', sequence: 6n });
      expect(await store.smtpConfigOfInstance('i1')).toMatchObject({ id: 'c1' });
      expect(await store.smtpConfigOfInstance('nobody')).toBeUndefined();
    });

    it('gives the in-memory snapshot for the whole lifecycle, applied in one batch, event by event or in two halves', async () => {
      const reference = new InMemoryProjectionStore();
      for (const entry of lifecycle) await reference.apply(entry.changes, entry.position);
      await store.applyBatch(lifecycle);
      expect(await store.snapshot()).toEqual(await reference.snapshot());
      await store.reset();
      for (const entry of lifecycle) await store.apply(entry.changes, entry.position);
      expect(await store.snapshot()).toEqual(await reference.snapshot());
      await store.reset();
      await store.applyBatch(lifecycle.slice(0, 11));
      await store.applyBatch(lifecycle.slice(11));
      expect(await store.snapshot()).toEqual(await reference.snapshot());
    });

    it('applies a removal and a re-add of the same id within one batch in order', async () => {
      await store.applyBatch([
        ...history,
        { changes: [remove('i1', 'c1'), config('i1', 'c1', { senderName: 'second', sequence: 9n })], position: at(8) },
        { changes: [patch('i1', 'c1', { user: 'u2' }, 10n), remove('i1', 'c1')], position: at(9) },
        { changes: [config('i1', 'c1', { senderName: 'third', sequence: 11n })], position: at(10) },
      ]);
      expect(await store.smtpConfigById('i1', 'c1')).toMatchObject({ senderName: 'third', user: 'user', sequence: 11n });
    });

    it('forgets every row and the checkpoint on reset', async () => {
      await store.applyBatch(history);
      await store.reset();
      expect(await store.checkpoint()).toBeUndefined();
      expect(await store.instanceById('i1')).toBeUndefined();
      expect(await store.instanceByDomain('one.example.com')).toBeUndefined();
      expect(await store.smtpConfigById('i1', 'c1')).toBeUndefined();
      expect(await store.snapshot()).toEqual(await new InMemoryProjectionStore().snapshot());
    });

    it("reads a history the projection made (its added events' payloads beside the rows) as a store given the rows alone", async () => {
      const changes = projected();
      for (const entry of changes) await store.apply(entry.changes, entry.position);
      // The reference is given copies of the changes: a spread leaves the payload out (or it is not enumerable), so it keeps the rows themselves.
      const reference = new InMemoryProjectionStore();
      await reference.applyBatch(changes.map(({ changes: c, position }) => ({ changes: c.map((x) => ({ ...x })), position })));
      const snapshot = await store.snapshot();
      expect(snapshot).toEqual(await reference.snapshot());
      expect(JSON.stringify(snapshot)).not.toContain('NEVER-SHOWN');
      for (const [instanceId, id] of [['i5', 'c5'], ['i1', 'c1'], ['i2', 'i2'], ['i1', 'c3']] as const) {
        expect(await store.smtpConfigById(instanceId, id)).toEqual(await reference.smtpConfigById(instanceId, id));
      }
      for (const instanceId of ['i1', 'i2', 'i5']) expect(await store.smtpConfigOfInstance(instanceId)).toEqual(await reference.smtpConfigOfInstance(instanceId));
      expect(await store.smtpConfigById('i1', 'c3')).toMatchObject({ hasPassword: true, tls: false, sequence: 6n });
      expect(await store.smtpConfigById('i2', 'i2')).toMatchObject({ hasPassword: false, sequence: 2n });
      // Rebuilt from nothing, the same again.
      await store.reset();
      await store.applyBatch(changes);
      expect(await store.snapshot()).toEqual(snapshot);
    });
  });
};
