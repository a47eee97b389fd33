import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AddSmtpConfigUseCase,
  DomainError,
  GetSmtpConfigQuery,
  InMemoryProjectionStore,
  instanceStreamId,
  RoleBasedPermissionChecker,
  ROLE_PERMISSIONS,
  SetUpInstanceUseCase,
  type EncryptedSecret,
  type GlobalPosition,
  type SecretEncryptor,
} from '../support/everything.js';
import { createHarness, ManualClock, owner, seedRequest, SequentialIds, type Harness } from '../support/fixtures.js';
import { ScriptedEventStore } from '../support/scripted-event-store.js';

const errorOf = async (promise: Promise<unknown>): Promise<DomainError> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected the promise to reject with a DomainError');
};
const viewer = (instanceId: string) => ({ userId: 'viewer-1', instanceId, roles: ['IAM_OWNER_VIEWER'] });

describe('role-based permissions', () => {
  const checker = new RoleBasedPermissionChecker();

  it('grants IAM_OWNER write and read, IAM_OWNER_VIEWER read only', async () => {
    expect(ROLE_PERMISSIONS).toEqual({ IAM_OWNER: ['iam.write', 'iam.read'], IAM_OWNER_VIEWER: ['iam.read'] });
    await expect(checker.require(owner('1'), 'iam.write', '1')).resolves.toBeUndefined();
    await expect(checker.require(owner('1'), 'iam.read', '1')).resolves.toBeUndefined();
    await expect(checker.require(viewer('1'), 'iam.read', '1')).resolves.toBeUndefined();
  });

  it('denies with PermissionDenied AUTHZ-HdgL7: a missing permission, an unknown role, another instance', async () => {
    for (const denied of [
      checker.require(viewer('1'), 'iam.write', '1'),
      checker.require({ userId: 'u', instanceId: '1', roles: ['ORG_OWNER'] }, 'iam.read', '1'),
      checker.require({ userId: 'u', instanceId: '1', roles: [] }, 'iam.read', '1'),
      checker.require(owner('2'), 'iam.read', '1'),
    ]) {
      const error = await errorOf(denied);
      expect([error.kind, error.id, error.messageKey, error.message, error.grpcCode]).toEqual([
        'PermissionDenied',
        'AUTHZ-HdgL7',
        'Errors.Token.Permission',
        'No matching permissions found',
        7,
      ]);
    }
  });

  it('uses the role table it is given', async () => {
    const custom = new RoleBasedPermissionChecker({ AUDITOR: ['iam.read'] });
    await expect(custom.require({ userId: 'u', instanceId: '1', roles: ['AUDITOR'] }, 'iam.read', '1')).resolves.toBeUndefined();
    await expect(custom.require(owner('1'), 'iam.read', '1')).rejects.toBeInstanceOf(DomainError);
  });
});

describe('use cases on in-memory adapters', () => {
  let h: Harness;
  let instanceId: string;

  beforeEach(async () => {
    h = createHarness();
    instanceId = await h.newInstance('acme');
  });
  afterEach(() => h.close());

  it('lets a viewer (IAM_OWNER_VIEWER) read a configuration', async () => {
    const { id } = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    const view = await h.getSmtpConfig.execute({ principal: viewer(instanceId), instanceId, id });
    expect(view).toEqual(await h.readModel.smtpConfigById(instanceId, id));
    expect(view.id).toBe(id);
  });

  it('answers a configuration that does not exist with NotFound QUERY-B8ers', async () => {
    const error = await errorOf(h.getSmtpConfig.execute({ principal: owner(instanceId), instanceId, id: '404' }));
    expect([error.kind, error.id, error.messageKey, error.message, error.grpcCode]).toEqual([
      'NotFound',
      'QUERY-B8ers',
      'Errors.SMTPConfig.NotFound',
      'SMTP configuration not found',
      5,
    ]);
  });

  it('checks iam.read on the instance before reading a configuration', async () => {
    const { id } = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    const stranger = await errorOf(h.getSmtpConfig.execute({ principal: owner('other-instance'), instanceId, id }));
    expect(stranger.id).toBe('AUTHZ-HdgL7');
    const noRole = await errorOf(h.getSmtpConfig.execute({ principal: { userId: 'u', instanceId, roles: ['ORG_OWNER'] }, instanceId, id }));
    expect(noRole.id).toBe('AUTHZ-HdgL7');
  });

  it('adds a configuration without a password: nothing is encrypted or stored', async () => {
    const encrypted: string[] = [];
    const encryptor: SecretEncryptor = {
      encrypt: async (plain) => {
        encrypted.push(plain);
        return h.encryptor.encrypt(plain);
      },
      decrypt: (secret: EncryptedSecret) => h.encryptor.decrypt(secret),
    };
    const add = new AddSmtpConfigUseCase({
      events: h.events,
      queries: h.readModel,
      projection: h.runner,
      clock: h.clock,
      ids: new SequentialIds(500n),
      encryptor,
      permissions: new RoleBasedPermissionChecker(),
    });
    const { id } = await add.execute({ principal: owner(instanceId), instanceId, body: { ...seedRequest, password: '' } });
    expect(encrypted).toEqual([]);
    const stored = (await h.events.readStream(instanceStreamId(instanceId))).events.at(-1)!;
    expect(stored.type).toBe('instance.smtp.config.added');
    expect(stored.data).not.toHaveProperty('password');
    expect((await h.readModel.smtpConfigById(instanceId, id))?.hasPassword).toBe(false);

    const other = await h.newInstance('with-password');
    await add.execute({ principal: owner(other), instanceId: other, body: seedRequest });
    expect(encrypted).toEqual([seedRequest.password]);
  });

  it('derives the command id from the new configuration id, or takes the caller’s, and correlates by it', async () => {
    const { id } = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    const [added] = (await h.events.readStream(instanceStreamId(instanceId))).events.slice(-1);
    expect(added!.metadata).toMatchObject({ causationId: `add-smtp-${id}`, correlationId: `add-smtp-${id}` });

    const other = await h.newInstance('keyed');
    await h.addSmtpConfig.execute({ principal: owner(other), instanceId: other, body: seedRequest, commandId: 'idem-1' });
    const [keyed] = (await h.events.readStream(instanceStreamId(other))).events.slice(-1);
    expect(keyed!.metadata).toMatchObject({ causationId: 'idem-1', correlationId: 'idem-1' });
  });

  it('fails with Internal SMTP-proj-k3d9 when the read model does not show the new configuration', async () => {
    const waited: [GlobalPosition, number][] = [];
    const add = new AddSmtpConfigUseCase({
      events: h.events,
      queries: new InMemoryProjectionStore(),
      projection: { waitFor: async (position, timeoutMs) => void waited.push([position, timeoutMs]) },
      clock: h.clock,
      ids: new SequentialIds(900n),
      encryptor: h.encryptor,
      permissions: new RoleBasedPermissionChecker(),
    });
    const error = await errorOf(add.execute({ principal: owner(instanceId), instanceId, body: seedRequest }));
    expect([error.kind, error.id, error.messageKey, error.grpcCode, error.message]).toEqual([
      'Internal',
      'SMTP-proj-k3d9',
      'Errors.Internal',
      13,
      'the projection did not produce the configuration',
    ]);
    expect(waited).toEqual([[await h.events.headPosition(), 5_000]]);
  });

  it('answers from the appended event when the read model lags and nobody listens for the lag', async () => {
    const add = new AddSmtpConfigUseCase({
      events: h.events,
      queries: new InMemoryProjectionStore(),
      projection: { waitFor: async () => Promise.reject(new Error('lagging')) },
      clock: h.clock,
      ids: new SequentialIds(800n),
      encryptor: h.encryptor,
      permissions: new RoleBasedPermissionChecker(),
    });
    const response = await add.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    expect(response).toEqual({
      details: { sequence: '3', creationDate: h.clock.now().toISOString(), changeDate: h.clock.now().toISOString(), resourceOwner: instanceId },
      id: '800',
    });
  });

  it('waits for the projection as long as it is configured to', async () => {
    const waited: number[] = [];
    const add = new AddSmtpConfigUseCase({
      events: h.events,
      queries: h.readModel,
      projection: { waitFor: (position, timeoutMs) => (waited.push(timeoutMs), h.runner.waitFor(position, timeoutMs)) },
      clock: h.clock,
      ids: new SequentialIds(700n),
      encryptor: h.encryptor,
      permissions: new RoleBasedPermissionChecker(),
      projectionTimeoutMs: 1_234,
    });
    await add.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    expect(waited).toEqual([1_234]);
  });
});

describe('SetUpInstance use case', () => {
  it('sets up an instance with a new id, as SYSTEM, at the clock’s time, and returns where it was written', async () => {
    const store = new ScriptedEventStore();
    const clock = new ManualClock(new Date('2026-11-25T08:00:00.000Z'));
    const setUp = new SetUpInstanceUseCase({ events: store, clock, ids: new SequentialIds(100n) });
    const { instanceId, position } = await setUp.execute({ name: 'acme', domains: ['acme.example.com'] });
    expect(instanceId).toBe('100');
    expect(position).toEqual(await store.headPosition());
    const { events } = await store.readStream('instance-100');
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['instance.added', { name: 'acme' }],
      ['instance.domain.added', { domain: 'acme.example.com', generated: true }],
    ]);
    expect(events[0]!.metadata).toEqual({
      instanceId: '100',
      editorUserId: 'SYSTEM',
      createdAt: '2026-11-25T08:00:00.000Z',
      correlationId: 'setup-instance-100',
      causationId: 'setup-instance-100',
      schemaVersion: 1,
    });
  });

  it('takes the instance id and editor it is given, and is idempotent per instance id', async () => {
    const store = new ScriptedEventStore();
    const setUp = new SetUpInstanceUseCase({ events: store, clock: new ManualClock(), ids: new SequentialIds(100n) });
    const first = await setUp.execute({ name: 'acme', domains: ['acme.example.com'], instanceId: 'fixed', editorUserId: 'admin-1' });
    expect(first.instanceId).toBe('fixed');
    const { events } = await store.readStream('instance-fixed');
    expect(events[0]!.metadata.editorUserId).toBe('admin-1');
    const again = await errorOf(setUp.execute({ name: 'acme', domains: ['acme.example.com'], instanceId: 'fixed' }));
    expect([again.kind, again.id]).toEqual(['AlreadyExists', 'COMMAND-Lsq2e']);
  });

  it('refuses an invalid setup with INST-VAL-8fk2 and writes nothing', async () => {
    const store = new ScriptedEventStore();
    const setUp = new SetUpInstanceUseCase({ events: store, clock: new ManualClock(), ids: new SequentialIds(100n) });
    const error = await errorOf(setUp.execute({ name: ' ', domains: [] }));
    expect([error.kind, error.id]).toEqual(['InvalidArgument', 'INST-VAL-8fk2']);
    expect(await store.headPosition()).toBeUndefined();
  });
});
