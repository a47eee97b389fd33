import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, isDomainError } from '../../domain/index.js';
import { errorBodyOf, HttpErrors, logReasonOf, statusOf } from './error-body.js';
import { isStoreFault, STORE_FAULT_MSG, storeFaultLog } from './store-fault-log.js';

/** Fastify's own errors (body parsing, the router) as the API's errors; anything unknown is Internal. */
export const toDomainError = (error: unknown): DomainError => {
  if (isDomainError(error)) return error;
  const e = error as { code?: string; statusCode?: number };
  if (typeof e.code === 'string' && e.code.startsWith('FST_ERR_CTP_')) {
    const reason =
      e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? 'the Content-Type is not supported; send application/json'
        : e.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? 'request body is too large'
          : e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
            ? 'request body is empty'
            : 'request body is not valid JSON';
    return HttpErrors.badRequest('HTTP-BODY', reason);
  }
  if (e.code === 'FST_ERR_BAD_URL') return HttpErrors.badUrl();
  if (e.code === 'FST_ERR_MAX_PARAM_LENGTH') return HttpErrors.uriTooLong();
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) return HttpErrors.badRequest('HTTP-400', 'bad request');
  return HttpErrors.internal(error);
};

/** Every error leaves through here: the API document's body, the status for its code. */
export const sendError = (request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply => {
  const domainError = toDomainError(error);
  const status = statusOf(domainError);
  if (status >= 500 && status !== 503) request.log.error({ err: error }, 'request failed');
  else if (isStoreFault(domainError)) request.log.warn(storeFaultLog(domainError), STORE_FAULT_MSG);
  else request.log.info({ errorId: domainError.id, code: domainError.grpcCode, ...logReasonOf(domainError) }, 'request rejected');
  return reply.status(status).type('application/json').send(errorBodyOf(domainError));
};
