import { describe, expect, it } from 'vitest';
import {
  DomainError,
  handleCommand,
  Instance,
  parseAddSmtpConfigRequest,
  InMemoryEventStore,
  InMemoryProjectionStore,
  positionToString,
  smtpConfigProjection,
  type EventMetadata,
  type NewEvent,
} from '../support/everything.js';

const metadata = (instanceId: string, schemaVersion = 1): EventMetadata => ({
  instanceId,
  editorUserId: 'u',
  createdAt: '2024-06-11T10:37:15.680Z',
  correlationId: 'c',
  causationId: 'c',
  schemaVersion,
});
let n = 0;
const event = (type: string, data: unknown, instanceId: string, schemaVersion = 1): NewEvent => ({
  id: `00000000-0000-4000-8000-${(++n).toString(16).padStart(12, '0')}`,
  type,
  data,
  metadata: metadata(instanceId, schemaVersion),
});
const smtp = { senderAddress: 'a@example.com', senderName: 'A', tls: true, host: 'smtp.example.com:587', user: 'u', replyToAddress: '', description: 'd' };

describe('replay checks every payload', () => {
  it('stops at a malformed event, naming its position and field, and keeps everything before it', async () => {
    const events = new InMemoryEventStore();
    await events.appendToStream('instance-1', [event('instance.added', { name: 'one' }, '1')], 'no_stream');
    const bad = await events.appendToStream('instance-2', [event('instance.added', { name: 'two' }, '2'), event('instance.smtp.config.added', { ...smtp, id: 7 }, '2')], 'no_stream');
    await events.appendToStream('instance-3', [event('instance.added', { name: 'three' }, '3')], 'no_stream');
    const readModel = new InMemoryProjectionStore();
    const runner = smtpConfigProjection(events, readModel);
    runner.start();
    const error = await runner.waitForCaughtUp(5_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    await runner.stop();
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).id).toBe('EVENT-DEC-7m3q');
    expect((error as DomainError).message).toContain(`position ${positionToString(bad.position)} in stream instance-2`);
    expect((error as DomainError).violations).toEqual([expect.objectContaining({ field: 'data.id' })]);
    expect(runner.failure).toBe(error);
    // No broken row, nothing after the bad event, everything before it.
    expect(await readModel.smtpConfigById('2', '7')).toBeUndefined();
    expect(await readModel.instanceById('2')).toMatchObject({ name: 'two' });
    expect(await readModel.instanceById('3')).toBeUndefined();
    expect(await readModel.checkpoint()).toEqual((await events.readStream('instance-2')).events[0]!.position);
  });

  it('projects a legacy instance.smtp.config.added without id under the instance id', async () => {
    const events = new InMemoryEventStore();
    await events.appendToStream('instance-9', [event('instance.added', { name: 'nine' }, '9'), event('instance.smtp.config.added', smtp, '9', 0)], 'no_stream');
    const readModel = new InMemoryProjectionStore();
    const runner = smtpConfigProjection(events, readModel);
    runner.start();
    await runner.waitForCaughtUp(5_000);
    await runner.stop();
    expect(await readModel.smtpConfigById('9', '9')).toMatchObject({ id: '9', host: 'smtp.example.com:587', sequence: 2n });
  });

  it('the write side reads a legacy event the same way: a second configuration is refused', async () => {
    const events = new InMemoryEventStore();
    await events.appendToStream('instance-9', [event('instance.added', { name: 'nine' }, '9'), event('instance.smtp.config.added', smtp, '9', 0)], 'no_stream');
    const now = new Date('2024-06-11T10:37:15.680Z');
    const command = { type: 'AddSmtpConfig' as const, instanceId: '9', configId: 'new', config: parseAddSmtpConfigRequest({ ...smtp, password: '' }), password: undefined, now };
    const context = { instanceId: '9', editorUserId: 'u', commandId: 'c1', correlationId: 'c1', now };
    const error = await handleCommand(events, Instance, 'instance-9', command, context).catch((e: unknown) => e);
    expect((error as DomainError).id).toBe('COMMAND-en9lw');
  });

  it('the write side refuses to decide on a malformed stream', async () => {
    const events = new InMemoryEventStore();
    await events.appendToStream('instance-8', [event('instance.added', { name: 8 }, '8')], 'no_stream');
    const now = new Date('2024-06-11T10:37:15.680Z');
    const command = { type: 'AddSmtpConfig' as const, instanceId: '8', configId: 'new', config: parseAddSmtpConfigRequest({ ...smtp, password: '' }), password: undefined, now };
    const context = { instanceId: '8', editorUserId: 'u', commandId: 'c2', correlationId: 'c2', now };
    const error = await handleCommand(events, Instance, 'instance-8', command, context).catch((e: unknown) => e);
    expect((error as DomainError).id).toBe('EVENT-DEC-7m3q');
    expect((await events.readStream('instance-8')).events).toHaveLength(1);
  });
});
