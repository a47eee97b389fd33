import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DomainError,
  domainClaimStreamId,
  instanceStreamId,
  ORPHANED_CLAIM_AFTER_MS,
  SetUpInstanceUseCase,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
} from '../../src/index.js';
import { storeAdapters, type StoreUnderTest } from '../support/adapters.js';
import { ManualClock, SequentialIds } from '../support/fixtures.js';

const rejection = async (promise: Promise<unknown>): Promise<DomainError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DomainError)) throw new Error(`expected a DomainError, got ${String(error)}`);
  return error;
};

describe.each(storeAdapters)('setting up instances with their domains on the $name store', (adapter) => {
  let t: StoreUnderTest;
  let clock: ManualClock;
  let setUp: SetUpInstanceUseCase;
  let domain: string;
  beforeEach(async () => {
    t = await adapter.create();
    clock = new ManualClock();
    setUp = new SetUpInstanceUseCase({ events: t.store, clock, ids: new SequentialIds(69629023906488334n + BigInt(Date.now()) * 1000n) });
    domain = `d${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.example.com`;
  });
  afterEach(() => t.close());

  it('refuses a domain that another instance has, and writes nothing for the refused one', async () => {
    const first = await setUp.execute({ name: 'first', domains: [domain.toUpperCase()] });
    expect(first.domains).toEqual([domain]);
    const error = await rejection(setUp.execute({ name: 'second', domains: [`other-${domain}`, domain], instanceId: 'second-id' }));
    expect([error.kind, error.id]).toEqual(['AlreadyExists', 'INST-dom-5tk2']);
    expect(error.message).toContain(domain);
    expect((await t.store.readStream(instanceStreamId('second-id'))).currentRevision).toBeUndefined();
    // The domain it had claimed before the refusal is free again.
    const third = await setUp.execute({ name: 'third', domains: [`other-${domain}`] });
    expect(third.domains).toEqual([`other-${domain}`]);
  });

  it('gives a domain to exactly one of many instances racing for it', async () => {
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => setUp.execute({ name: `racer${i}`, domains: [domain] })));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as DomainError] : []));
    expect(won).toHaveLength(1);
    expect(lost.map((e) => e.id)).toEqual(Array(7).fill('INST-dom-5tk2'));
  });

  it('refuses a bad name or domain before claiming anything', async () => {
    const error = await rejection(setUp.execute({ name: ' ', domains: [domain, 'not a domain'], instanceId: 'bad-id' }));
    expect([error.kind, error.id]).toEqual(['InvalidArgument', 'INST-VAL-8fk2']);
    expect(error.violations.map((v) => v.field)).toEqual(['name', 'domains']);
    expect((await t.store.readStream(domainClaimStreamId(domain))).currentRevision).toBeUndefined();
  });

  it('takes over a claim whose instance was never written, once it is old enough', async () => {
    // A set-up that crashed after claiming: the claim is there, the instance is not.
    const crashed = new SetUpInstanceUseCase({ events: failingInstanceAppends(t.store), clock, ids: new SequentialIds() });
    await expect(crashed.execute({ name: 'crashed', domains: [domain], instanceId: 'crashed-id' })).rejects.toThrow('disk gone');
    // It could not release its claim either (the store double fails every later append too).
    expect((await t.store.readStream(domainClaimStreamId(domain))).events.at(-1)?.type).toBe('instance.domain.claimed');
    await expect(setUp.execute({ name: 'early', domains: [domain] })).rejects.toMatchObject({ id: 'INST-dom-5tk2' });
    clock.advance(ORPHANED_CLAIM_AFTER_MS);
    const later = await setUp.execute({ name: 'later', domains: [domain] });
    expect(later.domains).toEqual([domain]);
  });
});

/** A store whose appends work until the first append to an instance stream, and fail from then on. */
const failingInstanceAppends = (store: EventStore): EventStore => {
  let broken = false;
  return {
    readStream: (s) => store.readStream(s),
    subscribeToAll: (o) => store.subscribeToAll(o),
    headPosition: () => store.headPosition(),
    close: async () => undefined,
    async appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
      if (streamId.startsWith('instance-')) broken = true;
      if (broken) throw new Error('disk gone');
      return store.appendToStream(streamId, events, expected);
    },
  };
};

