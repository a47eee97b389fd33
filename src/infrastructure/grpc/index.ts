// The gRPC entry point: `zitadel.admin.v1.AdminService` over gRPC, gRPC-web and Connect. It loads
// @zitadel/proto (about 10 MB of schemas), so the server imports this module only when gRPC is on.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createContextKey, createContextValues, type Interceptor } from '@connectrpc/connect';
import { codeFromString } from '@connectrpc/connect/protocol-connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { Logger } from 'pino';
import { isDomainError } from '../../domain/index.js';
import { HttpErrors, logReasonOf } from '../http/error-body.js';
import { isStoreFault, STORE_FAULT_MSG, storeFaultLog } from '../http/store-fault-log.js';
import { adminServiceRoutes, AUTHORITY, REQUEST_ID, type AdminServiceDeps } from './admin-service.js';
import { connectErrorOf, toConnectError } from './error-details.js';
import { createGrpcListener, type GrpcListenerLimits } from './listener.js';

/** The node request of a call, so the interceptor can mark it as logged. */
const CALL_MARKER = createContextKey<object | undefined>(undefined, { description: 'call marker' });

type NodeHandler = Parameters<typeof createGrpcListener>[0];
type NodeResponse = Parameters<NodeHandler>[1];

/** A Connect unary error body (`{"code":"invalid_argument",…}`) is small; more is not kept. */
const CONNECT_ERROR_BODY_MAX = 64 * 1024;

/**
 * The code of a Connect unary error: its JSON body's `code` (a Connect answer has no grpc-status),
 * or undefined for any other answer.
 */
const connectErrorCode = (res: NodeResponse, body: Buffer[]): number | undefined => {
  // Connect writes its headers with writeHead, which getHeader does not see: the body tells.
  if (res.statusCode === 200 || body.length === 0) return undefined;
  try {
    const { code } = JSON.parse(Buffer.concat(body).toString('utf8')) as { code?: unknown };
    return typeof code === 'string' ? codeFromString(code) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The gRPC status a response carries: a trailer (gRPC), a header (trailers-only), the gRPC-web
 * trailer frame, or a Connect unary error's JSON body.
 */
const statusWatch = (res: NodeResponse): (() => number | undefined) => {
  let code: string | undefined;
  const body: Buffer[] = [];
  let bodyBytes = 0;
  const keep = (chunk: unknown): void => {
    if (res.statusCode === 200 || !(chunk instanceof Uint8Array) || bodyBytes + chunk.length > CONNECT_ERROR_BODY_MAX) return;
    body.push(Buffer.from(chunk));
    bodyBytes += chunk.length;
  };
  const addTrailers = res.addTrailers.bind(res) as (t: Record<string, unknown>) => void;
  (res as { addTrailers: (t: Record<string, unknown>) => void }).addTrailers = (trailers) => {
    if (typeof trailers['grpc-status'] === 'string') code = trailers['grpc-status'];
    addTrailers(trailers);
  };
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  (res as { write: (...args: unknown[]) => boolean }).write = (chunk: unknown, ...rest: unknown[]) => {
    // gRPC-web's trailer frame: flag 0x80, a 4-byte length, then HTTP/1-style header lines.
    if (chunk instanceof Uint8Array && chunk[0] === 0x80 && chunk.length > 5) {
      const found = /(?:^|\r\n)grpc-status: ?(\d+)/i.exec(Buffer.from(chunk.subarray(5)).toString('latin1'));
      if (found) code = found[1];
    }
    keep(chunk);
    return write(chunk, ...rest);
  };
  const end = res.end.bind(res) as (...args: unknown[]) => NodeResponse;
  (res as { end: (...args: unknown[]) => NodeResponse }).end = (chunk?: unknown, ...rest: unknown[]) => {
    keep(chunk);
    return end(chunk, ...rest);
  };
  return () => {
    const fromHeader = res.getHeader('grpc-status');
    const value = code ?? (typeof fromHeader === 'string' ? fromHeader : undefined);
    return value === undefined ? connectErrorCode(res, body) : Number(value);
  };
};

export { adminServiceRoutes, type AdminServiceDeps } from './admin-service.js';
export { BadRequestSchema, connectErrorOf } from './error-details.js';

/** What a request says of its host before the adapter sees it: the header (undefined when none came) and how many came. */
interface Addressed {
  readonly authority: string | undefined;
  readonly hosts: number;
}
const addressed = new WeakMap<object, Addressed>();
/** Stands in for an authority connect cannot put into a URL; the instance lookup uses the request's own. */
const UNPARSEABLE = 'authority.invalid';

/**
 * Records the request's host, then leaves the adapter one it can use: connect-node builds
 * `new URL(path, 'http://' + authority)` synchronously in the socket's event, so a request with no
 * Host (HTTP/1.1), or one such as `localhost:99999`, threw there and ended the whole process.
 */
const recordAuthority = (req: Parameters<NodeHandler>[0]): void => {
  const headers = req.headers as Record<string, string | string[] | undefined>;
  const http2 = req.httpVersionMajor === 2;
  const value = (http2 ? headers[':authority'] : undefined) ?? headers.host;
  const authority = typeof value === 'string' ? value : undefined;
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') hosts++;
  addressed.set(req, { authority, hosts: http2 && headers[':authority'] !== undefined ? 1 : hosts });
  if (authority !== undefined && URL.canParse(`http://${authority}`)) return;
  if (http2) headers[':authority'] = UNPARSEABLE;
  else headers.host = UNPARSEABLE;
};

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
  // Calls the interceptor sees log themselves; the rest (refused by connect before it: a message over
  // the limit, one that is not protobuf, an unknown compression, a wrong content type or path) once answered.
  const seen = new WeakSet<object>();
  const perCall: Interceptor = (next) => async (req) => {
    const reqId = randomUUID();
    req.contextValues.set(REQUEST_ID, reqId);
    const marker = req.contextValues.get(CALL_MARKER);
    if (marker) seen.add(marker);
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
      const seenHost = addressed.get(req) ?? { authority: undefined, hosts: 0 };
      return createContextValues().set(AUTHORITY, seenHost).set(CALL_MARKER, req);
    },
  });
  const logged: NodeHandler = (req, res) => {
    const started = performance.now();
    const codeOf = statusWatch(res);
    res.once('close', () => {
      if (seen.has(req)) return;
      const code = codeOf();
      // The method path and codes only: connect's own messages can quote what was sent (a JSON message that
      // does not decode answers ours, json-decode.ts, which does not; the line still keeps to codes).
      logger.child({ reqId: randomUUID() }).info(
        { method: (req.url ?? '').split('?')[0]?.replace(/^\//, ''), status: res.statusCode, ...(code !== undefined ? { code } : {}), responseTime: performance.now() - started },
        'request rejected',
      );
    });
    recordAuthority(req);
    try {
      handler(req, res);
    } catch (error) {
      // Nothing the adapter throws here may end the process; the request is simply cut.
      logger.error({ err: error, method: req.url }, 'request failed');
      req.destroy();
    }
  };
  listener = createGrpcListener(logged, options.limits, () => {
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
