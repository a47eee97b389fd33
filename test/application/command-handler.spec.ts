import { deepStrictEqual } from 'node:assert';
import { inspect } from 'node:util';
import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  deriveEventId,
  DomainError,
  EVENT_SCHEMA_VERSION,
  handleCommand,
  Instance,
  instanceStreamId,
  parseAddSmtpConfigRequest,
  WrongExpectedRevisionError,
  type AddSmtpConfig,
  type CommandContext,
  type Decider,
  type InstanceEvent,
} from '../../src/index.js';
import { InMemoryEventStore } from '../support/everything.js';
import { seedRequest } from '../support/fixtures.js';
import { ScriptedEventStore } from '../support/scripted-event-store.js';

const instanceId = '69629023906488334';
const streamId = instanceStreamId(instanceId);
const now = new Date('2024-06-11T10:37:15.680Z');
const context: CommandContext = { instanceId, editorUserId: 'user-7', commandId: 'cmd-1', correlationId: 'corr-1', now };
const { password: _plain, ...config } = parseAddSmtpConfigRequest(seedRequest);
const addSmtp = (configId = '42'): AddSmtpConfig => ({ type: 'AddSmtpConfig', instanceId, configId, config, password: undefined, now });
const metadata = { instanceId, editorUserId: 'setup', createdAt: now.toISOString(), correlationId: 'c', causationId: 'c', schemaVersion: 1 };
const event = (id: string, e: InstanceEvent) => ({ id, type: e.type, data: e.data, metadata });

const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
};

describe('command handler', () => {
  let store: ScriptedEventStore;

  beforeEach(async () => {
    store = new ScriptedEventStore();
    await store.inner.appendToStream(
      streamId,
      [
        event('00000000-0000-8000-8000-000000000001', { type: 'instance.added', data: { name: 'acme' } }),
        event('00000000-0000-8000-8000-000000000002', { type: 'instance.domain.added', data: { domain: 'acme.example.com', generated: true } }),
      ],
      'no_stream',
    );
  });

  it('returns the aggregate sequence after the new event (stream revision + 1)', async () => {
    const result = await handleCommand(store, Instance, streamId, addSmtp(), context);
    expect(result.append.nextExpectedRevision).toBe(2n);
    expect(result.sequence).toBe(3n);
    expect(result.events.map((e) => e.type)).toEqual(['instance.smtp.config.added']);
    expect(result.append.position).toEqual(await store.headPosition());
  });

  it('appends at the revision it read, with metadata from the command and ids derived from it', async () => {
    await handleCommand(store, Instance, streamId, addSmtp(), context);
    expect(store.appends).toHaveLength(1);
    const [{ expected, events }] = store.appends as [(typeof store.appends)[0]];
    expect(expected).toBe(1n);
    expect(events).toEqual([
      {
        id: deriveEventId('cmd-1', streamId, '1', 0),
        type: 'instance.smtp.config.added',
        data: addSmtpEventData('42'),
        metadata: { instanceId, editorUserId: 'user-7', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'corr-1', causationId: 'cmd-1', schemaVersion: 1 },
      },
    ]);
    expect(EVENT_SCHEMA_VERSION).toBe(1);
  });

  it('writes metadata whose causation id is its correlation id as the same plain fields, in the same order, in listings, spreads and JSON', async () => {
    const own = { ...context, correlationId: 'cmd-1' };
    await handleCommand(store, Instance, instanceStreamId('2'), { type: 'SetUpInstance', instanceId: '2', name: 'b', domains: ['b.example.com'], now }, own);
    const { events } = store.appends[0]!;
    const expected = { instanceId, editorUserId: 'user-7', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'cmd-1', causationId: 'cmd-1', schemaVersion: 1 };
    // One object for all the command's events (they share one schema version).
    expect(events[1]!.metadata).toBe(events[0]!.metadata);
    const written = events[0]!.metadata;
    expect(Object.isFrozen(written)).toBe(true);
    expect(Object.keys(written)).toEqual(Object.keys(expected));
    expect({ ...written }).toEqual(expected);
    expect(JSON.stringify(written)).toBe(JSON.stringify(expected));
    expect(structuredClone(written)).toEqual(expected);
    // Kept without fields of their own for the two it can give from the others (16 B less for a
    // store that keeps it in memory); a command with a correlation id of its own keeps all six.
    expect(typeof Object.getOwnPropertyDescriptor(written, 'causationId')?.get).toBe('function');
    expect(typeof Object.getOwnPropertyDescriptor(written, 'schemaVersion')?.get).toBe('function');
    await handleCommand(store, Instance, instanceStreamId('3'), { type: 'SetUpInstance', instanceId: '3', name: 'c', domains: ['c.example.com'], now }, context);
    const distinct = store.appends[1]!.events[0]!.metadata;
    expect(Object.getOwnPropertyDescriptor(distinct, 'causationId')).toMatchObject({ value: 'cmd-1' });
    expect(Object.getOwnPropertyDescriptor(distinct, 'schemaVersion')).toMatchObject({ value: 1 });
  });

  it('writes metadata strictly equal to the plain object it stands for, whether its causation id is its correlation id or not', async () => {
    await handleCommand(store, Instance, instanceStreamId('2'), { type: 'SetUpInstance', instanceId: '2', name: 'b', domains: ['b.example.com'], now }, { ...context, correlationId: 'cmd-1' });
    await handleCommand(store, Instance, instanceStreamId('3'), { type: 'SetUpInstance', instanceId: '3', name: 'c', domains: ['c.example.com'], now }, context);
    const [shared, own] = [store.appends[0]!.events[0]!.metadata, store.appends[1]!.events[0]!.metadata];
    const base = { instanceId, editorUserId: 'user-7', createdAt: '2024-06-11T10:37:15.680Z', schemaVersion: 1 };
    // What an embedder's test or a comparison across stores (one read back from JSON) does.
    expect(shared).toStrictEqual({ ...base, correlationId: 'cmd-1', causationId: 'cmd-1', schemaVersion: 1 });
    expect(own).toStrictEqual({ ...base, correlationId: 'corr-1', causationId: 'cmd-1', schemaVersion: 1 });
    expect(() => deepStrictEqual(shared, JSON.parse(JSON.stringify(shared)))).not.toThrow();
    expect(Object.getPrototypeOf(shared)).toBe(Object.getPrototypeOf(own));
  });

  it('writes metadata that a record stored in memory shows with its values when logged (console.log, util.inspect)', async () => {
    const memory = new InMemoryEventStore();
    await handleCommand(memory, Instance, instanceStreamId('2'), { type: 'SetUpInstance', instanceId: '2', name: 'b', domains: ['b.example.com'], now }, { ...context, correlationId: 'cmd-1' });
    const [record] = (await memory.readStream(instanceStreamId('2'))).events;
    const shown = inspect(record, { depth: Infinity });
    expect(shown).not.toContain('[Getter]');
    expect(shown).toContain("causationId: 'cmd-1'");
    expect(shown).toContain('schemaVersion: 1');
  });

  it('writes metadata that console.log and util.inspect show with its values, alone as in a record', async () => {
    await handleCommand(store, Instance, instanceStreamId('2'), { type: 'SetUpInstance', instanceId: '2', name: 'b', domains: ['b.example.com'], now }, { ...context, correlationId: 'cmd-1' });
    const written = store.appends[0]!.events[0]!.metadata;
    expect(inspect(written)).toBe(inspect({ instanceId, editorUserId: 'user-7', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'cmd-1', causationId: 'cmd-1', schemaVersion: 1 }));
    // And still strictly equal to that object: what shows it is neither enumerable nor a field.
    expect(written).toStrictEqual({ instanceId, editorUserId: 'user-7', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'cmd-1', causationId: 'cmd-1', schemaVersion: 1 });
  });

  it('expects no stream when the stream does not exist yet', async () => {
    const other = instanceStreamId('2');
    await handleCommand(store, Instance, other, { type: 'SetUpInstance', instanceId: '2', name: 'b', domains: ['b.example.com', 'c.example.com'], now }, context);
    expect(store.appends[0]!.expected).toBe('no_stream');
    expect(store.appends[0]!.events.map((e) => e.id)).toEqual([0, 1, 2].map((i) => deriveEventId('cmd-1', other, 'no_stream', i)));
  });

  it('propagates a store error that is not a conflict, unretried (exactly one attempt)', async () => {
    const failure = new Error('disk full');
    store.beforeAppend = () => {
      throw failure;
    };
    expect(await rejectionOf(handleCommand(store, Instance, streamId, addSmtp(), context))).toBe(failure);
    expect(store.appends).toHaveLength(1);
    expect(store.reads).toBe(1);
  });

  it('gives up with Unavailable COMMAND-cnfl9 after exactly maxAttempts conflicts', async () => {
    store.beforeAppend = (call) => {
      throw new WrongExpectedRevisionError(call.streamId, call.expected, 5n);
    };
    const error = await rejectionOf(handleCommand(store, Instance, streamId, addSmtp(), context, 3));
    expect(store.appends).toHaveLength(3);
    expect(store.reads).toBe(3);
    expect(error).toBeInstanceOf(DomainError);
    const { kind, id, messageKey, grpcCode, message, cause, violations } = error as DomainError;
    expect(violations).toEqual([]);
    expect({ kind, id, messageKey, grpcCode, message }).toEqual({
      kind: 'Unavailable',
      id: 'COMMAND-cnfl9',
      messageKey: 'Errors.Concurrency.Conflict',
      grpcCode: 14,
      message: `stream ${streamId} kept changing; gave up after 3 attempts`,
    });
    expect(cause).toBeInstanceOf(WrongExpectedRevisionError);
  });

  it('tries five times by default', async () => {
    store.beforeAppend = (call) => {
      throw new WrongExpectedRevisionError(call.streamId, call.expected, 5n);
    };
    expect(await rejectionOf(handleCommand(store, Instance, streamId, addSmtp(), context))).toMatchObject({ id: 'COMMAND-cnfl9' });
    expect(store.appends).toHaveLength(5);
  });

  it('succeeds on the last allowed attempt', async () => {
    store.beforeAppend = (call, attempt) => {
      if (attempt < 3) throw new WrongExpectedRevisionError(call.streamId, call.expected, 5n);
    };
    const result = await handleCommand(store, Instance, streamId, addSmtp(), context, 3);
    expect(result.sequence).toBe(3n);
    expect(store.appends).toHaveLength(3);
  });

  it('decides a lost race again against the winner’s events: the loser gets AlreadyExists COMMAND-en9lw', async () => {
    store.beforeAppend = async (_call, attempt) => {
      if (attempt === 1) await store.inner.appendToStream(streamId, [event('00000000-0000-8000-8000-00000000000a', { type: 'instance.smtp.config.added', data: addSmtpEventData('41') })], 1n);
    };
    const error = await rejectionOf(handleCommand(store, Instance, streamId, addSmtp('42'), context));
    expect(error).toMatchObject({ kind: 'AlreadyExists', id: 'COMMAND-en9lw' });
    expect(store.reads).toBe(2);
    expect(store.appends).toHaveLength(1);
    const added = (await store.readStream(streamId)).events.filter((e) => e.type === 'instance.smtp.config.added');
    expect(added.map((e) => (e.data as { id: string }).id)).toEqual(['41']);
  });

  it('appends after a lost race at the winner’s revision, with ids for that revision', async () => {
    store.beforeAppend = async (_call, attempt) => {
      if (attempt === 1) {
        await store.inner.appendToStream(
          streamId,
          [event('00000000-0000-8000-8000-00000000000b', { type: 'instance.domain.added', data: { domain: 'b.example.com', generated: false } })],
          1n,
        );
      }
    };
    const result = await handleCommand(store, Instance, streamId, addSmtp(), context);
    expect(store.appends.map((a) => a.expected)).toEqual([1n, 2n]);
    expect(store.appends[1]!.events.map((e) => e.id)).toEqual([deriveEventId('cmd-1', streamId, '2', 0)]);
    expect(result.sequence).toBe(4n);
  });

  it('refuses a command that changes nothing on an existing stream with FailedPrecondition COMMAND-noop1', async () => {
    const idle: Decider<'nothing', InstanceEvent, null> = { decide: () => [], evolve: () => null, initialState: () => null };
    const error = await rejectionOf(handleCommand(store, idle, streamId, 'nothing', context));
    expect(error).toBeInstanceOf(DomainError);
    const { kind, id, messageKey, grpcCode, message } = error as DomainError;
    expect({ kind, id, messageKey, grpcCode, message }).toEqual({
      kind: 'FailedPrecondition',
      id: 'COMMAND-noop1',
      messageKey: 'Errors.NoChanges',
      grpcCode: 9,
      message: 'the command changed nothing',
    });
    expect(store.appends).toHaveLength(0);
  });

  it('lets a command that changes nothing on a new stream through without appending events', async () => {
    const idle: Decider<'nothing', InstanceEvent, null> = { decide: () => [], evolve: () => null, initialState: () => null };
    const result = await handleCommand(store, idle, instanceStreamId('new'), 'nothing', context);
    expect(result.events).toEqual([]);
    expect(store.appends.map((a) => [a.expected, a.events.length])).toEqual([['no_stream', 0]]);
    expect((await store.readStream(instanceStreamId('new'))).currentRevision).toBeUndefined();
  });

  it('folds only type and data of the recorded events into the state', async () => {
    const seen: unknown[] = [];
    const spy: Decider<'look', InstanceEvent, unknown[]> = {
      decide: (_c, state) => {
        seen.push(...state);
        return [{ type: 'instance.domain.added', data: { domain: 'x.example.com', generated: false } }];
      },
      evolve: (state, e) => [...state, e],
      initialState: () => [],
    };
    await handleCommand(store, spy, streamId, 'look', context);
    expect(seen).toEqual([
      { type: 'instance.added', data: { name: 'acme' } },
      { type: 'instance.domain.added', data: { domain: 'acme.example.com', generated: true } },
    ]);
  });
});

describe('event ids derived from the command', () => {
  const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('are RFC 9562 version 8 UUIDs with the RFC variant bits', () => {
    for (let i = 0; i < 64; i++) {
      const id = deriveEventId(`cmd-${i}`, streamId, String(i), i);
      expect(id).toMatch(UUID_V8);
    }
  });

  it('are the SHA-256 of command id, stream, expected revision and index, with only version and variant overwritten', () => {
    const id = deriveEventId('cmd-1', 'instance-1', 'no_stream', 2);
    const digest = createHash('sha256').update('cmd-1\u0000instance-1\u0000no_stream\u00002').digest('hex').slice(0, 32);
    const hex = id.replaceAll('-', '');
    expect(hex).toHaveLength(32);
    expect(id.split('-').map((part) => part.length)).toEqual([8, 4, 4, 4, 12]);
    const untouched = (s: string) => s.slice(0, 12) + s.slice(13, 16) + s.slice(17);
    expect(untouched(hex)).toBe(untouched(digest));
    expect(hex[12]).toBe('8');
    expect(parseInt(hex[16]!, 16) >> 2).toBe(0b10);
    expect(parseInt(hex[16]!, 16) & 0b11).toBe(parseInt(digest[16]!, 16) & 0b11);
  });

  it('are the ids earlier versions derived, so that an append retried across an upgrade is still recognised', () => {
    expect(deriveEventId('add-smtp-1', 'instance-1', 'no_stream', 0)).toBe('9e6ac07b-7853-839f-a6ef-c0125e2d0d1d');
  });

  it('are stable, and differ when any part of their input differs', () => {
    const base = deriveEventId('cmd-1', 'instance-1', '4', 0);
    expect(deriveEventId('cmd-1', 'instance-1', '4', 0)).toBe(base);
    const variants = [
      deriveEventId('cmd-2', 'instance-1', '4', 0),
      deriveEventId('cmd-1', 'instance-2', '4', 0),
      deriveEventId('cmd-1', 'instance-1', '5', 0),
      deriveEventId('cmd-1', 'instance-1', '4', 1),
      deriveEventId('cmd-1instance-1', '', '4', 0),
    ];
    expect(new Set([base, ...variants]).size).toBe(6);
  });
});

function addSmtpEventData(id: string) {
  return {
    id,
    senderAddress: seedRequest.senderAddress,
    senderName: seedRequest.senderName,
    tls: seedRequest.tls,
    host: seedRequest.host,
    user: seedRequest.user,
    replyToAddress: seedRequest.replyToAddress,
    description: seedRequest.description,
  };
}
