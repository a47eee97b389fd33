// Errors whose message is for whoever runs the server (it names files, settings, hosts, stream
// positions): over REST and gRPC the client gets the stable id and what kind of failure it is, the
// log line the operator's message, once per request.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { UnavailableError } from '@eventstore/db-client';
import { ConnectError } from '@connectrpc/connect';
import { createServerTransport } from '@zitadel/client/node';
import { createAdminServiceClient } from '@zitadel/client/v1';
import { ErrorDetailSchema } from '@zitadel/proto/zitadel/message_pb.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Errors, type DomainError } from '../../src/domain/index.js';
import { AesGcmEncryptor, keyRingFrom } from '../../src/infrastructure/crypto/aes-gcm-encryptor.js';
import { toStoreError } from '../../src/infrastructure/eventstoredb/errors.js';
import { startGrpcServer, type GrpcServer } from '../../src/infrastructure/grpc/index.js';
import { buildHttpServer, type HttpServer } from '../../src/infrastructure/http/server.js';
import { jwtAuthenticate } from '../../src/infrastructure/http/jwt-authenticator.js';
import { pgStoreError } from '../../src/infrastructure/postgres/errors.js';
import { storageError } from '../../src/infrastructure/sqlite/database.js';
import { storeUnavailable } from '../../src/infrastructure/sql/store-errors.js';
import { createLogger, DEV_ISSUER, JwtAuthenticator, loadOrCreateDevSigningKey, signToken, verificationKeyFrom, type GetSmtpConfigQuery } from '../support/everything.js';
import { createHarness, type Harness } from '../support/fixtures.js';
import { toLoopback } from '../support/grpc.js';

const where = { position: '4711', streamId: 'instance-ops-stream' };
const unknownKey = () =>
  new AesGcmEncryptor(keyRingFrom('k2', { k2: Buffer.alloc(32, 2) }, 'ENCRYPTION_KEYS'))
    .decrypt({ cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'k1', crypted: 'AAAA' })
    .then(() => expect.unreachable('decrypted'), (e: DomainError) => e);

/** Each: how it is made, its id, what the client is told, words only the log may hold. */
const CASES: ReadonlyArray<{ name: string; error: () => DomainError | Promise<DomainError>; id: string; code: number; client: string; operatorOnly: string[] }> = [
  {
    name: 'a secret under a key the ring lacks',
    error: unknownKey,
    id: 'CRYPT-key-n0k3',
    code: 13,
    client: "the server cannot decrypt this configuration's password; its operator must restore the encryption key it was stored under",
    operatorOnly: ['ENCRYPTION_KEYS', '"k1"', '"k2"'],
  },
  {
    name: 'a damaged SQLite file',
    error: () => storageError(new Database.SqliteError('database disk image is malformed', 'SQLITE_CORRUPT'), '/srv/iam/data/read-model.db') as DomainError,
    id: 'STORE-dmg-2k8v',
    code: 13,
    client: "the server's store is damaged; its operator must repair or restore it",
    operatorOnly: ['read-model.db'],
  },
  {
    name: 'a stored event that does not fit its schema',
    error: () => Errors.malformedEvent(where, 'instance.smtp.config.added', 1, [{ field: 'data.id', description: 'Required' }]),
    id: 'EVENT-DEC-7m3q',
    code: 13,
    client: 'the server cannot read a stored event (it does not fit its schema); its operator must repair the event store',
    operatorOnly: ['4711', 'instance-ops-stream', 'data.id', 'BadRequest'],
  },
  {
    name: 'a stored event of a version no upcaster reads',
    error: () => Errors.unknownEventVersion(where, 'instance.smtp.config.added', 9, 1),
    id: 'EVENT-VER-2k8d',
    code: 13,
    client: 'the server cannot read a stored event (a version it does not know); its operator must run a server version that reads it',
    operatorOnly: ['4711', 'instance-ops-stream', 'schemaVersion', 'BadRequest'],
  },
  {
    name: 'PostgreSQL without a free connection slot',
    error: () => pgStoreError(Object.assign(new Error('sorry, too many clients already'), { code: '53300' })) as DomainError,
    id: 'STORE-unav-7q3m',
    code: 14,
    client: 'the store cannot write now (PostgreSQL has no connection slot free, SQLSTATE 53300); nothing was saved, try again later',
    operatorOnly: ['DATABASE_POOL_SIZE', 'max_connections'],
  },
  {
    name: 'EventStoreDB refusing the connection',
    error: () => toStoreError(new UnavailableError(Object.assign(new Error('14 UNAVAILABLE: connect ECONNREFUSED 10.20.30.40:2113'), { code: 14, details: '', metadata: undefined }) as never), 'instance-1') as DomainError,
    id: 'STORE-unav-7q3m',
    code: 14,
    client: 'the store cannot write now (EventStoreDB did not take it); nothing was saved, try again later',
    operatorOnly: ['10.20.30.40', '2113'],
  },
  {
    name: 'a failed flush of events.db',
    error: () => storeUnavailable('flushing /srv/iam/data/events.db to disk failed (EIO); restart the server', new Error('EIO'), 'flushing the events to disk failed (EIO)'),
    id: 'STORE-unav-7q3m',
    code: 14,
    client: 'the store cannot write now (flushing the events to disk failed (EIO)); nothing was saved, try again later',
    operatorOnly: ['/srv/iam', 'events.db'],
  },
];

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly errorId?: string;
  readonly reason?: string;
  readonly err?: { readonly id?: string; readonly message?: string };
}

describe('an error whose message is for the operator', () => {
  let harness: Harness;
  let dir: string;
  let logs: string[];
  let instanceId: string;
  let token: string;
  let failWith: () => unknown;
  let rest: HttpServer | undefined;
  let grpc: GrpcServer | undefined;

  beforeEach(async () => {
    harness = createHarness();
    dir = mkdtempSync(join(tmpdir(), 'operator-only-'));
    logs = [];
    const setUp = await harness.setUpInstance.execute({ name: 'acme', domains: ['acme.example.com'] });
    await harness.runner.waitFor(setUp.position, 5_000);
    instanceId = setUp.instanceId;
    const dev = await loadOrCreateDevSigningKey(dir);
    token = await signToken(dev.privateJwk, { userId: 'u1', instanceId, roles: ['IAM_OWNER'] });
    const logger = createLogger(
      { LOG_LEVEL: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
          done();
        },
      }),
    );
    const authenticator = new JwtAuthenticator({ key: await verificationKeyFrom({ publicJwk: dev.publicJwk }), issuer: DEV_ISSUER });
    const getSmtpConfig = { execute: async () => Promise.reject(failWith()) } as unknown as GetSmtpConfigQuery;
    const deps = { addSmtpConfig: harness.addSmtpConfig, getSmtpConfig, queries: harness.readModel, logger };
    rest = buildHttpServer({ ...deps, authenticate: jwtAuthenticate(authenticator), ready: () => true });
    await rest.ready();
    grpc = await startGrpcServer({ ...deps, authenticator, host: '127.0.0.1', port: 0, limits: { headersTimeoutMs: 5_000, requestTimeoutMs: 5_000, keepAliveTimeoutMs: 5_000, maxConnections: 16 } });
  });
  afterEach(async () => {
    await rest?.close();
    await grpc?.close();
    await harness.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * The lines about a failed request: `request failed` (500, the error as `err`) or the store's
   * warning (503: the reason, and the store's own error as `err`); each with the operator's message.
   */
  const failureLines = () =>
    logs
      .map((l) => JSON.parse(l) as LogLine)
      .filter((l) => l.level >= 40)
      .map((l) => ({ id: l.errorId ?? l.err?.id, logged: l.reason ?? l.err?.message }));
  // (pino's err serializer adds the cause's message after the error's own.)

  it.each(CASES)('$name: $id, told over REST as a kind of failure, the rest in the log', async ({ error, id, code, client, operatorOnly }) => {
    const made = await error();
    failWith = () => made;
    const res = await rest!.inject({ method: 'GET', url: '/admin/v1/smtp/1', headers: { host: 'acme.example.com', authorization: `Bearer ${token}` } });
    expect([res.statusCode, res.json()]).toEqual([
      code === 13 ? 500 : 503,
      { code, message: `${client} (${id})`, details: [{ '@type': 'type.googleapis.com/zitadel.v1.ErrorDetail', id, message: client }] },
    ]);
    for (const word of operatorOnly) expect(res.body).not.toContain(word);
    expect(failureLines()).toEqual([{ id, logged: expect.stringContaining(made.message) }]);
    for (const word of operatorOnly.filter((w) => w !== 'BadRequest')) expect(made.message).toContain(word);
  });

  it.each(CASES)('$name: $id, told over gRPC as a kind of failure, the rest in the log', async ({ error, id, code, client, operatorOnly }) => {
    const made = await error();
    failWith = () => made;
    const port = Number(new URL(grpc!.url).port);
    const e = await createAdminServiceClient(createServerTransport(token, { baseUrl: `http://acme.example.com:${port}`, nodeOptions: toLoopback(port).nodeOptions }))
      .getSMTPConfigById({ id: '1' })
      .then(() => expect.unreachable('answered'), (x: unknown) => ConnectError.from(x));
    expect([e.code as number, e.rawMessage]).toEqual([code, `${client} (${id})`]);
    expect(e.findDetails(ErrorDetailSchema).map((d) => ({ id: d.id, message: d.message }))).toEqual([{ id, message: client }]);
    // No google.rpc.BadRequest: the violations of a stored event are not the request's.
    expect(e.details.map((d) => ('desc' in d ? d.desc.typeName : d.type))).toEqual(['zitadel.v1.ErrorDetail']);
    expect(failureLines()).toEqual([{ id, logged: expect.stringContaining(made.message) }]);
  });
});
