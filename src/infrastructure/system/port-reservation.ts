import { createServer } from 'node:net';

/** The variable that chose a port, named in the message when it cannot be had. */
export type PortVariable = 'PORT' | 'GRPC_PORT';

/**
 * A port the server cannot listen on: names the variable, the address, and what to do. Thrown
 * before the start writes anything (keys, the first instance), see {@link reservePort}.
 */
export class PortUnavailableError extends Error {
  override readonly name = 'PortUnavailableError';
  constructor(
    readonly variable: PortVariable,
    readonly host: string,
    readonly port: number,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(portMessage(variable, host, port, code), options);
  }
}

const portMessage = (variable: PortVariable, host: string, port: number, code: string): string => {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return `${variable} ${port} is already in use (${where}): stop whatever listens there (another server on this machine?), or set ${variable} to a free port`;
    case 'EACCES':
      return `${variable} ${port} may not be opened by this user (${where}; ports below 1024 need privileges): set ${variable} to a port above 1023`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${where} for ${variable}: HOST ${host} is not an address of this machine; set HOST to one (127.0.0.1, 0.0.0.0)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot listen on ${where} for ${variable}: HOST ${host} does not resolve (${code}); set HOST to an address of this machine (127.0.0.1, 0.0.0.0)`;
    default:
      return `cannot listen on ${where} for ${variable} (${code}): set ${variable} to a free port`;
  }
};

/** The listen errors that mean HOST:PORT cannot be had (a HOST that does not resolve among them), each with its remedy. */
const LISTEN_CODES = new Set(['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

/** A listen error as {@link PortUnavailableError} when it is one of a port that cannot be had; else as it is. */
export const describeListenError = (error: unknown, variable: PortVariable, host: string, port: number): unknown => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && LISTEN_CODES.has(code) ? new PortUnavailableError(variable, host, port, code, { cause: error }) : error;
};

export interface PortReservation {
  /** Stops holding the port, so that the real listener can take it at once. Idempotent. */
  release(): Promise<void>;
}

const NOTHING_HELD: PortReservation = { release: async () => undefined };

/**
 * Holds `host:port` from the start of `npm start` until the real listener takes it over, so that a
 * port that cannot be had stops the start before it writes anything lasting (the development keys,
 * the first instance), and a second server started meanwhile on the same port fails the same way.
 * A connection that arrives while it is held is closed at once (as a refused one, it tells a client
 * the server is not up yet). Port 0 (any free port) needs no reservation.
 */
export const reservePort = async (variable: PortVariable, host: string, port: number): Promise<PortReservation> => {
  if (port === 0) return NOTHING_HELD;
  const holder = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    holder.once('error', (error) => reject(describeListenError(error, variable, host, port)));
    holder.listen({ host, port, exclusive: true }, () => resolve());
  });
  let released: Promise<void> | undefined;
  return {
    release: () => (released ??= new Promise<void>((resolve) => holder.close(() => resolve()))),
  };
};
