import { connect } from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly headers: string;
  readonly text: string;
  readonly json: any;
  /** True when the server closed the connection without answering. */
  readonly closedWithoutAnswer: boolean;
}

/**
 * Writes raw bytes to the server (so tests can send what node:http's client refuses to: a bad
 * request line, two Host headers, a lying Content-Length) and reads until the server closes the
 * connection. `stopAfterWrite` keeps the connection open without sending more.
 */
export const rawRequest = (baseUrl: string, bytes: string | Buffer): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const url = new URL(baseUrl);
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') socket.destroy();
      else reject(error);
    });
    socket.on('close', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const headerEnd = raw.indexOf('\r\n\r\n');
      const head = headerEnd >= 0 ? raw.slice(0, headerEnd) : raw;
      let text = headerEnd >= 0 ? raw.slice(headerEnd + 4) : '';
      if (/\r\ntransfer-encoding: chunked/i.test(head)) text = dechunk(text);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, headers: head, text, json, closedWithoutAnswer: raw.length === 0 });
    });
    socket.write(bytes);
  });

const dechunk = (body: string): string => {
  let out = '';
  let rest = body;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    if (lineEnd < 0) return out;
    const size = parseInt(rest.slice(0, lineEnd), 16);
    if (!size) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
};

/** A POST with every header given by the caller and `Connection: close`. */
export const rawPost = (path: string, headers: Record<string, string>, body: string | Buffer): Buffer => {
  const bodyBytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const lines = [`POST ${path} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'Connection: close'];
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) lines.push(`Content-Length: ${bodyBytes.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), bodyBytes]);
};
