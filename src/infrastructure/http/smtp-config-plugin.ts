import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AddSmtpConfigUseCase, GetSmtpConfigQuery, InstanceView, Principal, SmtpConfigQueries } from '../../application/index.js';
import { HttpErrors } from './error-body.js';
import { installBodyParsers } from './json-body.js';
import { buildOpenApiDocument } from './openapi.js';
import { protoJsonBody, SmtpProtoJsonMessages } from './protojson-body.js';
import { sendError } from './send-error.js';
import { registerSmtpLifecycleRoutes, smtpConfigResponse, type SmtpLifecycleRoutesDeps } from './smtp-lifecycle-routes.js';

/** The instance a request addresses, as the plugin needs it. */
export type SmtpConfigInstance = Pick<InstanceView, 'id'> & Partial<InstanceView>;

/**
 * Who is calling, for the instance the request addresses. Throw a DomainError (`Errors.unauthenticated`)
 * to refuse; a bearer-JWT implementation is `jwtAuthenticate` in `@iam/smtp-config/jwt`.
 */
export type Authenticate = (request: FastifyRequest, instance: SmtpConfigInstance) => Promise<Principal> | Principal;

export interface SmtpConfigPluginOptions {
  readonly addSmtpConfig: Pick<AddSmtpConfigUseCase, 'execute'>;
  readonly getSmtpConfig: Pick<GetSmtpConfigQuery, 'execute'>;
  /** The configuration's life after the add: GET /admin/v1/smtp, PUT, PUT …/password, DELETE and the test mails. Absent: only add and get by id. */
  readonly smtpLifecycle?: SmtpLifecycleRoutesDeps;
  readonly authenticate: Authenticate;
  /**
   * Which instance a request addresses. Default: the one whose domain is the request's Host
   * (through `queries.instanceByDomain`), as ZITADEL does; an undefined answer is 404.
   */
  readonly resolveInstance?: (request: FastifyRequest) => Promise<SmtpConfigInstance | undefined>;
  /** Needed for the default `resolveInstance`. */
  readonly queries?: Pick<SmtpConfigQueries, 'instanceByDomain'>;
  /** Where the OpenAPI document is served under the prefix (default `/openapi.json`); false: not at all. */
  readonly openApiPath?: string | false;
  /**
   * The add's idempotency key, e.g. `(request) => request.headers['idempotency-key']` (a string of at
   * most 200 characters, else ignored). A POST retried with the same key after a success gets the
   * first answer again. Default: none (every POST is a new command).
   */
  readonly commandIdOf?: (request: FastifyRequest) => string | string[] | undefined;
  /** The largest JSON body the plugin's routes accept (default 16 KiB). */
  readonly bodyLimitBytes?: number;
}

/** What the plugin found out about a request: kept beside it, never as a property on every FastifyRequest. */
export interface SmtpConfigCaller {
  readonly instance: SmtpConfigInstance;
  readonly principal: Principal;
}

const callers = new WeakMap<FastifyRequest, SmtpConfigCaller>();

/** The instance and principal the plugin resolved for a request (for the app's own hooks, e.g. onResponse audit logs). */
export const smtpConfigCallerOf = (request: FastifyRequest): SmtpConfigCaller | undefined => callers.get(request);

/** `Host: acme.example.com:8080` → `acme.example.com`; `[::1]:8080` → `::1`; `localhost.` → `localhost` (the root's dot). */
export const domainOfHost = (host: string | undefined): string => {
  const h = (host ?? '').trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  const name = colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
  return name.endsWith('.') ? name.slice(0, -1) : name;
};

/**
 * The Admin API's SMTP routes as a Fastify plugin: `POST /admin/v1/smtp`, `GET /admin/v1/smtp/:id`
 * and the OpenAPI document, with the API's error body for every error they raise. Register it with
 * a `prefix` to mount it elsewhere. It is encapsulated: its error handler and JSON parser apply to
 * its own routes only, and it declares nothing on the app's FastifyRequest.
 */
export const smtpConfigPlugin: FastifyPluginAsync<SmtpConfigPluginOptions> = async (app, options) => {
  const resolveInstance =
    options.resolveInstance ??
    (() => {
      const queries = options.queries;
      if (!queries) throw new TypeError('smtpConfigPlugin: pass `queries` (to find instances by Host) or `resolveInstance`');
      return (request: FastifyRequest) => queries.instanceByDomain(domainOfHost(request.headers.host));
    })();
  const bodyLimit = options.bodyLimitBytes ?? 16 * 1024;

  app.setErrorHandler((error, request, reply) => {
    void sendError(request, reply, error);
  });
  installBodyParsers(app, bodyLimit);

  const openApiPath = options.openApiPath ?? '/openapi.json';
  if (openApiPath !== false) {
    // Its paths are the API's own; under a prefix a client generated from it needs the prefix as its server.
    const document = app.prefix ? { ...buildOpenApiDocument(), servers: [{ url: app.prefix }] } : buildOpenApiDocument();
    app.get(openApiPath, async () => document);
  }

  const resolveCaller = async (request: FastifyRequest): Promise<SmtpConfigCaller> => {
    const instance = await resolveInstance(request);
    if (!instance) throw HttpErrors.instanceNotFound();
    const principal = await options.authenticate(request, instance);
    const caller = { instance, principal };
    callers.set(request, caller);
    return caller;
  };

  app.post('/admin/v1/smtp', { preValidation: protoJsonBody(SmtpProtoJsonMessages.add) }, async (request) => {
    const { instance, principal } = await resolveCaller(request);
    const key = options.commandIdOf?.(request);
    const commandId = typeof key === 'string' && key.length > 0 && key.length <= 200 ? key : undefined;
    return options.addSmtpConfig.execute({
      principal,
      instanceId: instance.id,
      body: request.body,
      correlationId: request.id,
      ...(commandId !== undefined ? { commandId } : {}),
    });
  });

  app.get<{ Params: { id: string } }>('/admin/v1/smtp/:id', async (request) => {
    const { instance, principal } = await resolveCaller(request);
    return smtpConfigResponse(await options.getSmtpConfig.execute({ principal, instanceId: instance.id, id: request.params.id }));
  });

  if (options.smtpLifecycle) registerSmtpLifecycleRoutes(app, options.smtpLifecycle, resolveCaller);
};
