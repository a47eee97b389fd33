import { describe, expect, it } from 'vitest';
import { DeciderSpecification } from '../../src/domain/testing.js';
import {
  Instance,
  InstanceEventTypes,
  parseAddSmtpConfigRequest,
  type AddSmtpConfig,
  type EncryptedSecret,
  type InstanceEvent,
} from '../../src/domain/index.js';
import { seedRequest } from '../support/fixtures.js';

const spec = DeciderSpecification.for(Instance);
const now = new Date('2024-06-11T10:37:15.680Z');
const encrypted: EncryptedSecret = { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'k1', crypted: 'AAAA' };
const instanceAdded: InstanceEvent = { type: 'instance.added', data: { name: 'acme' } };

const addSmtp = (overrides: Partial<AddSmtpConfig> = {}): AddSmtpConfig => {
  const { password: _plain, ...config } = parseAddSmtpConfigRequest(seedRequest);
  return { type: 'AddSmtpConfig', instanceId: '1', configId: '42', config, password: encrypted, now, ...overrides };
};

const smtpConfigAdded = (id = '42'): InstanceEvent => ({
  type: 'instance.smtp.config.added',
  data: {
    id,
    senderAddress: 'noreply@m.zitadel.cloud',
    senderName: 'ZITADEL',
    tls: true,
    host: 'smtp.postmarkapp.com:587',
    user: '197f0117-529e-443d-bf6c-0292dd9a02b7',
    password: encrypted,
    replyToAddress: 'replyto@m.zitadel.cloud',
    description: 'provider description',
  },
});

describe('Instance aggregate: AddSmtpConfig', () => {
  it('adds the first SMTP configuration of an existing instance', () => {
    spec.given([instanceAdded]).when(addSmtp()).then([smtpConfigAdded()]);
  });

  it('is NotFound when the instance does not exist', () => {
    spec.given([]).when(addSmtp()).thenThrows('NotFound', 'COMMAND-3n8fs');
  });

  it('is AlreadyExists with ZITADEL’s id when a configuration is already set', () => {
    const error = spec.given([instanceAdded, smtpConfigAdded('41')]).when(addSmtp()).thenThrows('AlreadyExists', 'COMMAND-en9lw');
    expect(error.messageKey).toBe('Errors.SMTPConfig.AlreadyExists');
    expect(error.grpcCode).toBe(6);
  });

  it('leaves the password out of the event when none was given', () => {
    const [event] = Instance.decide(addSmtp({ password: undefined }), Instance.evolve(Instance.initialState(), instanceAdded));
    expect(event?.type).toBe('instance.smtp.config.added');
    expect(event?.data).not.toHaveProperty('password');
  });

  it('sets up an instance once, with its domains lower-cased and de-duplicated', () => {
    spec
      .given([])
      .when({ type: 'SetUpInstance', instanceId: '1', name: 'acme', domains: ['Localhost', 'localhost', '127.0.0.1'], now })
      .then([
        { type: 'instance.added', data: { name: 'acme' } },
        { type: 'instance.domain.added', data: { domain: 'localhost', generated: true } },
        { type: 'instance.domain.added', data: { domain: '127.0.0.1', generated: false } },
      ]);
    spec.given([instanceAdded]).when({ type: 'SetUpInstance', instanceId: '1', name: 'x', domains: ['a'], now }).thenThrows('AlreadyExists');
  });

  it('reports the kit’s own failure when the decider produces other events than expected', () => {
    expect(() => spec.given([instanceAdded]).when(addSmtp()).then([])).toThrow();
    expect(() => spec.given([instanceAdded]).when(addSmtp()).thenThrows('NotFound')).toThrow(/expected a NotFound error/);
  });
});

describe('stored event contract', () => {
  it('pins the event type strings to ZITADEL’s', () => {
    expect(InstanceEventTypes).toEqual({
      InstanceAdded: 'instance.added',
      InstanceDomainAdded: 'instance.domain.added',
      SMTPConfigAdded: 'instance.smtp.config.added',
      SMTPConfigChanged: 'instance.smtp.config.changed',
      SMTPConfigPasswordChanged: 'instance.smtp.config.password.changed',
      SMTPConfigRemoved: 'instance.smtp.config.removed',
    });
  });

  it('pins the SMTPConfigAdded payload shape', () => {
    const [event] = Instance.decide(addSmtp(), Instance.evolve(Instance.initialState(), instanceAdded));
    expect(Object.keys(event!.data).sort()).toEqual(
      ['description', 'host', 'id', 'password', 'replyToAddress', 'senderAddress', 'senderName', 'tls', 'user'].sort(),
    );
    expect(Object.keys((event!.data as { password: object }).password).sort()).toEqual(['algorithm', 'crypted', 'cryptoType', 'keyId']);
  });
});
