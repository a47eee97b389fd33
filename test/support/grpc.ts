import { request as httpRequest } from 'node:http';
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
