import { describe, expect, it } from 'vitest';
import { DeciderSpecification } from '../../src/domain/testing.js';
import {
  fold,
  Instance,
  parseAddSmtpConfigRequest,
  parseTestSmtpConfigByIdRequest,
  parseTestSmtpConfigRequest,
  parseUpdateSmtpConfigPasswordRequest,
  parseUpdateSmtpConfigRequest,
  type ChangeSmtpConfig,
  type EncryptedSecret,
  type InstanceEvent,
} from '../../src/domain/index.js';
import { seedRequest } from '../support/fixtures.js';

const spec = DeciderSpecification.for(Instance);
const now = new Date('2024-06-11T10:37:15.680Z');
const secret = (crypted: string): EncryptedSecret => ({ cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'k1', crypted });
const instanceAdded: InstanceEvent = { type: 'instance.added', data: { name: 'acme' } };
const { password: _plain, ...seedConfig } = parseAddSmtpConfigRequest(seedRequest);
const added = (id = '42'): InstanceEvent => ({ type: 'instance.smtp.config.added', data: { id, ...seedConfig, password: secret('old') } });
const removed = (id = '42'): InstanceEvent => ({ type: 'instance.smtp.config.removed', data: { id } });

const change = (patch: Record<string, unknown> = {}, overrides: Partial<ChangeSmtpConfig> = {}): ChangeSmtpConfig => {
  const { password: _p, ...config } = parseUpdateSmtpConfigRequest({ ...seedRequest, ...patch });
  return { type: 'ChangeSmtpConfig', instanceId: '1', configId: '42', config, password: undefined, now, ...overrides };
};

describe('Instance aggregate: ChangeSmtpConfig', () => {
  it('emits instance.smtp.config.changed with the id and only the fields that changed', () => {
    spec
      .given([instanceAdded, added()])
      .when(change({ host: 'smtp.example.com:465', description: 'moved' }))
      .then([{ type: 'instance.smtp.config.changed', data: { id: '42', host: 'smtp.example.com:465', description: 'moved' } }]);
  });

  it('carries a new, encrypted password as a change, and nothing when the password is kept', () => {
    spec
      .given([instanceAdded, added()])
      .when(change({}, { password: secret('new') }))
      .then([{ type: 'instance.smtp.config.changed', data: { id: '42', password: secret('new') } }]);
  });

  it('turns tls off and clears the user as changes (defaults of absent fields count)', () => {
    const { tls: _t, user: _u, ...rest } = seedRequest;
    const { password: _p, ...config } = parseUpdateSmtpConfigRequest(rest);
    spec
      .given([instanceAdded, added()])
      .when({ type: 'ChangeSmtpConfig', instanceId: '1', configId: '42', config, password: undefined, now })
      .then([{ type: 'instance.smtp.config.changed', data: { id: '42', tls: false, user: '' } }]);
  });

  it('refuses an update that changes nothing with FailedPrecondition COMMAND-SMTP-nc9q (code 9)', () => {
    const error = spec.given([instanceAdded, added()]).when(change()).thenThrows('FailedPrecondition', 'COMMAND-SMTP-nc9q');
    expect(error.grpcCode).toBe(9);
  });

  it('compares against the folded changes, not the added event', () => {
    const changed: InstanceEvent = { type: 'instance.smtp.config.changed', data: { id: '42', host: 'smtp.example.com:465' } };
    spec.given([instanceAdded, added(), changed]).when(change({ host: 'smtp.example.com:465' })).thenThrows('FailedPrecondition', 'COMMAND-SMTP-nc9q');
    spec
      .given([instanceAdded, added(), changed])
      .when(change())
      .then([{ type: 'instance.smtp.config.changed', data: { id: '42', host: seedRequest.host } }]);
  });

  it('answers NotFound (code 5) for an unknown id, a removed configuration and a missing instance', () => {
    expect(spec.given([instanceAdded, added()]).when(change({}, { configId: '43' })).thenThrows('NotFound', 'COMMAND-SMTP-nf4k').grpcCode).toBe(5);
    spec.given([instanceAdded]).when(change()).thenThrows('NotFound', 'COMMAND-SMTP-nf4k');
    spec.given([instanceAdded, added(), removed()]).when(change()).thenThrows('NotFound', 'COMMAND-SMTP-nf4k');
    spec.given([]).when(change()).thenThrows('NotFound', 'COMMAND-3n8fs');
  });
});

describe('Instance aggregate: password, removal and adding again', () => {
  it('emits instance.smtp.config.password.changed with the encrypted password', () => {
    spec
      .given([instanceAdded, added()])
      .when({ type: 'ChangeSmtpConfigPassword', instanceId: '1', configId: '42', password: secret('new'), now })
      .then([{ type: 'instance.smtp.config.password.changed', data: { id: '42', password: secret('new') } }]);
    spec
      .given([instanceAdded, added()])
      .when({ type: 'ChangeSmtpConfigPassword', instanceId: '1', configId: '7', password: secret('new'), now })
      .thenThrows('NotFound', 'COMMAND-SMTP-nf4k');
  });

  it('emits instance.smtp.config.removed once; a second removal is NotFound', () => {
    spec.given([instanceAdded, added()]).when({ type: 'RemoveSmtpConfig', instanceId: '1', configId: '42', now }).then([removed()]);
    spec.given([instanceAdded, added(), removed()]).when({ type: 'RemoveSmtpConfig', instanceId: '1', configId: '42', now }).thenThrows('NotFound');
  });

  it('lets a configuration be added again after a removal, and not before', () => {
    const add = { type: 'AddSmtpConfig' as const, instanceId: '1', configId: '43', config: seedConfig, password: undefined, now };
    spec.given([instanceAdded, added()]).when(add).thenThrows('AlreadyExists', 'COMMAND-en9lw');
    const [event] = Instance.decide(add, fold(Instance, [instanceAdded, added(), removed()]));
    expect(event).toMatchObject({ type: 'instance.smtp.config.added', data: { id: '43' } });
  });

  it('folds changes, the password and removal into the state; events of an old id change nothing', () => {
    const state = fold(Instance, [
      instanceAdded,
      added('1'),
      removed('1'),
      added('2'),
      { type: 'instance.smtp.config.changed', data: { id: '2', senderName: 'Renamed', tls: false } },
      { type: 'instance.smtp.config.password.changed', data: { id: '2', password: secret('newest') } },
      { type: 'instance.smtp.config.changed', data: { id: '1', senderName: 'stale' } },
      removed('1'),
    ]);
    expect(state.smtpConfig).toStrictEqual({ id: '2', ...seedConfig, senderName: 'Renamed', tls: false, password: secret('newest') });
  });
});

describe('lifecycle requests: validation', () => {
  it('requires a non-empty password for the password change', () => {
    expect(parseUpdateSmtpConfigPasswordRequest({ password: 'x', extra: 1 })).toEqual({ password: 'x' });
    for (const body of [{}, { password: '' }, { password: 'x'.repeat(1025) }, { password: 3 }]) {
      expect(() => parseUpdateSmtpConfigPasswordRequest(body)).toThrow(expect.objectContaining({ kind: 'InvalidArgument', violations: [expect.objectContaining({ field: 'password' })] }));
    }
  });

  it('requires a receiver address for test mails, not blank and trimmed, with no e-mail syntax (as ZITADEL), and checks the rest like an add', () => {
    expect(parseTestSmtpConfigRequest({ ...seedRequest, receiverAddress: 'me@example.com' }).receiverAddress).toBe('me@example.com');
    expect(parseTestSmtpConfigByIdRequest({ receiverAddress: ' dev@localhost\n' })).toEqual({ receiverAddress: 'dev@localhost' });
    expect(() => parseTestSmtpConfigByIdRequest({ receiverAddress: ' ' })).toThrow(
      expect.objectContaining({ violations: [{ field: 'receiverAddress', description: 'must not be blank (it is only white space)' }] }),
    );
    expect(() => parseTestSmtpConfigRequest(seedRequest)).toThrow(expect.objectContaining({ violations: [{ field: 'receiverAddress', description: 'is required' }] }));
    expect(() => parseTestSmtpConfigRequest({ ...seedRequest, host: 'nohost', receiverAddress: 'me@example.com' })).toThrow(
      expect.objectContaining({ violations: [expect.objectContaining({ field: 'host' })] }),
    );
    expect(() => parseTestSmtpConfigByIdRequest({ receiverAddress: 'x'.repeat(201) })).toThrow(expect.objectContaining({ message: expect.stringContaining('TestSMTPConfigByIdRequest') }));
  });
});
