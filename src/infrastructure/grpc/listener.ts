import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import { createServer as createNetServer, type Socket } from 'node:net';

/** Timeouts and limits, the same `HTTP_*` settings as the REST port. */
export interface GrpcListenerLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
}

type Handler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * One port for HTTP/2 without TLS (native gRPC: `PRI * HTTP/2.0` preface) and HTTP/1.1 (gRPC-web
 * from browsers and fetch, Connect): the first bytes of a connection decide which of two Node
 * servers gets it. Both serve the same handler. Drains like the REST port: while draining, HTTP/2
 * sessions get GOAWAY and HTTP/1.1 responses `Connection: close`; the handler answers new calls 14.
 */
export const createGrpcListener = (handler: Handler, limits: GrpcListenerLimits, onArrival: () => void) => {
  let draining = false;
  const sessions = new Set<ServerHttp2Session>();
  const sockets = new Set<Socket>();

  const guarded: Handler = (req, res) => {
    onArrival();
    if (draining) {
      // Answered (UNAVAILABLE, by the handler), then the connection ends: `Connection: close` on
      // HTTP/1.1, GOAWAY once its streams are done on HTTP/2.
      if (req.httpVersionMajor === 1) (res as ServerResponse).setHeader('connection', 'close');
      else res.once('finish', () => (req as Http2ServerRequest).stream.session?.close());
    }
    // A client too slow to send its whole request is cut, as on the REST port.
    const timer = setTimeout(() => req.destroy(), limits.requestTimeoutMs);
    timer.unref();
    req.once('end', () => clearTimeout(timer));
    res.once('close', () => clearTimeout(timer));
    handler(req, res);
  };

  const http1 = createHttp1Server(
    {
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      requireHostHeader: false,
      // As on the REST port: a request head (first or kept-alive) not complete within the headers
      // timeout, or a request not within the request timeout, is answered 408 and cut.
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 2))),
    },
    guarded,
  );
  // Node checks those timeouts only on a server that has emitted 'listening' (it then starts tracking
  // its connections); this one never listens, it is handed sockets, so without this a client that
  // trickled its headers held its connection, one of HTTP_MAX_CONNECTIONS, for ever.
  http1.emit('listening');
  const http2 = createHttp2Server({}, guarded);
  http2.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    // An HTTP/2 connection with no activity for this long is closed (the REST port's keep-alive).
    session.setTimeout(limits.keepAliveTimeoutMs, () => session.close());
    session.once('close', () => sessions.delete(session));
  });

  const net = createNetServer({ pauseOnConnect: true }, (socket) => {
    onArrival();
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // Nothing received within the headers timeout: the client is gone or too slow.
    const timer = setTimeout(() => socket.destroy(), limits.headersTimeoutMs);
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      const isHttp2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (isHttp2 && seen.length < PREFACE.length) return; // a prefix of the preface so far
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(seen);
      if (isHttp2) {
        // The HTTP/2 session reads the bytes put back itself and then takes the socket's handle;
        // resuming the JS stream here would race it for the data (the session sees garbage: GOAWAY 2).
        http2.emit('connection', socket);
      } else {
        // The HTTP/1.1 parser is fed by 'data' events for what was put back.
        http1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
    socket.once('close', () => clearTimeout(timer));
    socket.resume();
  });
  net.maxConnections = limits.maxConnections;

  return {
    net,
    get draining() {
      return draining;
    },
    startDraining(): void {
      draining = true;
      for (const session of sessions) session.close();
    },
    /** Stops listening and cuts whatever is still open. */
    async close(): Promise<void> {
      const closed = new Promise<void>((resolve) => net.close(() => resolve()));
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      http1.closeAllConnections();
      // Stops the connection checks; it never listened, so its own close reports "not running".
      http1.close(() => undefined);
      await closed;
    },
  };
};
