import { Container } from 'inversify';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  ErrorIds,
  InMemoryEventStore,
  PortErrors,
  RoleBasedPermissionChecker,
  getService,
  getServiceAsync,
  instanceStreamId,
  isPermissionDenied,
  smtpConfigModule,
  TOKENS,
  type EncryptedSecret,
  type Logger,
  type Permission,
  type PermissionChecker,
  type Principal,
  type SecretEncryptor,
} from '../support/everything.js';
import { SequentialIds, seedRequest } from '../support/fixtures.js';

/** A stand-in for a KMS: reversible, recognisable, and counting its calls. */
class FakeKms implements SecretEncryptor {
  calls = 0;
  async encrypt(plaintext: string): Promise<EncryptedSecret> {
    this.calls++;
    return { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'kms-key-7', crypted: Buffer.from([...plaintext].reverse().join('')).toString('base64') };
  }
  async decrypt(secret: EncryptedSecret): Promise<string> {
    return [...Buffer.from(secret.crypted, 'base64').toString()].reverse().join('');
  }
}

/** Grants what a list allows, whatever the roles say, and remembers what it was asked. */
class ListChecker implements PermissionChecker {
  readonly asked: string[] = [];
  constructor(private readonly allowed: readonly Permission[]) {}
  async require(principal: Principal, permission: Permission, instanceId: string): Promise<void> {
    this.asked.push(`${principal.userId}:${permission}:${instanceId}`);
    if (!this.allowed.includes(permission)) throw PortErrors.permissionDenied(`${permission} is not on the list`, 'TEST-perm-1');
  }
}

class RecordingLogger implements Logger {
  readonly lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  debug = (fields: Record<string, unknown>, message: string) => void this.lines.push({ level: 'debug', message, fields });
  info = (fields: Record<string, unknown>, message: string) => void this.lines.push({ level: 'info', message, fields });
  warn = (fields: Record<string, unknown>, message: string) => void this.lines.push({ level: 'warn', message, fields });
  error = (fields: Record<string, unknown>, message: string) => void this.lines.push({ level: 'error', message, fields });
}

const userWithoutRoles = (instanceId: string): Principal => ({ userId: 'mailer-admin', instanceId, roles: [] });

describe('smtpConfigModule with every port replaced', () => {
  it('adds a configuration with its own instance ids, configuration ids, encryptor, permission checker and logger, and no key ring', async () => {
    const events = new InMemoryEventStore();
    const kms = new FakeKms();
    const permissions = new ListChecker(['iam.write', 'iam.read']);
    const logger = new RecordingLogger();
    const container = new Container();
    container.load(
      smtpConfigModule({
        encryptor: kms,
        eventStore: () => events,
        instanceIds: new SequentialIds(500n),
        configIds: new SequentialIds(9000n),
        permissions,
        logger,
      }),
    );
    getService(container, TOKENS.ProjectionRunner);
    const { instanceId } = await getService(container, TOKENS.SetUpInstance).execute({ name: 'acme', domains: ['acme.example.com'] });
    const principal = userWithoutRoles(instanceId);
    const added = await getService(container, TOKENS.AddSmtpConfig).execute({ principal, instanceId, body: seedRequest });
    const view = await getService(container, TOKENS.GetSmtpConfig).execute({ principal, instanceId, id: added.id });

    expect(instanceId).toBe('500');
    expect(added.id).toBe('9000');
    expect(view).toMatchObject({ id: '9000', host: seedRequest.host, hasPassword: true });
    expect(container.isBound(TOKENS.KeyRing)).toBe(false);
    expect(kms.calls).toBe(1);
    const stored = (await events.readStream(instanceStreamId(instanceId))).events.at(-1)!.data as { password: EncryptedSecret };
    expect(stored.password.keyId).toBe('kms-key-7');
    expect(await kms.decrypt(stored.password)).toBe(seedRequest.password);
    expect(permissions.asked).toEqual([`mailer-admin:iam.write:${instanceId}`, `mailer-admin:iam.read:${instanceId}`]);
    expect(logger.lines).toContainEqual({ level: 'debug', message: 'SMTP configuration added', fields: { instanceId, id: '9000', sequence: added.details.sequence } });
    expect(JSON.stringify(logger.lines)).not.toContain(seedRequest.password);
    await container.unbindAllAsync();
  });

  it("refuses through the embedder's permission checker, with its own error, and appends nothing", async () => {
    const events = new InMemoryEventStore();
    const container = new Container();
    container.load(smtpConfigModule({ encryptor: new FakeKms(), eventStore: () => events, permissions: new ListChecker(['iam.read']) }));
    const { instanceId } = await getService(container, TOKENS.SetUpInstance).execute({ name: 'acme', domains: ['acme.example.com'] });
    const before = (await events.readStream(instanceStreamId(instanceId))).currentRevision;
    const refused = await getService(container, TOKENS.AddSmtpConfig)
      .execute({ principal: userWithoutRoles(instanceId), instanceId, body: seedRequest })
      .catch((e: unknown) => e);
    expect(isPermissionDenied(refused)).toBe(true);
    expect(refused).toMatchObject({ id: 'TEST-perm-1', grpcCode: 7 });
    expect((await events.readStream(instanceStreamId(instanceId))).currentRevision).toBe(before);
    await container.unbindAllAsync();
  });

  it('takes the event store from an async factory (resolved with getServiceAsync)', async () => {
    const events = new InMemoryEventStore();
    const container = new Container();
    container.load(
      smtpConfigModule({
        encryptor: new FakeKms(),
        eventStore: async () => {
          await new Promise((resolve) => setImmediate(resolve)); // a store that connects first
          return events;
        },
      }),
    );
    expect(() => container.get(TOKENS.SetUpInstance)).toThrow();
    await getServiceAsync(container, TOKENS.ProjectionRunner);
    const { instanceId } = await (await getServiceAsync(container, TOKENS.SetUpInstance)).execute({ name: 'acme', domains: ['acme.example.com'] });
    const added = await (await getServiceAsync(container, TOKENS.AddSmtpConfig)).execute({
      principal: { userId: 'u', instanceId, roles: ['IAM_OWNER'] },
      instanceId,
      body: seedRequest,
    });
    expect((await events.readStream(instanceStreamId(instanceId))).events.at(-1)!.data).toMatchObject({ id: added.id });
    await container.unbindAllAsync();
  });

  it('projects inline on its default in-memory stores: an add is in the read model at once, with the runner not even started', async () => {
    const container = new Container();
    const lags: unknown[] = [];
    container.load(smtpConfigModule({ encryptor: new FakeKms(), startProjection: false, projectionTimeoutMs: 200, onReadModelLag: (e) => lags.push(e) }));
    const add = getService(container, TOKENS.AddSmtpConfig);
    const { instanceId } = await getService(container, TOKENS.SetUpInstance).execute({ name: 'acme', domains: ['acme.example.com'] });
    const principal = { userId: 'u', instanceId, roles: ['IAM_OWNER'] };
    const added = await add.execute({ principal, instanceId, body: seedRequest });
    expect(lags).toEqual([]);
    expect(getService(container, TOKENS.ProjectionRunner).running).toBe(false);
    const view = await getService(container, TOKENS.GetSmtpConfig).execute({ principal, instanceId, id: added.id });
    expect({ sequence: view.sequence.toString(), creationDate: view.creationDate, changeDate: view.changeDate, resourceOwner: view.resourceOwner }).toEqual(
      added.details,
    );
    await container.unbindAllAsync();
  });

  it('answers from the append alone when told to, with no projection running in the process', async () => {
    const container = new Container();
    container.load(smtpConfigModule({ encryptor: new FakeKms(), addSmtpConfigAnswer: 'append', startProjection: false, projectionTimeoutMs: 50 }));
    const { instanceId } = await getService(container, TOKENS.SetUpInstance).execute({ name: 'acme', domains: ['acme.example.com'] });
    const principal = { userId: 'u', instanceId, roles: ['IAM_OWNER'] };
    const added = await getService(container, TOKENS.AddSmtpConfig).execute({ principal, instanceId, body: seedRequest });
    expect(added.details).toMatchObject({ sequence: '3', resourceOwner: instanceId });
    // The projection, run later (here: in the same process), shows exactly that answer.
    const runner = getService(container, TOKENS.ProjectionRunner);
    runner.start();
    await runner.waitForCaughtUp(5_000);
    const view = await getService(container, TOKENS.GetSmtpConfig).execute({ principal, instanceId, id: added.id });
    expect({ sequence: view.sequence.toString(), creationDate: view.creationDate, changeDate: view.changeDate, resourceOwner: view.resourceOwner }).toEqual(
      added.details,
    );
    await container.unbindAllAsync();
  });

  it('refuses to be created without a key ring or an encryptor', () => {
    expect(() => smtpConfigModule({} as never)).toThrow(/keyRing.*encryptor/);
  });

  it('keeps the role-based checker as the default, and a pino-shaped logger fits the Logger port', () => {
    const container = new Container();
    container.load(smtpConfigModule({ encryptor: new FakeKms() }));
    expect(getService(container, TOKENS.PermissionChecker)).toBeInstanceOf(RoleBasedPermissionChecker);
    expect(ErrorIds.PermissionDenied).toBe('AUTHZ-HdgL7');
    const lines: string[] = [];
    const logger: Logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    logger.debug({ id: '1' }, 'SMTP configuration added');
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 20, id: '1', msg: 'SMTP configuration added' });
  });
});
