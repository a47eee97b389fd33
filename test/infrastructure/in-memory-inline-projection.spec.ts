import { afterEach, describe, expect, it } from 'vitest';
import {
  catchUpReadModel,
  DomainError,
  ErrorKind,
  InMemoryEventStore,
  InMemoryProjectionStore,
  INSTANCE_STREAM_PREFIX,
  ProjectionRunner,
  projectEvent,
  type EventMetadata,
  type GlobalPosition,
  type PositionedChanges,
  type RecordedEvent,
} from '../support/everything.js';
import { createHarness, owner, seedRequest, type Harness, rebuiltSnapshot, runLifecycle, testMetadata as metadata } from '../support/fixtures.js';

/**
 * The in-memory inline projection (InMemoryEventStore.projectInline): an append that finds the read
 * model at the log's head applies its own events' changes in the same synchronous step; otherwise
 * the runner does. Either way the read model must equal a fresh rebuild from the events.
 */
describe('in-memory inline projection', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  /** Counts what the runner hands to the read model. */
  class CountingReadModel extends InMemoryProjectionStore {
    batches = 0;
    entries = 0;
    override async applyBatch(batch: readonly PositionedChanges[]): Promise<void> {
      this.batches++;
      this.entries += batch.length;
      return super.applyBatch(batch);
    }
  }

  const open = (options: { inline?: boolean } = {}) => {
    const events = new InMemoryEventStore();
    const readModel = new CountingReadModel();
    const h = createHarness({ events, readModel, ...options });
    cleanup.push(() => h.close());
    return { events, readModel, h };
  };



  it('writes the rows in the append itself: with the runner stopped, every command still reads its own write, equal to a rebuild', async () => {
    const { h, events, readModel } = open();
    await h.runner.waitForCaughtUp(5_000);
    await h.runner.stop();

    const instanceId = await h.newInstance('inline');
    expect((await readModel.instanceById(instanceId))?.domains).toEqual(['inline.example.com']);
    const added = await runLifecycle(h, instanceId);
    const row = await readModel.smtpConfigById(instanceId, added.id);
    expect(row).toMatchObject({ host: 'smtp.example.com:465', senderName: 'Changed', hasPassword: true, sequence: BigInt(added.details.sequence) + 1n });
    expect(row!.changeDate > row!.creationDate).toBe(true);
    // The claim streams the projection ignores moved the checkpoint too, so no append fell behind.
    expect(await readModel.checkpoint()).toEqual(await events.headPosition());
    expect(readModel.batches).toBe(0);
    expect(await readModel.snapshot()).toEqual(await rebuiltSnapshot(events));
  });

  it('with the runner following, decides and applies nothing twice: the runner hands the read model no batch for inline appends', async () => {
    const { h, events, readModel } = open();
    await h.runner.waitForCaughtUp(5_000);
    const instances = [];
    for (let i = 0; i < 5; i++) instances.push(await h.newInstance(`follow${i}`));
    for (const instanceId of instances) await runLifecycle(h, instanceId);
    const head = (await events.headPosition())!;
    await h.runner.waitFor(head, 5_000);
    // Let the runner pass every event of the feed.
    for (let i = 0; i < 5 && (!h.runner.position || h.runner.position.commit < head.commit); i++) await new Promise((r) => setTimeout(r, 10));
    expect(h.runner.position).toEqual(head);
    expect(readModel.batches).toBe(0);
    expect(await readModel.snapshot()).toEqual(await rebuiltSnapshot(events));
  });

  it('leaves the events to the runner while the read model lags, and goes inline again once it has caught up', async () => {
    // Events written before the read model was there (a store loaded from elsewhere): it starts behind the head.
    const events = new InMemoryEventStore();
    await events.appendToStream('instance-other', [{ id: '00000000-0000-4000-8000-00000000aaaa', type: 'instance.added', data: { name: 'other' }, metadata: metadata('other') }], 'no_stream');
    const readModel = new CountingReadModel();
    const h = createHarness({ events, readModel });
    cleanup.push(() => h.close());
    await h.runner.stop();

    const second = await h.newInstance('second');
    expect(await readModel.instanceById(second)).toBeUndefined();
    expect(await readModel.checkpoint()).toBeUndefined();

    h.runner.start();
    await h.runner.waitForCaughtUp(5_000);
    await h.runner.waitFor((await events.headPosition())!, 5_000);
    expect(await readModel.instanceById('other')).toMatchObject({ name: 'other' });
    expect(await readModel.instanceById(second)).toBeDefined();
    const batches = readModel.batches;
    expect(batches).toBeGreaterThan(0);
    await h.runner.stop();

    const third = await h.newInstance('third');
    expect(await readModel.instanceById(third)).toBeDefined();
    expect(readModel.batches).toBe(batches);
    expect(await readModel.snapshot()).toEqual(await rebuiltSnapshot(events));
  });

  it('after a rebuild in place, projects what came before it through the runner and what comes after inline, equal to a fresh rebuild', async () => {
    const { h, events, readModel } = open();
    await h.runner.waitForCaughtUp(5_000);
    const before = await h.newInstance('before');
    await runLifecycle(h, before);
    await h.runner.rebuild(5_000);
    const batches = readModel.batches;
    expect(batches).toBeGreaterThan(0);
    const after = await h.newInstance('after');
    await runLifecycle(h, after);
    await h.runner.waitFor((await events.headPosition())!, 5_000);
    expect(readModel.batches).toBe(batches);
    expect(await readModel.snapshot()).toEqual(await rebuiltSnapshot(events));
  });

  it('leaves an event the handler refuses to the runner, which stops just before it; nothing after it goes inline', async () => {
    const events = new InMemoryEventStore();
    const readModel = new InMemoryProjectionStore();
    let refused: RecordedEvent | undefined;
    const handler = (event: RecordedEvent) => {
      if ((event.data as { name?: string }).name === 'refused') {
        refused = event;
        throw new DomainError(ErrorKind.Internal, 'EVENT-DEC-7m3q', 'Errors.Event.Malformed', 'refused by the test');
      }
      return projectEvent(event);
    };
    const runner = new ProjectionRunner(events, readModel, { handler, streamPrefixes: [INSTANCE_STREAM_PREFIX] });
    const reports: GlobalPosition[] = [];
    events.projectInline(readModel, {
      handler,
      streamPrefixes: [INSTANCE_STREAM_PREFIX],
      onProjected: (p) => {
        reports.push(p);
        runner.reached(p);
      },
    });
    cleanup.push(async () => {
      await runner.stop();
      await events.close();
    });
    const add = (id: string, name: string) =>
      events.appendToStream(`instance-${id}`, [{ id: `00000000-0000-4000-8000-${id.padStart(12, '0')}`, type: 'instance.added', data: { name }, metadata: metadata(id) }], 'no_stream');

    const a = await add('1', 'good');
    expect(reports).toEqual([a.position]);
    expect(await readModel.checkpoint()).toEqual(a.position);

    const b = await add('2', 'refused');
    expect(refused?.position).toEqual(b.position);
    expect(reports).toEqual([a.position]);
    expect(await readModel.checkpoint()).toEqual(a.position);
    const c = await add('3', 'after');
    expect(reports).toEqual([a.position]);
    expect(await readModel.instanceById('3')).toBeUndefined();

    runner.start();
    await expect(runner.waitForCaughtUp(5_000)).rejects.toMatchObject({ id: 'EVENT-DEC-7m3q' });
    expect(runner.failure).toMatchObject({ id: 'EVENT-DEC-7m3q' });
    expect(await readModel.checkpoint()).toEqual(a.position);
    expect(await readModel.instanceById('1')).toMatchObject({ name: 'good' });
    expect(await readModel.instanceById('3')).toBeUndefined();
    expect(c.position.commit).toBeGreaterThan(b.position.commit);
  });

  it('answers an append whose listener throws as done: the rows are written and the append is in the log', async () => {
    const events = new InMemoryEventStore();
    const readModel = new InMemoryProjectionStore();
    events.projectInline(readModel, {
      handler: projectEvent,
      onProjected: () => {
        throw new Error('listener broke');
      },
    });
    cleanup.push(() => events.close());
    const appended = await events.appendToStream(
      'instance-9',
      [{ id: '00000000-0000-4000-8000-000000000009', type: 'instance.added', data: { name: 'nine' }, metadata: metadata('9') }],
      'no_stream',
    );
    expect((await events.readStream('instance-9')).events).toHaveLength(1);
    expect(await readModel.instanceById('9')).toMatchObject({ name: 'nine' });
    expect(await readModel.checkpoint()).toEqual(appended.position);
  });

  it('projects an append with any revision expected, at the revisions the events get', async () => {
    const events = new InMemoryEventStore();
    const readModel = new InMemoryProjectionStore();
    events.projectInline(readModel, { handler: projectEvent, streamPrefixes: [INSTANCE_STREAM_PREFIX] });
    cleanup.push(() => events.close());
    await events.appendToStream('instance-5', [{ id: '00000000-0000-4000-8000-000000000051', type: 'instance.added', data: { name: 'five' }, metadata: metadata('5') }], 'any');
    await events.appendToStream(
      'instance-5',
      [{ id: '00000000-0000-4000-8000-000000000052', type: 'instance.domain.added', data: { domain: 'five.example.com', generated: false }, metadata: metadata('5') }],
      'any',
    );
    expect(await readModel.instanceById('5')).toMatchObject({ name: 'five', domains: ['five.example.com'], sequence: 2n });
    expect(await readModel.snapshot()).toEqual(await rebuiltSnapshot(events));
  });

  it('writes nothing inline when the harness is told not to: the runner alone projects, to the same read model', async () => {
    const { h, events, readModel } = open({ inline: false });
    await h.runner.waitForCaughtUp(5_000);
    const instanceId = await h.newInstance('runner');
    await runLifecycle(h, instanceId);
    expect(readModel.batches).toBeGreaterThan(0);
    expect(await readModel.snapshot()).toEqual(await rebuiltSnapshot(events));
  });

  it('still delivers inline appends to every subscriber, in log order with the appends that did not go inline, on the next turn at the latest', async () => {
    const events = new InMemoryEventStore();
    const readModel = new InMemoryProjectionStore();
    events.projectInline(readModel, { handler: projectEvent, streamPrefixes: [INSTANCE_STREAM_PREFIX] });
    cleanup.push(() => events.close());
    const abort = new AbortController();
    const seen: bigint[] = [];
    const following = (async () => {
      for await (const item of events.subscribeToAll({ signal: abort.signal })) {
        if (item.kind === 'event') seen.push(item.event.position.commit);
        if (seen.length === 4) return;
      }
    })();
    const add = (id: string, stream = `instance-${id}`) =>
      events.appendToStream(stream, [{ id: `00000000-0000-4000-8000-${id.padStart(12, '0')}`, type: 'instance.added', data: { name: id }, metadata: metadata(id) }], 'no_stream');
    await add('1');
    await add('2');
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([0n, 1n]);
    // A read model moved elsewhere no longer stands at the head: this append is not projected inline and wakes subscribers at once.
    await readModel.reset();
    await add('3');
    await add('4');
    await new Promise((resolve) => setImmediate(resolve));
    await following;
    abort.abort();
    expect(seen).toEqual([0n, 1n, 2n, 3n]);
    expect(await readModel.instanceById('3')).toBeUndefined();
  });

  it('reads back the row just written, and not once it is changed or removed', async () => {
    const { h, readModel } = open();
    await h.runner.waitForCaughtUp(5_000);
    const instanceId = await h.newInstance('readback');
    const principal = owner(instanceId);
    const { id } = await h.addSmtpConfig.execute({ principal, instanceId, body: seedRequest });
    expect(await readModel.smtpConfigById(instanceId, id)).toMatchObject({ description: seedRequest.description });
    expect(await readModel.smtpConfigById(instanceId, 'another')).toBeUndefined();
    expect(await readModel.smtpConfigById('another', id)).toBeUndefined();
    await h.updateSmtpConfig.execute({ principal, instanceId, id, body: { ...seedRequest, description: 'changed' } });
    expect(await readModel.smtpConfigById(instanceId, id)).toMatchObject({ description: 'changed' });
    await h.removeSmtpConfig.execute({ principal, instanceId, id });
    expect(await readModel.smtpConfigById(instanceId, id)).toBeUndefined();
    const again = await h.addSmtpConfig.execute({ principal, instanceId, body: seedRequest });
    await readModel.reset();
    expect(await readModel.smtpConfigById(instanceId, again.id)).toBeUndefined();
  });

  it('tells whether a position is processed: by the runner, or by an inline append it was told of', async () => {
    const { h, events } = open();
    await h.runner.waitForCaughtUp(5_000);
    await h.runner.stop();
    const before = await events.headPosition();
    expect(before).toBeUndefined();
    await h.newInstance('processed');
    const head = (await events.headPosition())!;
    expect(h.runner.hasProcessed(head)).toBe(true);
    expect(h.runner.hasProcessed({ commit: head.commit + 1n, prepare: head.prepare + 1n })).toBe(false);

    const { h: other, events: otherEvents } = open({ inline: false });
    await other.runner.stop();
    await other.newInstance('runner');
    const otherHead = (await otherEvents.headPosition())!;
    expect(other.runner.hasProcessed(otherHead)).toBe(false);
    other.runner.start();
    await other.runner.waitFor(otherHead, 5_000);
    expect(other.runner.hasProcessed(otherHead)).toBe(true);
  });
});
