import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DomainError, instanceStreamId, type RecordedEvent } from '../../src/index.js';
import { applicationAdapters, type StoreUnderTest } from '../support/adapters.js';
import { createHarness, owner, seedRequest, type Harness } from '../support/fixtures.js';

const RFC3339_MS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const errorOf = async (promise: Promise<unknown>): Promise<DomainError> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected the promise to reject with a DomainError');
};

describe.each(applicationAdapters)('AddSmtpConfig use case on the $name store', (adapter) => {
  let h: Harness;
  let store: StoreUnderTest;
  let instanceId: string;
  const streamEvents = async (): Promise<readonly RecordedEvent[]> => (await h.events.readStream(instanceStreamId(instanceId))).events;

  beforeEach(async () => {
    store = await adapter.create();
    h = createHarness({ events: store.store, ...(store.readModel ? { readModel: store.readModel } : {}), shared: store.shared ?? false, inline: store.inline ?? true });
    instanceId = await h.newInstance('acme');
    h.clock.advance(1234);
  });
  afterEach(async () => {
    await h.close();
    await store.close();
  });

  it('answers the seed example with the details drawn from the read model', async () => {
    const response = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });

    expect(Object.keys(response)).toEqual(['details', 'id']);
    expect(Object.keys(response.details)).toEqual(['sequence', 'creationDate', 'changeDate', 'resourceOwner']);
    expect(response.id).toMatch(/^\d+$/);
    expect(response.details.creationDate).toMatch(RFC3339_MS_UTC);
    const view = await h.readModel.smtpConfigById(instanceId, response.id);
    expect(response).toEqual({
      details: {
        sequence: view!.sequence.toString(),
        creationDate: view!.creationDate,
        changeDate: view!.changeDate,
        resourceOwner: instanceId,
      },
      id: view!.id,
    });
    // instance.added + one instance.domain.added, then the SMTP configuration: sequence 3.
    expect(response.details.sequence).toBe('3');
    expect(response.details.creationDate).toBe(h.clock.now().toISOString());
  });

  it('stores one instance.smtp.config.added with metadata from the command', async () => {
    const response = await h.addSmtpConfig.execute({ principal: owner(instanceId, 'user-7'), instanceId, body: seedRequest, correlationId: 'corr-1' });
    const added = (await streamEvents()).filter((e) => e.type === 'instance.smtp.config.added');
    expect(added).toHaveLength(1);
    expect(added[0]!.data).toMatchObject({ id: response.id, host: 'smtp.postmarkapp.com:587', tls: true });
    expect(added[0]!.metadata).toMatchObject({
      instanceId,
      editorUserId: 'user-7',
      correlationId: 'corr-1',
      createdAt: response.details.creationDate,
      schemaVersion: 1,
    });
  });

  it('gives AlreadyExists for a second configuration on the same instance', async () => {
    await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    const error = await errorOf(h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: { ...seedRequest, senderName: 'other' } }));
    expect([error.kind, error.id]).toEqual(['AlreadyExists', 'COMMAND-en9lw']);
  });

  it('gives NotFound for an instance that does not exist', async () => {
    const error = await errorOf(h.addSmtpConfig.execute({ principal: owner('404'), instanceId: '404', body: seedRequest }));
    expect(error.kind).toBe('NotFound');
  });

  it('checks iam.write on the instance before anything else', async () => {
    const viewer = { ...owner(instanceId), roles: ['IAM_OWNER_VIEWER'] };
    const denied = await errorOf(h.addSmtpConfig.execute({ principal: viewer, instanceId, body: { nonsense: true } }));
    expect([denied.kind, denied.message]).toEqual(['PermissionDenied', 'No matching permissions found']);
    const otherInstance = await errorOf(h.addSmtpConfig.execute({ principal: owner('someone-else'), instanceId, body: seedRequest }));
    expect(otherInstance.kind).toBe('PermissionDenied');
    expect(await streamEvents()).toHaveLength(2);
  });

  it('leaves no event behind for bad input', async () => {
    const before = await h.events.headPosition();
    const error = await errorOf(h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: { ...seedRequest, host: 'no-port' } }));
    expect(error.kind).toBe('InvalidArgument');
    expect(error.violations.map((v) => v.field)).toEqual(['host']);
    expect(await h.events.headPosition()).toEqual(before);
  });

  it('lets exactly one of 50 concurrent adds win; the others get AlreadyExists', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: { ...seedRequest, senderName: `racer ${i}` } }),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as DomainError] : []));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(49);
    expect(new Set(lost.map((e) => `${e.kind}/${e.id}`))).toEqual(new Set(['AlreadyExists/COMMAND-en9lw']));
    expect((await streamEvents()).filter((e) => e.type === 'instance.smtp.config.added')).toHaveLength(1);
  });

  it('keeps the password encrypted in the events and out of the read model', async () => {
    const response = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    const events = await streamEvents();
    const stored = JSON.stringify(events, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    expect(stored).not.toContain(seedRequest.password);
    expect(JSON.stringify(await h.readModel.snapshot())).not.toContain(seedRequest.password);
    expect(JSON.stringify(response)).not.toContain(seedRequest.password);

    const added = events.find((e) => e.type === 'instance.smtp.config.added')!;
    const secret = (added.data as { password: Parameters<Harness['encryptor']['decrypt']>[0] }).password;
    expect(secret).toMatchObject({ algorithm: 'AES-256-GCM', keyId: 'key-2026-11' });
    expect(await h.encryptor.decrypt(secret)).toBe(seedRequest.password);
  });

  it('reads one configuration by id without any password field', async () => {
    const { id } = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    const view = await h.getSmtpConfig.execute({ principal: owner(instanceId), instanceId, id });
    expect(view).toMatchObject({ id, senderAddress: seedRequest.senderAddress, host: seedRequest.host, hasPassword: true });
    expect(Object.keys(view)).not.toContain('password');
    const missing = await errorOf(h.getSmtpConfig.execute({ principal: owner(instanceId), instanceId, id: '1' }));
    expect(missing.kind).toBe('NotFound');
  });
});
