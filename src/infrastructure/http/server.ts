import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { DomainError, isDomainError } from '../../domain/index.js';
import type { AddSmtpConfigUseCase, GetSmtpConfigQuery, InstanceView, Principal, SmtpConfigQueries } from '../../application/index.js';
import { clientErrorHandler } from './client-errors.js';
import { errorBodyOf, HttpErrors, statusOf } from './error-body.js';
import { installDrain, type Drain } from './drain.js';
import { utf8JsonParser } from './json-body.js';
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
  readonly limits?: HttpLimits;
}

/** Timeouts and connection limits (see `HTTP_*` in config.ts). */
export interface HttpLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 65_000, maxConnections: 1024 };

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

/** `Host: acme.example.com:8080` → `acme.example.com`; `[::1]:8080` → `::1`; `localhost.` → `localhost` (the root's dot). */
export const domainOfHost = (host: string | undefined): string => {
  const h = (host ?? '').trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  const name = colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
  return name.endsWith('.') ? name.slice(0, -1) : name;
};

/** How many Host headers the request carried (Node keeps only the first in `headers.host`). */
const hostHeaderCount = (rawHeaders: readonly string[]): number => {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'host') n++;
  return n;
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
  if (e.code === 'FST_ERR_BAD_URL') return HttpErrors.badUrl();
  if (e.code === 'FST_ERR_MAX_PARAM_LENGTH') return HttpErrors.uriTooLong();
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) return HttpErrors.badRequest('HTTP-400', 'bad request');
  return HttpErrors.internal(error);
};

/** Every error leaves through here: the API document's body, the status for its code. */
const sendError = (request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply => {
  const domainError = toDomainError(error);
  const status = statusOf(domainError);
  if (status >= 500 && status !== 503) request.log.error({ err: error }, 'request failed');
  else request.log.info({ errorId: domainError.id, code: domainError.grpcCode }, 'request rejected');
  return reply.status(status).type('application/json').send(errorBodyOf(domainError));
};

/**
 * One log line per request at info, "request completed" with the request and the answer, instead of
 * Fastify's two ("incoming request" is logged at debug only): a line costs about 13 µs.
 */
class OneLinePerRequest extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) return super.requestCompleted(error, request, reply, {});
    reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

export type HttpServer = FastifyInstance & { readonly drain: Drain };

/**
 * The Admin API's SMTP routes on Fastify. Instances are found by the request's Host; callers are
 * authenticated by bearer JWT; every error leaves in the API document's body with grpc-gateway's
 * status for its code, and nothing internal in it.
 */
export const buildHttpServer = (deps: HttpServerDeps): HttpServer => {
  const limits = deps.limits ?? DEFAULT_HTTP_LIMITS;
  const bodyLimit = deps.bodyLimitBytes ?? 16 * 1024;
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit,
    genReqId: () => randomUUID(),
    logController: new OneLinePerRequest(),
    // Draining (drain.ts) answers requests that arrive during shutdown, in the API's error shape.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // Node checks the two timeouts above this often (default 30 s, which would stretch them).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 2))),
      // A request without Host is answered by the onRequest hook below, in the API's error shape.
      requireHostHeader: false,
    },
    // The router's own errors (bad percent-encoding, over-long parameters) take the common path.
    frameworkErrors: (error, request, reply) => sendError(request, reply, error),
    clientErrorHandler,
  });
  app.server.maxConnections = limits.maxConnections;
  const drain = installDrain(app);

  app.setErrorHandler((error, request, reply) => {
    void sendError(request, reply, error);
  });
  app.setNotFoundHandler((_request, reply) => {
    void reply.status(404).type('application/json').send(errorBodyOf(HttpErrors.routeNotFound()));
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, utf8JsonParser(app.getDefaultJsonParser('error', 'error')));
  app.addHook('onRequest', async (request) => {
    const hosts = hostHeaderCount(request.raw.rawHeaders);
    if (hosts > 1) throw HttpErrors.badRequest('HTTP-HOST', 'more than one Host header');
    if (hosts === 0 && request.raw.httpVersion !== '1.0') throw HttpErrors.badRequest('HTTP-HOST', 'the Host header is missing');
  });

  const openApi = buildOpenApiDocument();
  app.get('/openapi.json', async () => openApi);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (!deps.ready() || drain.draining) return reply.status(503).send(errorBodyOf(HttpErrors.unavailable()));
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

  return Object.assign(app, { drain });
};
