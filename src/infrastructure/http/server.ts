import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AddSmtpConfigUseCase, GetSmtpConfigQuery, SmtpConfigQueries } from '../../application/index.js';
import { clientErrorHandler, connectRequestHandler } from './client-errors.js';
import { errorBodyOf, HttpErrors } from './error-body.js';
import { installDrain, type Drain } from './drain.js';
import { utf8JsonParser } from './json-body.js';
import { sendError } from './send-error.js';
import { smtpConfigPlugin, type Authenticate } from './smtp-config-plugin.js';
import type { SmtpLifecycleRoutesDeps } from './smtp-lifecycle-routes.js';

export { domainOfHost } from './smtp-config-plugin.js';

export interface HttpServerDeps {
  readonly addSmtpConfig: AddSmtpConfigUseCase;
  readonly getSmtpConfig: GetSmtpConfigQuery;
  /** Read, update, password, remove and test-mail routes (smtp-lifecycle-routes.ts). */
  readonly smtpLifecycle?: SmtpLifecycleRoutesDeps;
  readonly queries: SmtpConfigQueries;
  /** Who is calling; `jwtAuthenticate(new JwtAuthenticator(…))` from `@iam/smtp-config/jwt` checks bearer JWTs. */
  readonly authenticate: Authenticate;
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

/**
 * A request as its log lines show it: Fastify's fields, with the path for the URL. The query string
 * is left out (a client may put anything there, a password too); `query` says that one was sent.
 */
export const requestLogValue = (request: FastifyRequest): Record<string, unknown> => {
  const url = request.url;
  const q = url.indexOf('?');
  return {
    method: request.method,
    url: q < 0 ? url : url.slice(0, q),
    ...(q < 0 ? {} : { query: '[REDACTED]' }),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
};

/** How many Host headers the request carried (Node keeps only the first in `headers.host`). */
const hostHeaderCount = (rawHeaders: readonly string[]): number => {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'host') n++;
  return n;
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
 * The stand-alone server `npm start` runs: the SMTP plugin (smtp-config-plugin.ts) inside Fastify with
 * the hardening around it. Instances are found by the request's Host; callers are
 * authenticated by `deps.authenticate` (bearer JWT in npm start); every error leaves in the API document's body with grpc-gateway's
 * status for its code, and nothing internal in it.
 */
export const buildHttpServer = (deps: HttpServerDeps): HttpServer => {
  const limits = deps.limits ?? DEFAULT_HTTP_LIMITS;
  const bodyLimit = deps.bodyLimitBytes ?? 16 * 1024;
  const app = Fastify({
    // Every line that logs the request (`req`) shows it without its query string (requestLogValue).
    loggerInstance: deps.logger.child({}, { serializers: { req: requestLogValue } }),
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
  app.server.on('connect', connectRequestHandler.bind(app));
  const drain = installDrain(app);

  app.setErrorHandler((error, request, reply) => {
    void sendError(request, reply, error);
  });
  app.setNotFoundHandler((_request, reply) => {
    void reply.status(404).type('application/json').send(errorBodyOf(HttpErrors.routeNotFound()));
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, utf8JsonParser(app.getDefaultJsonParser('error', 'error')));
  app.addHook('onRequest', (request, _reply, done) => {
    const hosts = hostHeaderCount(request.raw.rawHeaders);
    if (hosts > 1) return done(HttpErrors.badRequest('HTTP-HOST', 'more than one Host header'));
    if (hosts === 0 && request.raw.httpVersion !== '1.0') return done(HttpErrors.badRequest('HTTP-HOST', 'the Host header is missing'));
    done();
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (!deps.ready() || drain.draining) return reply.status(503).send(errorBodyOf(HttpErrors.unavailable()));
    return { status: 'ready' };
  });
  // The routes and the OpenAPI document: the same plugin an embedding application registers.
  void app.register(smtpConfigPlugin, {
    addSmtpConfig: deps.addSmtpConfig,
    getSmtpConfig: deps.getSmtpConfig,
    ...(deps.smtpLifecycle ? { smtpLifecycle: deps.smtpLifecycle } : {}),
    queries: deps.queries,
    authenticate: deps.authenticate,
    bodyLimitBytes: bodyLimit,
  });

  return Object.assign(app, { drain });
};
