import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AddSmtpConfigUseCase, ErrorIds, RoleBasedPermissionChecker, instanceStreamId, isCommandIdReused, isSmtpConfigAlreadyExists } from '../../src/index.js';
import { AesGcmEncryptor, keyRingFrom } from '../../src/infrastructure/crypto/aes-gcm-encryptor.js';
import { createHarness, owner, seedRequest, SequentialIds, type Harness } from '../support/fixtures.js';

describe('AddSmtpConfig retried with the same commandId', () => {
  let h: Harness;
  beforeEach(() => {
    h = createHarness();
  });
  afterEach(() => h.close());

  const revision = async (instanceId: string) => (await h.events.readStream(instanceStreamId(instanceId))).currentRevision;

  it('returns the first response again and appends nothing', async () => {
    const instanceId = await h.newInstance('acme');
    const call = { principal: owner(instanceId), instanceId, body: seedRequest, commandId: 'req-7f3a' };
    const first = await h.addSmtpConfig.execute(call);
    const after = await revision(instanceId);
    h.clock.advance(60_000);
    const retried = await h.addSmtpConfig.execute(call);
    expect(retried).toEqual(first);
    expect(await revision(instanceId)).toBe(after);
  });

  it('returns the first response from a use case that answers from the append, too', async () => {
    const instanceId = await h.newInstance('acme');
    const appendOnly = new AddSmtpConfigUseCase({
      events: h.events,
      clock: h.clock,
      ids: new SequentialIds(4000n),
      encryptor: h.encryptor,
      permissions: new RoleBasedPermissionChecker(),
      answerFrom: 'append',
    });
    const call = { principal: owner(instanceId), instanceId, body: seedRequest, commandId: 'req-1' };
    const first = await appendOnly.execute(call);
    // The retry reaches another replica, which waits for its read model: the same answer.
    expect(await h.addSmtpConfig.execute(call)).toEqual(first);
    expect(await appendOnly.execute(call)).toEqual(first);
    expect(first.id).toBe('4000');
  });

  it('still refuses a second configuration under another commandId, or without one', async () => {
    const instanceId = await h.newInstance('acme');
    await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest, commandId: 'req-1' });
    const other = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest, commandId: 'req-2' }).catch((e: unknown) => e);
    const none = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest }).catch((e: unknown) => e);
    expect(isSmtpConfigAlreadyExists(other)).toBe(true);
    expect(isSmtpConfigAlreadyExists(none)).toBe(true);
  });

  it('refuses a different request under a used commandId, naming what differs (the password compared decrypted)', async () => {
    const instanceId = await h.newInstance('acme');
    await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest, commandId: 'req-1' });
    const host = await h.addSmtpConfig
      .execute({ principal: owner(instanceId), instanceId, body: { ...seedRequest, host: 'smtp.other.example:25' }, commandId: 'req-1' })
      .catch((e: unknown) => e);
    const password = await h.addSmtpConfig
      .execute({ principal: owner(instanceId), instanceId, body: { ...seedRequest, password: 'another' }, commandId: 'req-1' })
      .catch((e: unknown) => e);
    expect(isCommandIdReused(host)).toBe(true);
    expect((host as Error).message).toContain('host');
    expect(isCommandIdReused(password)).toBe(true);
    expect((password as Error).message).toContain('password');
    expect((password as Error).message).not.toContain('another');
  });

  it('refuses a retry on a server whose key ring lacks the first call\'s key with the key id (CRYPT-key-n0k3), not as another request', async () => {
    const instanceId = await h.newInstance('acme');
    const call = { principal: owner(instanceId), instanceId, body: seedRequest, commandId: 'req-1' };
    await h.addSmtpConfig.execute(call);
    const after = await revision(instanceId);
    const withoutTheKey = new AddSmtpConfigUseCase({
      events: h.events,
      clock: h.clock,
      ids: new SequentialIds(5000n),
      encryptor: new AesGcmEncryptor(keyRingFrom('k-new', { 'k-new': Buffer.alloc(32, 1) }, 'ENCRYPTION_KEYS')),
      permissions: new RoleBasedPermissionChecker(),
      answerFrom: 'append',
    });
    const error = await withoutTheKey.execute(call).catch((e: unknown) => e);
    expect(isCommandIdReused(error)).toBe(false);
    expect(error).toMatchObject({ kind: 'Internal', id: ErrorIds.DecryptionKeyUnknown });
    expect((error as Error).message).toMatch(/^the key ring \(ENCRYPTION_KEYS, holding "k-new"\) lacks the key "key-2026-11" this secret was encrypted with: add that key to ENCRYPTION_KEYS/);
    expect((error as Error).message).not.toContain(seedRequest.password);
    expect(await revision(instanceId)).toBe(after);
  });

  it('checks permission before answering a retry', async () => {
    const instanceId = await h.newInstance('acme');
    await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest, commandId: 'req-1' });
    const viewer = { userId: 'v', instanceId, roles: ['IAM_OWNER_VIEWER'] };
    await expect(h.addSmtpConfig.execute({ principal: viewer, instanceId, body: seedRequest, commandId: 'req-1' })).rejects.toMatchObject({ kind: 'PermissionDenied' });
  });

  it('does not take an event whose id was not derived from the commandId for its own', async () => {
    const instanceId = await h.newInstance('acme');
    // Another command that happens to name the same causation id, e.g. written by another tool.
    const { currentRevision } = await h.events.readStream(instanceStreamId(instanceId));
    await h.events.appendToStream(
      instanceStreamId(instanceId),
      [{ id: '00000000-0000-8000-8000-000000000001', type: 'instance.smtp.config.added', data: { id: 'forged', senderAddress: seedRequest.senderAddress, senderName: seedRequest.senderName, tls: seedRequest.tls, host: seedRequest.host, user: seedRequest.user, replyToAddress: '', description: '' }, metadata: { instanceId, editorUserId: 'x', createdAt: '2020-01-01T00:00:00.000Z', correlationId: 'c', causationId: 'req-1', schemaVersion: 1 } }],
      currentRevision!,
    );
    const retried = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest, commandId: 'req-1' }).catch((e: unknown) => e);
    expect(isSmtpConfigAlreadyExists(retried)).toBe(true);
  });
});
