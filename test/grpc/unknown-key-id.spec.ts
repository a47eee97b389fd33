// A stored SMTP password under a key id the key ring lacks, asked for over gRPC and gRPC-web with
// ZITADEL's official client, on the server `npm start` runs: the client learns the kind of failure
// and the id, the log the operator's remedy.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Code, ConnectError, type Transport } from '@connectrpc/connect';
import { createServerTransport } from '@zitadel/client/node';
import { createAdminServiceClient } from '@zitadel/client/v1';
import { createClientTransport } from '@zitadel/client/web';
import { ErrorDetailSchema } from '@zitadel/proto/zitadel/message_pb.js';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateDevSigningKey, signToken } from '../support/everything.js';
import { spawnServer, tempDirs, waitForLine } from '../support/cli.js';
import { seedRequest } from '../support/fixtures.js';
import { toLoopback } from '../support/grpc.js';
import { startTestServer } from '../support/http-server.js';

const PASSWORD = 'pw-only-in-the-event-9q2x';
const CLIENT_MESSAGE = "the server cannot decrypt this configuration's password; its operator must restore the encryption key it was stored under";
const key = (byte: number) => Buffer.alloc(32, byte).toString('base64');

const dirs = tempDirs('grpc-unknown-key-');
const spawned: ChildProcess[] = [];
afterEach(() => {
  for (const child of spawned.splice(0)) child.kill();
  dirs.removeAll();
});

describe('a stored password under a key id the key ring lacks, over gRPC', () => {
  it('is INTERNAL (13) CRYPT-key-n0k3 with the client message and no configuration, and one log line with the operator message', { timeout: 60_000 }, async () => {
    const dataDir = dirs.make();
    // Stored under k1 by a server that had it.
    const first = await startTestServer({ DATA_DIR: dataDir, ENCRYPTION_KEYS: `k1:${key(1)}`, ENCRYPTION_ACTIVE_KEY_ID: 'k1' });
    const instanceId = await first.firstInstanceId();
    const added = await first.post({ ...seedRequest, password: PASSWORD }, { host: 'localhost', token: await first.token({ instanceId, roles: ['IAM_OWNER'] }) });
    expect(added.status, added.text).toBe(200);
    const id = (added.json as { id: string }).id;
    await first.close();

    // Served by one whose ring holds k2 only.
    const server = spawnServer(dataDir, { GRPC_PORT: '0', ENCRYPTION_KEYS: `k2:${key(2)}`, ENCRYPTION_ACTIVE_KEY_ID: 'k2' });
    spawned.push(server);
    let out = '';
    server.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const port = Number(new URL((JSON.parse(await waitForLine(server, /gRPC, gRPC-web and Connect on/, 60_000)) as { url: string }).url).port);
    const { privateJwk } = await loadOrCreateDevSigningKey(dataDir);
    const token = await signToken(privateJwk, { userId: '69629023906488001', instanceId, roles: ['IAM_OWNER'] });
    const baseUrl = `http://localhost:${port}`;
    const transports: Transport[] = [
      createServerTransport(token, { baseUrl, nodeOptions: toLoopback(port).nodeOptions }),
      createClientTransport(token, { baseUrl, fetch: toLoopback(port).fetch } as Parameters<typeof createClientTransport>[1]),
    ];

    for (const transport of transports) {
      const error = await createAdminServiceClient(transport)
        .testSMTPConfigById({ id, receiverAddress: 'admin@example.com' })
        .then(() => expect.unreachable('the test mail was sent'), (e: unknown) => ConnectError.from(e));
      expect(error.code).toBe(Code.Internal);
      expect(error.rawMessage).toBe(`${CLIENT_MESSAGE} (CRYPT-key-n0k3)`);
      expect(error.findDetails(ErrorDetailSchema).map((d) => ({ id: d.id, message: d.message }))).toEqual([{ id: 'CRYPT-key-n0k3', message: CLIENT_MESSAGE }]);
      const seen = JSON.stringify({ message: error.rawMessage, details: error.findDetails(ErrorDetailSchema), metadata: [...error.metadata] });
      for (const secretOfTheServer of [PASSWORD, 'ENCRYPTION_KEYS', 'ENCRYPTION_ACTIVE_KEY_ID', '"k1"', '"k2"']) expect(seen).not.toContain(secretOfTheServer);
    }

    // One `request failed` line per call, with the id and the remedy for whoever runs the server; never the password.
    // (A line is written once its answer has gone: the last may still be on its way; a line is whole once its newline came.)
    const errorLines = () =>
      out
        .split('\n')
        .slice(0, -1)
        .map((l) => JSON.parse(l) as { level: number; msg: string; method?: string; err?: { id?: string; message?: string } })
        .filter((l) => l.level >= 50);
    while (errorLines().length < transports.length) await once(server.stdout!, 'data');
    const failed = errorLines();
    expect(failed.map((l) => [l.msg, l.method, l.err?.id, l.err?.message])).toEqual(
      transports.map(() => [
        'request failed',
        'zitadel.admin.v1.AdminService/TestSMTPConfigById',
        'CRYPT-key-n0k3',
        expect.stringMatching(/^the key ring \(ENCRYPTION_KEYS, holding "k2"\) lacks the key "k1" this secret was encrypted with: add that key to ENCRYPTION_KEYS /),
      ]),
    );
    expect(out).not.toContain(PASSWORD);
  });
});
