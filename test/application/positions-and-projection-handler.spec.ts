import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  ADDED_FROM,
  comparePositions,
  positionFromString,
  positionToString,
  projectEvent,
  WrongExpectedRevisionError,
  type RecordedEvent,
} from '../../src/index.js';

describe('global positions', () => {
  it('order by commit first, then by prepare', () => {
    expect(comparePositions({ commit: 1n, prepare: 9n }, { commit: 2n, prepare: 0n })).toBe(-1);
    expect(comparePositions({ commit: 2n, prepare: 0n }, { commit: 1n, prepare: 9n })).toBe(1);
    expect(comparePositions({ commit: 5n, prepare: 3n }, { commit: 5n, prepare: 4n })).toBe(-1);
    expect(comparePositions({ commit: 5n, prepare: 4n }, { commit: 5n, prepare: 3n })).toBe(1);
    expect(comparePositions({ commit: 5n, prepare: 4n }, { commit: 5n, prepare: 4n })).toBe(0);
  });

  it('write as commit/prepare and read back, keeping both halves', () => {
    const p = { commit: 18446744073709551615n, prepare: 7n };
    expect(positionToString(p)).toBe('18446744073709551615/7');
    expect(positionFromString('18446744073709551615/7')).toEqual(p);
    expect(positionFromString(positionToString({ commit: 5n, prepare: 4n }))).toEqual({ commit: 5n, prepare: 4n });
  });

  it('refuse a string that is no position', () => {
    expect(() => positionFromString('5')).toThrow(new TypeError('not a position: 5'));
    expect(() => positionFromString('')).toThrow(TypeError);
  });
});

describe('wrong expected revision error', () => {
  it('names the stream, the expected and the actual revision', () => {
    const conflict = new WrongExpectedRevisionError('instance-1', 3n, 4n);
    expect([conflict.name, conflict.streamId, conflict.expected, conflict.actual]).toEqual(['WrongExpectedRevisionError', 'instance-1', 3n, 4n]);
    expect(conflict.message).toBe('stream instance-1: expected revision 3, actual 4');
    expect(new WrongExpectedRevisionError('instance-1', 'no_stream', undefined).message).toBe(
      'stream instance-1: expected revision no_stream, actual no stream',
    );
  });
});

describe('SMTP configuration projection handler', () => {
  const recorded = (type: string, data: unknown, revision: bigint): RecordedEvent => ({
    id: 'e',
    streamId: 'instance-7',
    revision,
    position: { commit: 10n, prepare: 10n },
    type,
    data,
    metadata: { instanceId: '7', editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
  });

  it('maps instance.added to a new instance without domains, dated from the event', () => {
    expect(projectEvent(recorded('instance.added', { name: 'acme' }, 0n))).toEqual([
      { kind: 'upsertInstance', instance: { id: '7', name: 'acme', domains: [], sequence: 1n, creationDate: '2024-06-11T10:37:15.680Z' } },
    ]);
  });

  it('maps instance.domain.added to a domain of the instance', () => {
    expect(projectEvent(recorded('instance.domain.added', { domain: 'acme.example.com', generated: true }, 1n))).toEqual([
      { kind: 'addInstanceDomain', instanceId: '7', domain: 'acme.example.com', sequence: 2n },
    ]);
  });

  it('maps instance.smtp.config.added to a configuration without its password', () => {
    const data = {
      id: '42',
      senderAddress: 'a@b.io',
      senderName: 'n',
      tls: true,
      host: 'h:25',
      user: 'u',
      password: { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'k', crypted: 'x' },
      replyToAddress: 'r@b.io',
      description: 'd',
    };
    const at = '2024-06-11T10:37:15.680Z';
    expect(projectEvent(recorded('instance.smtp.config.added', data, 2n))).toEqual([
      {
        kind: 'upsertSmtpConfig',
        config: {
          instanceId: '7',
          id: '42',
          senderAddress: 'a@b.io',
          senderName: 'n',
          tls: true,
          host: 'h:25',
          user: 'u',
          replyToAddress: 'r@b.io',
          description: 'd',
          hasPassword: true,
          sequence: 3n,
          creationDate: at,
          changeDate: at,
          resourceOwner: '7',
        },
      },
    ]);
    const [change] = projectEvent(recorded('instance.smtp.config.added', data, 2n));
    // The payload itself, for a read model in memory to keep rather than copies of its fields;
    // under a symbol, and not enumerable, so that the change written as JSON, spread or logged leaves it (and its encrypted password) out.
    expect((change as { [ADDED_FROM]?: unknown })[ADDED_FROM]).toEqual(data);
    expect(JSON.stringify(change, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain('crypted');
    // As console.log, a logger printing objects with util.inspect, or a failing test's diff shows it.
    expect(inspect(change, { depth: Infinity })).not.toContain('crypted');
    expect(inspect({ ...change }, { depth: Infinity })).not.toContain('crypted');
    const { password: _p, ...withoutPassword } = data;
    expect(projectEvent(recorded('instance.smtp.config.added', withoutPassword, 2n))).toMatchObject([{ config: { hasPassword: false } }]);
  });

  it('maps instance.smtp.config.changed to a patch of the changed fields, a new password only as hasPassword', () => {
    const password = { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'k', crypted: 'x' };
    expect(projectEvent(recorded('instance.smtp.config.changed', { id: '42', host: 'h:465', tls: false, password }, 4n))).toEqual([
      {
        kind: 'patchSmtpConfig',
        instanceId: '7',
        id: '42',
        changes: { host: 'h:465', tls: false, hasPassword: true },
        sequence: 5n,
        changeDate: '2024-06-11T10:37:15.680Z',
      },
    ]);
    expect(projectEvent(recorded('instance.smtp.config.changed', { id: '42', description: '' }, 4n))).toMatchObject([{ changes: { description: '' } }]);
  });

  it('maps a password change to hasPassword, and a removal to dropping the row', () => {
    const password = { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'k', crypted: 'x' };
    expect(projectEvent(recorded('instance.smtp.config.password.changed', { id: '42', password }, 5n))).toEqual([
      { kind: 'patchSmtpConfig', instanceId: '7', id: '42', changes: { hasPassword: true }, sequence: 6n, changeDate: '2024-06-11T10:37:15.680Z' },
    ]);
    expect(projectEvent(recorded('instance.smtp.config.removed', { id: '42' }, 6n))).toEqual([{ kind: 'removeSmtpConfig', instanceId: '7', id: '42' }]);
  });

  it('changes nothing for event types it does not know', () => {
    expect(projectEvent(recorded('instance.smtp.config.activated', { id: '42' }, 3n))).toEqual([]);
    expect(projectEvent(recorded('instance.removed', {}, 3n))).toEqual([]);
  });
});
