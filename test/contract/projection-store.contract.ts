import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryProjectionStore, type InstanceView, type PositionedChanges, type ProjectionStore, type ReadModelChange, type SmtpConfigView } from '../support/everything.js';

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

    it('forgets every row and the checkpoint on reset', async () => {
      await store.applyBatch(history);
      await store.reset();
      expect(await store.checkpoint()).toBeUndefined();
      expect(await store.instanceById('i1')).toBeUndefined();
      expect(await store.instanceByDomain('one.example.com')).toBeUndefined();
      expect(await store.smtpConfigById('i1', 'c1')).toBeUndefined();
      expect(await store.snapshot()).toEqual(await new InMemoryProjectionStore().snapshot());
    });
  });
};
