import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { DomainError, isDomainError } from '../../domain/index.js';
import type { AddSmtpConfigUseCase, GetSmtpConfigQuery, InstanceView, Principal, SmtpConfigQueries } from '../../application/index.js';
import { errorBodyOf, httpStatusOf, HttpErrors } from './error-body.js';
import type { JwtAuthenticator } from './jwt-authenticator.js';
import { buildOpenApiDocument } from './openapi.js';

export interface HttpServerDeps {
  readonly addSmtpConfig: AddSmtpConfigUseCase;
  readonly getSmtpConfig: GetSmtpConfigQuery;
  readonly queries: SmtpConfigQueries;
  readonly authenticator: JwtAuthenticator;
  readonly logger: FastifyBaseLogger;
  /** Whether the read model has caught up and the server may take traffic. */
  readonly ready: () => boolean;
  readonly bodyLimitBytes?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    instance?: InstanceView;
    principal?: Principal;
  }
}

/** Paths to censor in every log line: the SMTP password, the Authorization header, tokens. */
export const LOG_REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'password',
  '*.password',
  'body.password',
  'token',
  '*.token',
];

/** `Host: acme.example.com:8080` → `acme.example.com`; `[::1]:8080` → `::1`. */
export const domainOfHost = (host: string | undefined): string => {
  const h = (host ?? '').trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
};

const toDomainError = (error: unknown): DomainError => {
  if (isDomainError(error)) return error;
  const e = error as { code?: string; statusCode?: number };
  if (typeof e.code === 'string' && e.code.startsWith('FST_ERR_CTP_')) {
    const reason =
      e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? 'Content-Type must be application/json'
        : e.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? 'request body is too large'
          : e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
            ? 'request body is empty'
            : 'request body is not valid JSON';
    return HttpErrors.badRequest('HTTP-BODY', reason);
  }
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) return HttpErrors.badRequest('HTTP-400', 'bad request');
  return HttpErrors.internal(error);
};

/**
 * The Admin API's SMTP routes on Fastify. Instances are found by the request's Host; callers are
 * authenticated by bearer JWT; every error leaves in the API document's body with grpc-gateway's
 * status for its code, and nothing internal in it.
 */
export const buildHttpServer = (deps: HttpServerDeps): FastifyInstance => {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: deps.bodyLimitBytes ?? 16 * 1024,
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });

  app.setErrorHandler((error, request, reply) => {
    const domainError = toDomainError(error);
    const status = httpStatusOf[domainError.kind];
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ errorId: domainError.id, code: domainError.grpcCode }, 'request rejected');
    void reply.status(status).type('application/json').send(errorBodyOf(domainError));
  });
  app.setNotFoundHandler((_request, reply) => {
    void reply.status(404).type('application/json').send(errorBodyOf(HttpErrors.routeNotFound()));
  });

  const openApi = buildOpenApiDocument();
  app.get('/openapi.json', async () => openApi);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (!deps.ready()) return reply.status(503).send(errorBodyOf(HttpErrors.unavailable()));
    return { status: 'ready' };
  });

  const resolveCaller = async (request: FastifyRequest): Promise<{ instance: InstanceView; principal: Principal }> => {
    const instance = await deps.queries.instanceByDomain(domainOfHost(request.headers.host));
    if (!instance) throw HttpErrors.instanceNotFound();
    const principal = await deps.authenticator.authenticate(request.headers.authorization, instance.id);
    return { instance, principal };
  };

  app.post('/admin/v1/smtp', async (request) => {
    const { instance, principal } = await resolveCaller(request);
    return deps.addSmtpConfig.execute({ principal, instanceId: instance.id, body: request.body, correlationId: request.id });
  });

  app.get<{ Params: { id: string } }>('/admin/v1/smtp/:id', async (request) => {
    const { instance, principal } = await resolveCaller(request);
    const v = await deps.getSmtpConfig.execute({ principal, instanceId: instance.id, id: request.params.id });
    return {
      smtpConfig: {
        details: { sequence: v.sequence.toString(), creationDate: v.creationDate, changeDate: v.changeDate, resourceOwner: v.resourceOwner },
        id: v.id,
        senderAddress: v.senderAddress,
        senderName: v.senderName,
        tls: v.tls,
        host: v.host,
        user: v.user,
        replyToAddress: v.replyToAddress,
        description: v.description,
      },
    };
  });

  return app;
};
