import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { DomainError } from '../../domain/index.js';
import { errorBodyOf, HttpErrors, statusOf } from './error-body.js';

/** What Node's HTTP parser and timers report ('clientError') as the API's error. */
export const clientErrorOf = (code: string | undefined): DomainError => {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return HttpErrors.requestTimeout();
  if (code === 'HPE_HEADER_OVERFLOW') return HttpErrors.headersTooLarge();
  return HttpErrors.malformedRequest();
};

/**
 * Node's 'clientError': a request Node could not parse (malformed request line or headers, a bad
 * Content-Length), headers over the size limit (431), or a client too slow to send its request
 * (408). Answered in the API document's error shape, then the connection is closed, as Node's own
 * handler does; nothing is written when a response is already under way on the connection.
 */
export function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || error.code === 'EPIPE' || socket.destroyed) {
    socket.destroy();
    return;
  }
  const domainError = clientErrorOf(error.code);
  this.log.info({ errorId: domainError.id, clientError: error.code }, 'client error');
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || inProgress?.headersSent) {
    socket.destroy();
    return;
  }
  const status = statusOf(domainError);
  const body = JSON.stringify(errorBodyOf(domainError));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  // A client that does not close its side after our answer is cut off.
  socket.setTimeout(1000, () => socket.destroy());
}
