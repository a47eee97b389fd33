import { describe, expect, it } from 'vitest';
import {
  DomainClaimEventTypes,
  DomainError,
  EventSchemas,
  InstanceEventTypes,
  decodeStoredEvent,
  upcastSmtpConfigAddedV0,
} from '../../src/domain/index.js';

const where = { position: '12/12', streamId: 'instance-7' };
const context = { instanceId: '7', streamId: 'instance-7' };
const smtp = {
  id: 'cfg-1',
  senderAddress: 'noreply@example.com',
  senderName: 'Acme',
  tls: true,
  host: 'smtp.example.com:587',
  user: 'mailer',
  replyToAddress: '',
  description: 'main',
};
const decode = (type: string, data: unknown, schemaVersion: number | undefined = 1) => decodeStoredEvent({ type, data, schemaVersion, context, where });
const thrown = (fn: () => unknown): DomainError => {
  try {
    fn();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('did not throw');
};

describe('event schemas', () => {
  it('has one schema for every known event type, and nothing else', () => {
    expect(Object.keys(EventSchemas).sort()).toEqual([...Object.values(InstanceEventTypes), ...Object.values(DomainClaimEventTypes)].sort());
  });

  it('decodes a well-formed payload into the typed event', () => {
    expect(decode('instance.smtp.config.added', smtp)).toEqual({ type: 'instance.smtp.config.added', data: smtp });
    expect(decode('instance.domain.added', { domain: 'a.example.com', generated: true })).toEqual({
      type: 'instance.domain.added',
      data: { domain: 'a.example.com', generated: true },
    });
  });

  it('leaves event types it does not know to the caller', () => {
    expect(decode('instance.smtp.config.activated', { anything: 1 })).toBeUndefined();
  });

  it('refuses a malformed payload naming its position, stream and field, with a stable id', () => {
    const error = thrown(() => decode('instance.smtp.config.added', { ...smtp, id: 7 }));
    expect(error.id).toBe('EVENT-DEC-7m3q');
    expect(error.violations.map((v) => v.field)).toEqual(['data.id']);
    expect(error.message).toContain('position 12/12');
    expect(error.message).toContain('stream instance-7');
    expect(error.message).toContain('data.id');
  });

  it('refuses a password that is not an encrypted secret', () => {
    const error = thrown(() => decode('instance.smtp.config.added', { ...smtp, password: 'plain' }));
    expect(error.violations.map((v) => v.field)).toEqual(['data.password']);
  });

  it('refuses a version newer than it reads', () => {
    const error = thrown(() => decode('instance.added', { name: 'a' }, 2));
    expect(error.id).toBe('EVENT-VER-2k8d');
    expect(error.message).toContain('position 12/12');
  });

  it('upcasts instance.smtp.config.added of version 0 (no id): the configuration takes the instance id', () => {
    const { id: _id, ...legacy } = smtp;
    expect(decode('instance.smtp.config.added', legacy, 0)).toEqual({ type: 'instance.smtp.config.added', data: { ...legacy, id: '7' } });
  });

  it('keeps an id a version 0 event already has, and never changes what it was given', () => {
    const stored = Object.freeze({ ...smtp });
    expect(upcastSmtpConfigAddedV0(stored, context)).toEqual(smtp);
    const { id: _id, ...legacy } = smtp;
    const frozen = Object.freeze(legacy);
    upcastSmtpConfigAddedV0(frozen, context);
    expect(frozen).not.toHaveProperty('id');
  });

  it('still refuses a version 1 event without id: only version 0 is upcast', () => {
    const { id: _id, ...legacy } = smtp;
    expect(thrown(() => decode('instance.smtp.config.added', legacy, 1)).violations.map((v) => v.field)).toEqual(['data.id']);
  });
});
