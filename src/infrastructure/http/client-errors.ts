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
  answerAndClose(socket, domainError);
}

/** Writes an error in the API document's shape straight to the socket, then closes it. */
const answerAndClose = (socket: Socket, domainError: DomainError): void => {
  const status = statusOf(domainError);
  const body = JSON.stringify(errorBodyOf(domainError));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  // A client that does not close its side after our answer is cut off.
  socket.setTimeout(1000, () => socket.destroy());
};

/**
 * Node's 'connect': a CONNECT request (a client that takes this server for a proxy). Node hands it
 * to this event instead of the router, and without a listener closes the connection without a
 * word; it is answered as the router answers any method it has no route for, 404 in the API
 * document's shape, and the connection is closed.
 */
export function connectRequestHandler(this: FastifyInstance, _request: unknown, socket: Socket): void {
  const domainError = HttpErrors.routeNotFound();
  this.log.info({ errorId: domainError.id, code: domainError.grpcCode, method: 'CONNECT' }, 'request rejected');
  socket.on('error', () => socket.destroy());
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  answerAndClose(socket, domainError);
}
