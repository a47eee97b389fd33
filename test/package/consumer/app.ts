// A consumer of the packed tarball, compiled with strict settings (see tsconfig.json). It imports
// every entry point, embeds the module three ways and prints what it found, for the test to read.
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { Container } from 'inversify';
import * as root from '@iam/smtp-config';
import { Instance, isSmtpConfigAlreadyExists, type AddSmtpConfig } from '@iam/smtp-config/domain';
import { AddSmtpConfigUseCase, GetSmtpConfigQuery, ProjectionRunner, RoleBasedPermissionChecker, SetUpInstanceUseCase, projectEvent, toJsonView } from '@iam/smtp-config/application';
import { AesGcmEncryptor, InMemoryEventStore, InMemoryProjectionStore, SonyflakeIdGenerator, SystemClock, keyRingFrom } from '@iam/smtp-config/adapters';
import { DeciderSpecification, smtp } from '@iam/smtp-config/testing';
import { getService, smtpConfigModule, TOKENS } from '@iam/smtp-config/inversify';
import { smtpConfigPlugin, type Authenticate } from '@iam/smtp-config/fastify';
import { JwtAuthenticator, jwtAuthenticate } from '@iam/smtp-config/jwt';
import { EventStoreDBEventStore } from '@iam/smtp-config/eventstoredb';
import { SqliteEventStore } from '@iam/smtp-config/sqlite';
import { PostgresEventStore } from '@iam/smtp-config/postgres';
import pkg from '@iam/smtp-config/package.json' with { type: 'json' };

/** The app's own view of who is calling: must not clash with anything the package declares. */
interface AppUser {
  readonly login: string;
}
declare module 'fastify' {
  interface FastifyRequest {
    principal: AppUser;
    instance: number;
  }
}

const seed = {
  senderAddress: 'noreply@m.zitadel.cloud',
  senderName: 'ZITADEL',
  tls: true,
  host: 'smtp.postmarkapp.com:587',
  user: '197f0117-529e-443d-bf6c-0292dd9a02b7',
  password: 'this-is-my-password',
  replyToAddress: 'replyto@m.zitadel.cloud',
  description: 'provider description',
};

const out: Record<string, unknown> = { name: pkg.name, rootExports: Object.keys(root).length };

// 1. Plain functions, no container.
{
  const events = new InMemoryEventStore();
  const readModel = new InMemoryProjectionStore();
  const clock = new SystemClock();
  const ids = new SonyflakeIdGenerator(clock);
  const runner = new ProjectionRunner(events, readModel, { handler: projectEvent, streamPrefixes: ['instance-'] });
  runner.start();
  const { instanceId } = await new SetUpInstanceUseCase({ events, clock, ids }).execute({ name: 'acme', domains: ['acme.example.com'] });
  const encryptor = new AesGcmEncryptor(keyRingFrom('k', { k: randomBytes(32) }));
  const permissions = new RoleBasedPermissionChecker();
  const principal = { userId: 'u1', instanceId, roles: ['IAM_OWNER'] };
  const added = await new AddSmtpConfigUseCase({ events, queries: readModel, projection: runner, clock, ids, encryptor, permissions }).execute({ principal, instanceId, body: seed });
  const view = await new GetSmtpConfigQuery({ queries: readModel, permissions }).execute({ principal, instanceId, id: added.id });
  out['plain'] = { id: added.id, json: JSON.stringify(toJsonView(view)) };
  await runner.stop();
}

// 2. The inversify module, typed tokens.
{
  const container = new Container();
  container.load(smtpConfigModule({ keyRing: keyRingFrom('k', { k: randomBytes(32) }) }));
  getService(container, TOKENS.ProjectionRunner);
  const { instanceId } = await getService(container, TOKENS.SetUpInstance).execute({ name: 'acme', domains: ['acme.example.com'] });
  const principal = { userId: 'u1', instanceId, roles: ['IAM_OWNER'] };
  const first = await getService(container, TOKENS.AddSmtpConfig).execute({ principal, instanceId, body: seed });
  const again = await getService(container, TOKENS.AddSmtpConfig).execute({ principal, instanceId, body: seed }).catch((e: unknown) => e);
  out['inversify'] = { id: first.id, secondIsAlreadyExists: isSmtpConfigAlreadyExists(again) };

  // 3. The Fastify plugin in an app with its own routes and its own `principal`.
  const app = Fastify();
  app.addHook('onRequest', async (request) => {
    request.principal = { login: 'app-user' };
    request.instance = 7;
  });
  app.get('/mine', async (request) => ({ login: request.principal.login, instance: request.instance }));
  const authenticate: Authenticate = (_request, instance) => ({ userId: 'u1', instanceId: instance.id, roles: ['IAM_OWNER'] });
  await app.register(smtpConfigPlugin, {
    prefix: '/iam',
    addSmtpConfig: getService(container, TOKENS.AddSmtpConfig),
    getSmtpConfig: getService(container, TOKENS.GetSmtpConfig),
    resolveInstance: async () => ({ id: instanceId }),
    authenticate,
  });
  const response = await app.inject({ method: 'GET', url: `/iam/admin/v1/smtp/${first.id}` });
  const mine = await app.inject({ method: 'GET', url: '/mine' });
  out['fastify'] = { status: response.statusCode, mine: mine.json() };
  await app.close();
  await container.unbindAllAsync();
}

// 4. The testing kit.
{
  const command: AddSmtpConfig = smtp.addSmtpConfig();
  DeciderSpecification.for(Instance).given([smtp.instanceAdded()]).when(command).then(smtp.smtpConfigAdded({ id: command.configId }));
  out['testing'] = 'ok';
}

// The adapters' classes, loaded (their drivers are never connected here).
out['adapters'] = [EventStoreDBEventStore, SqliteEventStore, PostgresEventStore, JwtAuthenticator, jwtAuthenticate].map((x) => typeof x);
console.log(JSON.stringify(out));
