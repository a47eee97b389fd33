// The gRPC entry point: `zitadel.admin.v1.AdminService` over gRPC, gRPC-web and Connect. It loads
// @zitadel/proto (about 10 MB of schemas), so the server imports this module only when gRPC is on.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createContextValues, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { Logger } from 'pino';
import { isDomainError } from '../../domain/index.js';
import { HttpErrors, logReasonOf } from '../http/error-body.js';
import { isStoreFault, STORE_FAULT_MSG, storeFaultLog } from '../http/store-fault-log.js';
import { adminServiceRoutes, AUTHORITY, REQUEST_ID, type AdminServiceDeps } from './admin-service.js';
import { connectErrorOf, toConnectError } from './error-details.js';
import { createGrpcListener, type GrpcListenerLimits } from './listener.js';

export { adminServiceRoutes, type AdminServiceDeps } from './admin-service.js';
export { BadRequestSchema, connectErrorOf } from './error-details.js';

export interface GrpcServerOptions extends AdminServiceDeps {
  readonly logger: Logger;
  readonly host: string;
  readonly port: number;
  readonly limits: GrpcListenerLimits;
  /** The largest request message, as on the REST port (default 16 KiB). */
  readonly readMaxBytes?: number;
}

export interface GrpcServer {
  /** The base URL the clients use (`baseUrl` of @zitadel/client's transports). */
  readonly url: string;
  /** Like the REST port's drain: new calls answer UNAVAILABLE (14), calls in flight finish. */
  drain(graceMs: number, quietMs?: number): Promise<{ inFlight: number }>;
  close(): Promise<void>;
}

/**
 * Serves the Admin API's implemented methods on `host:port` for HTTP/2 (gRPC, Connect) and
 * HTTP/1.1 (gRPC-web, Connect), binary or JSON. Errors leave as ZITADEL sends them (error-details.ts).
 */
export const startGrpcServer = async (options: GrpcServerOptions): Promise<GrpcServer> => {
  const { logger } = options;
  let inFlight = 0;
  let lastArrival = Date.now();
  let listener: ReturnType<typeof createGrpcListener> | undefined;

  // Every call: refused while draining, logged as the REST port logs, its errors in ZITADEL's shape.
  const perCall: Interceptor = (next) => async (req) => {
    const reqId = randomUUID();
    req.contextValues.set(REQUEST_ID, reqId);
    const log = logger.child({ reqId });
    const method = `${req.service.typeName}/${req.method.name}`;
    const started = performance.now();
    inFlight++;
    try {
      if (listener?.draining) {
        log.info({ errorId: 'HTTP-SHUTDOWN', method }, 'refused during shutdown');
        throw connectErrorOf(HttpErrors.shuttingDown());
      }
      const res = await next(req);
      log.info({ method, code: 0, responseTime: performance.now() - started }, 'request completed');
      return res;
    } catch (error) {
      const { connectError, internal } = toConnectError(error);
      if (internal) log.error({ err: error, method }, 'request failed');
      else if (isDomainError(error) && isStoreFault(error)) log.warn({ method, ...storeFaultLog(error), responseTime: performance.now() - started }, STORE_FAULT_MSG);
      else log.info({ method, code: connectError.code, errorId: (error as { id?: string }).id, ...logReasonOf(error), responseTime: performance.now() - started }, 'request rejected');
      throw connectError;
    } finally {
      inFlight--;
    }
  };

  const handler = connectNodeAdapter({
    routes: adminServiceRoutes(options),
    interceptors: [perCall],
    readMaxBytes: options.readMaxBytes ?? 16 * 1024,
    contextValues: (req) => {
      const values = createContextValues();
      const authority = req.headers[':authority'] ?? req.headers.host;
      return values.set(AUTHORITY, typeof authority === 'string' ? authority : undefined);
    },
  });
  listener = createGrpcListener(handler, options.limits, () => {
    lastArrival = Date.now();
  });
  const net = listener.net;
  await new Promise<void>((resolve, reject) => {
    net.once('error', reject);
    net.listen(options.port, options.host, () => {
      net.off('error', reject);
      resolve();
    });
  });
  const address = net.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  logger.info({ url, protocols: ['grpc', 'grpc-web', 'connect'] }, `gRPC, gRPC-web and Connect on ${url}`);
  const active = listener;
  return {
    url,
    async drain(graceMs, quietMs = 200) {
      active.startDraining();
      const deadline = Date.now() + graceMs;
      for (;;) {
        const now = Date.now();
        if (now >= deadline) break;
        if (inFlight === 0 && now - lastArrival >= quietMs) break;
        await new Promise((r) => setTimeout(r, Math.min(25, deadline - now)));
      }
      return { inFlight };
    },
    close: () => active.close(),
  };
};
