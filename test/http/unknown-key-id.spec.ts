// A stored SMTP password whose key id the server's key ring lacks (a key dropped from
// ENCRYPTION_KEYS, a lost encryption-keys.json), over HTTP on the server `npm start` runs.
import { readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SmtpMailer } from '../../src/application/index.js';
import { tempDirs } from '../support/cli.js';
import { seedRequest } from '../support/fixtures.js';
import { send, startTestServer, type HttpResponse, type TestServer } from '../support/http-server.js';

const PASSWORD = 'pw-only-in-the-event-7f3k';
const dirs = tempDirs('smtp-unknown-key-');
const open: TestServer[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  dirs.removeAll();
});

const key = (byte: number) => Buffer.alloc(32, byte).toString('base64');
const sent: unknown[] = [];
const mailer: SmtpMailer = { send: async (_config, mail) => void sent.push(mail) };

const start = async (env: Record<string, string>) => {
  const server = await startTestServer(env, { mailer });
  open.push(server);
  return server;
};
const stop = async (server: TestServer) => {
  open.splice(open.indexOf(server), 1);
  await server.close();
};

/** A server on `dataDir` that stores a configuration with {@link PASSWORD}; stopped again. Its id, and the instance's. */
const storeAPassword = async (dataDir: string, env: Record<string, string>) => {
  const server = await start({ ...env, DATA_DIR: dataDir });
  const instanceId = await server.firstInstanceId();
  const added = await server.post({ ...seedRequest, password: PASSWORD }, { host: 'localhost', token: await server.token({ instanceId, roles: ['IAM_OWNER'] }) });
  expect(added.status, added.text).toBe(200);
  await stop(server);
  return { instanceId, id: (added.json as { id: string }).id, logs: server.logs };
};

const testMail = async (server: TestServer, instanceId: string, path: string, body: object): Promise<HttpResponse> =>
  send(server.url, { method: 'POST', path, host: 'localhost', body, headers: { authorization: `Bearer ${await server.token({ instanceId, roles: ['IAM_OWNER'] })}` } });

const errorLines = (server: TestServer) =>
  server.logs.map((l) => JSON.parse(l) as { level: number; msg: string; err?: { id?: string; message?: string } }).filter((l) => l.level >= 50);

/** What the instance's admin is told: the kind of failure and who can mend it, none of the server's configuration. */
const CLIENT_MESSAGE = "the server cannot decrypt this configuration's password; its operator must restore the encryption key it was stored under";
const OPERATOR_MESSAGE_K1 =
  'the key ring (ENCRYPTION_KEYS, holding "k2") lacks the key "k1" this secret was encrypted with: add that key to ENCRYPTION_KEYS ' +
  '(a key no longer used for new secrets stays in the ring for those it encrypted; ENCRYPTION_ACTIVE_KEY_ID picks the key for new ones)';

/** The answer carries the id and {@link CLIENT_MESSAGE}; not a key id, a variable, a file, nor the password. */
const expectClientAnswer = (res: HttpResponse, keyIds: readonly string[]) => {
  expect([res.status, res.json.code]).toEqual([500, 13]);
  expect(res.json.message).toBe(`${CLIENT_MESSAGE} (CRYPT-key-n0k3)`);
  expect(res.json.details).toEqual([{ '@type': 'type.googleapis.com/zitadel.v1.ErrorDetail', id: 'CRYPT-key-n0k3', message: CLIENT_MESSAGE }]);
  for (const secretOfTheServer of [PASSWORD, 'ENCRYPTION_KEYS', 'ENCRYPTION_ACTIVE_KEY_ID', 'DATA_DIR', 'encryption-keys.json', ...keyIds]) {
    expect(res.text).not.toContain(secretOfTheServer);
  }
};

describe('a stored password under a key id the key ring lacks', () => {
  it('after ENCRYPTION_KEYS dropped its key: 500 / 13 CRYPT-key-n0k3 saying the operator must restore the key, the log naming the key id and ENCRYPTION_KEYS once; the key put back mends it', { timeout: 30_000 }, async () => {
    const dataDir = dirs.make();
    const { instanceId, id } = await storeAPassword(dataDir, { ENCRYPTION_KEYS: `k1:${key(1)}`, ENCRYPTION_ACTIVE_KEY_ID: 'k1' });
    sent.length = 0;

    const rotated = await start({ DATA_DIR: dataDir, ENCRYPTION_KEYS: `k2:${key(2)}`, ENCRYPTION_ACTIVE_KEY_ID: 'k2' });
    const byId = await testMail(rotated, instanceId, `/admin/v1/smtp/${id}/_test`, { receiverAddress: 'admin@example.com' });
    const withId = await testMail(rotated, instanceId, '/admin/v1/smtp/_test', { ...seedRequest, password: '', id, receiverAddress: 'admin@example.com' });
    for (const res of [byId, withId]) expectClientAnswer(res, ['"k1"', '"k2"']);
    expect(sent).toEqual([]);
    // One error line per failed request, carrying the id and the operator's message; the password in no line.
    expect(errorLines(rotated).map((l) => [l.msg, l.err?.id, l.err?.message])).toEqual([
      ['request failed', 'CRYPT-key-n0k3', OPERATOR_MESSAGE_K1],
      ['request failed', 'CRYPT-key-n0k3', OPERATOR_MESSAGE_K1],
    ]);
    expect(rotated.logs.join('\n')).not.toContain(PASSWORD);
    await stop(rotated);

    const mended = await start({ DATA_DIR: dataDir, ENCRYPTION_KEYS: `k1:${key(1)},k2:${key(2)}`, ENCRYPTION_ACTIVE_KEY_ID: 'k2' });
    const again = await testMail(mended, instanceId, `/admin/v1/smtp/${id}/_test`, { receiverAddress: 'admin@example.com' });
    expect(again.status, again.text).toBe(200);
    expect(sent).toHaveLength(1);
  });

  it('after the development key file was lost: warned at start, the same answer, and the log line says to restore encryption-keys.json', { timeout: 30_000 }, async () => {
    const dataDir = dirs.make();
    const first = await storeAPassword(dataDir, {});
    // A first start on an empty store makes its key without the warning.
    expect(first.logs.some((l) => l.includes('already holds instances'))).toBe(false);
    const keyFile = join(dataDir, 'encryption-keys.json');
    const lostKeyId = (JSON.parse(readFileSync(keyFile, 'utf8')) as { activeKeyId: string }).activeKeyId;
    unlinkSync(keyFile);

    const restarted = await start({ DATA_DIR: dataDir });
    const warning = restarted.logs.map((l) => JSON.parse(l) as { level: number; msg: string; keyId?: string }).find((l) => l.msg.includes('already holds instances'));
    expect(warning).toMatchObject({ level: 40, keyId: expect.stringMatching(/^dev-/) });
    expect(warning!.msg).toContain('restore that key file into DATA_DIR, or set ENCRYPTION_KEYS with its keys');

    const res = await testMail(restarted, first.instanceId, `/admin/v1/smtp/${first.id}/_test`, { receiverAddress: 'admin@example.com' });
    expectClientAnswer(res, [warning!.keyId!, lostKeyId]);
    // The remedy for the operator is in the log, once.
    expect(errorLines(restarted).map((l) => [l.err?.id, l.err?.message])).toEqual([
      [
        'CRYPT-key-n0k3',
        expect.stringMatching(
          new RegExp(
            `^the key ring \\(the development key file encryption-keys\\.json in DATA_DIR, holding "${warning!.keyId}"\\) lacks the key "${lostKeyId}" ` +
              'this secret was encrypted with: restore the encryption-keys.json that holds it ',
          ),
        ),
      ],
    ]);
    expect(restarted.logs.join('\n')).not.toContain(PASSWORD);
  });
});
