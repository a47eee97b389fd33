import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AesGcmEncryptor, DomainError, loadOrCreateDevKeyRing } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';
import { seedRequest } from '../support/fixtures.js';
import { send, startTestServer, type TestServer } from '../support/http-server.js';
import { CLI, tempDirs, runCli } from '../support/cli.js';
import type { SmtpMailer } from '../../src/application/index.js';

const dirs = tempDirs('smtp-dev-keys-');
const tempDir = dirs.make;
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  dirs.removeAll();
});

describe('the development key ring', () => {
  it('gives two keys made on the same day different ids, each naming its own key', () => {
    const a = loadOrCreateDevKeyRing(tempDir()).ring;
    const b = loadOrCreateDevKeyRing(tempDir()).ring;
    expect(a.activeKeyId).toMatch(/^dev-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/);
    expect(b.activeKeyId).toMatch(/^dev-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/);
    expect(a.activeKeyId).not.toBe(b.activeKeyId);
  });

  it('keeps reading a key file made by an earlier version under its stored date-only id', async () => {
    const dir = tempDir();
    const key = Buffer.alloc(32, 9);
    writeFileSync(join(dir, 'encryption-keys.json'), JSON.stringify({ activeKeyId: 'dev-2026-11-26', keys: { 'dev-2026-11-26': key.toString('base64') } }));
    const { ring, created } = loadOrCreateDevKeyRing(dir);
    expect(created).toBe(false);
    expect(ring.activeKeyId).toBe('dev-2026-11-26');
    const secret = await new AesGcmEncryptor(ring).encrypt('kept');
    expect(secret.keyId).toBe('dev-2026-11-26');
    expect(await new AesGcmEncryptor(loadOrCreateDevKeyRing(dir).ring).decrypt(secret)).toBe('kept');
  });

  it("refuses another DATA_DIR's secret naming its key id and the remedy, not as a damaged value", async () => {
    const a = new AesGcmEncryptor(loadOrCreateDevKeyRing(tempDir()).ring);
    const b = new AesGcmEncryptor(loadOrCreateDevKeyRing(tempDir()).ring);
    const secret = await a.encrypt('from replica a');
    const error = await b.decrypt(secret).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ id: 'CRYPT-key-n0k3', kind: 'Internal' });
    expect((error as Error).message).toContain(`"${secret.keyId}"`);
    expect((error as Error).message).toMatch(/encryption-keys\.json in DATA_DIR.*ENCRYPTION_KEYS/);
  });
});

describe.skipIf(postgresSkipReason !== undefined)('two replicas on one database with different DATA_DIRs and no ENCRYPTION_KEYS', () => {
  it("answer a test mail of the other's configuration CRYPT-key-n0k3, not a decryption failure, and log the key id to share", { timeout: 60_000 }, async () => {
    const db = await freshPostgresSchema(4);
    cleanup.push(() => db.drop());
    const sent: unknown[] = [];
    const mailer: SmtpMailer = { send: async (_config, mail) => void sent.push(mail) };
    const env = { DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema, DATABASE_POOL_SIZE: '2' };
    const a: TestServer = await startTestServer(env, { mailer });
    cleanup.push(() => a.close());
    const b: TestServer = await startTestServer(env, { mailer });
    cleanup.push(() => b.close());

    const instanceId = await a.newInstance('keys.example.com');
    const added = await a.post(seedRequest, { host: 'keys.example.com', token: await a.token({ instanceId, roles: ['IAM_OWNER'] }) });
    expect(added.status, added.text).toBe(200);
    const id = (added.json as { id: string }).id;

    const path = `/admin/v1/smtp/${id}/_test`;
    const body = { receiverAddress: 'admin@customer.example.com' };
    let onB = await send(b.url, { method: 'POST', path, host: 'keys.example.com', body, headers: { authorization: `Bearer ${await b.token({ instanceId, roles: ['IAM_OWNER'] })}` } });
    // B's read model follows A's writes; wait until it has the instance and the configuration.
    for (let i = 0; i < 100 && onB.status === 404; i++) {
      await new Promise((r) => setTimeout(r, 50));
      onB = await send(b.url, { method: 'POST', path, host: 'keys.example.com', body, headers: { authorization: `Bearer ${await b.token({ instanceId, roles: ['IAM_OWNER'] })}` } });
    }
    expect(onB.status).toBe(500);
    // The client is told the kind of failure; B's log names the key id to share and where from.
    const message = (onB.json as { message: string }).message;
    expect(message).toBe("the server cannot decrypt this configuration's password; its operator must restore the encryption key it was stored under (CRYPT-key-n0k3)");
    const logged = b.logs.map((l) => JSON.parse(l) as { msg: string; err?: { id?: string; message?: string } }).filter((l) => l.err?.id === 'CRYPT-key-n0k3');
    expect(logged).toHaveLength(1);
    expect(logged[0]!.err!.message).toMatch(/^the key ring \(the development key file encryption-keys\.json in DATA_DIR, holding "dev-[^"]+"\) lacks the key "dev-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}" this secret was encrypted with: restore the encryption-keys\.json that holds it/);
    expect(sent).toEqual([]);

    const onA = await send(a.url, { method: 'POST', path, host: 'keys.example.com', body, headers: { authorization: `Bearer ${await a.token({ instanceId, roles: ['IAM_OWNER'] })}` } });
    expect(onA.status, onA.text).toBe(200);
    expect(sent).toHaveLength(1);
  });
});

describe('smtp-config events copy --to <data dir>', () => {
  const KEYS = 'encryption-keys.json';
  const sourceWithKey = () => {
    const source = tempDir();
    const added = runCli(CLI.instance, ['add', '--name', 'Acme', '--domain', 'acme.example.com'], source);
    expect(added.status, added.stderr).toBe(0);
    loadOrCreateDevKeyRing(source);
    return source;
  };

  it('takes the development key file along when the target has none, and says so', () => {
    const source = sourceWithKey();
    const target = join(tempDir(), 'copy');
    const run = runCli(CLI.smtpConfig, ['events', 'copy', '--to', target], source);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`copied the development encryption key file to ${join(target, KEYS)}`);
    expect(readFileSync(join(target, KEYS), 'utf8')).toBe(readFileSync(join(source, KEYS), 'utf8'));
    expect(statSync(join(target, KEYS)).mode & 0o777).toBe(0o600);

    const again = runCli(CLI.smtpConfig, ['--json', 'events', 'copy', '--to', target], source);
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).not.toHaveProperty('devKeyFile');
  });

  it('leaves a target with its own key file alone, and says its servers lack the source keys', () => {
    const source = sourceWithKey();
    const target = tempDir();
    const own = loadOrCreateDevKeyRing(target).ring.activeKeyId;
    const before = readFileSync(join(target, KEYS), 'utf8');
    const run = runCli(CLI.smtpConfig, ['--json', 'events', 'copy', '--to', target], source);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ devKeyFile: 'target-has-its-own' });
    expect(readFileSync(join(target, KEYS), 'utf8')).toBe(before);
    expect(before).toContain(own);
  });

  it('copies no key file when ENCRYPTION_KEYS is set', () => {
    const source = sourceWithKey();
    const target = join(tempDir(), 'copy');
    const env = { ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`, ENCRYPTION_ACTIVE_KEY_ID: 'k1' };
    const run = runCli(CLI.smtpConfig, ['events', 'copy', '--to', target], source, undefined, env);
    expect(run.status, run.stderr).toBe(0);
    expect(existsSync(join(target, KEYS))).toBe(false);
  });
});
