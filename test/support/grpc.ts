import { Code, ConnectError } from '@connectrpc/connect';
import { errorFromJsonBytes } from '@connectrpc/connect/protocol-connect';
import { findTrailerError } from '@connectrpc/connect/protocol-grpc';
import { trailerParse } from '@connectrpc/connect/protocol-grpc-web';
import { request as httpRequest } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { connect as netConnect } from 'node:net';

/**
 * Options for @zitadel/client's transports that reach the server on 127.0.0.1 whatever host the
 * base URL names, so a test can address instances by domain (`:authority` / `Host`) without DNS.
 */
export const toLoopback = (port: number) => ({
  /** For the gRPC transport (HTTP/2): the session's socket. */
  nodeOptions: { createConnection: () => netConnect(port, '127.0.0.1') },
  /** For the gRPC-web transport: fetch over node:http, the URL's host sent as `Host`. */
  fetch: (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    const body = init?.body === undefined || init.body === null ? undefined : Buffer.from(init.body as Uint8Array);
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    return new Promise<Response>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, method: init?.method ?? 'GET', path: url.pathname, headers: { ...headers, host: url.host } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const responseHeaders = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) responseHeaders.set(k, Array.isArray(v) ? v.join(', ') : v);
            resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers: responseHeaders }));
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }) as typeof globalThis.fetch,
});

/** What came back for one request, byte for byte: status, headers, body and (HTTP/2) trailers. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
  readonly trailers: Headers;
}

const headersOf = (raw: Record<string, string | string[] | number | undefined>): Headers => {
  const headers = new Headers();
  for (const [k, v] of Object.entries(raw)) if (v !== undefined && !k.startsWith(':')) headers.set(k, Array.isArray(v) ? v.join(', ') : String(v));
  return headers;
};

/**
 * One POST to the gRPC port as a client of no protocol library would send it (any body, any
 * content type), over HTTP/1.1 or HTTP/2, `Host`/`:authority` `authority`.
 */
export const rawPost = (
  port: number,
  http: '1.1' | '2',
  path: string,
  headers: Record<string, string>,
  body: string | Buffer,
  authority = 'acme.example.com',
): Promise<RawAnswer> => {
  if (http === '1.1')
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path, headers: { ...headers, host: authority } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: headersOf(res.headers), body: Buffer.concat(chunks), trailers: headersOf(res.trailers) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  return new Promise((resolve, reject) => {
    const session = http2Connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': path, ':authority': authority, te: 'trailers', ...headers });
    let status = 0;
    let responseHeaders = new Headers();
    let trailers = new Headers();
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = headersOf(h);
    });
    stream.on('trailers', (t) => (trailers = headersOf(t)));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('end', () => {
      session.close();
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks), trailers });
    });
    stream.end(body);
  });
};

/** A gRPC or gRPC-web message frame (flag 0, uncompressed) around `message`. */
export const grpcFrame = (message: string | Buffer): Buffer => {
  const bytes = Buffer.from(message);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
};

/** gRPC-web's trailer frame (flag 0x80) of a response body, as headers; none when the body has none. */
const grpcWebTrailerOf = (body: Buffer): Headers | undefined => {
  for (let at = 0; at + 5 <= body.length; ) {
    const length = body.readUInt32BE(at + 1);
    if ((body[at]! & 0x80) === 0x80) return trailerParse(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return undefined;
};

/** The error a raw answer carries, read as a connect-es client reads it for its protocol (the response's content type). */
export const errorOfAnswer = (answer: RawAnswer): ConnectError | undefined => {
  const type = answer.headers.get('content-type') ?? '';
  if (type.startsWith('application/grpc-web')) return findTrailerError(grpcWebTrailerOf(answer.body) ?? answer.headers);
  if (type.startsWith('application/grpc')) return findTrailerError(answer.trailers.has('grpc-status') ? answer.trailers : answer.headers);
  if (answer.status === 200) return undefined;
  return errorFromJsonBytes(answer.body, answer.headers, new ConnectError(`HTTP ${answer.status} without a Connect error body`, Code.Unknown));
};

/**
 * Everything of an answer a client can read, as text: status, headers, body, trailers, the gRPC-web
 * trailer frame, and `grpc-status-details-bin` decoded from base64 (its strings are kept as sent).
 */
export const answerText = (answer: RawAnswer): string => {
  const fields = [...answer.headers, ...answer.trailers, ...(grpcWebTrailerOf(answer.body) ?? [])];
  const details = fields.filter(([k]) => k === 'grpc-status-details-bin').map(([, v]) => Buffer.from(v, 'base64').toString('latin1'));
  return [String(answer.status), ...fields.map(([k, v]) => `${k}: ${v}`), answer.body.toString('latin1'), ...details].join('\n');
};
