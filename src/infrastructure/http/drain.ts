import type { FastifyInstance } from 'fastify';
import { errorBodyOf, HttpErrors } from './error-body.js';

export interface Drain {
  /** True once {@link Drain.drain} was called: new requests get 503 and keep-alive ends. */
  readonly draining: boolean;
  /**
   * Answers every request the server receives from now on with 503 (code 14, Connection: close),
   * lets the requests already being handled finish (their responses close their connections),
   * and resolves once nothing is in flight and no connection or request has arrived for
   * `quietMs`, or after `graceMs` at the latest. It keeps listening meanwhile: a request sitting in
   * the listen backlog or a socket buffer when the listener closes would be reset unanswered.
   */
  drain(graceMs: number, quietMs?: number): Promise<{ inFlight: number }>;
}

/** Installs the shutdown bookkeeping on an app: register it before any other onRequest hook. */
export const installDrain = (app: FastifyInstance): Drain => {
  let draining = false;
  let inFlight = 0;
  let lastArrival = Date.now();
  app.server.on('connection', () => {
    lastArrival = Date.now();
  });
  app.addHook('onRequest', async (request, reply) => {
    lastArrival = Date.now();
    if (draining) {
      request.log.info({ errorId: 'HTTP-SHUTDOWN' }, 'refused during shutdown');
      return reply.status(503).header('connection', 'close').type('application/json').send(errorBodyOf(HttpErrors.shuttingDown()));
    }
    inFlight++;
    reply.raw.once('close', () => inFlight--);
    return undefined;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (draining) reply.header('connection', 'close');
  });
  return {
    get draining() {
      return draining;
    },
    async drain(graceMs, quietMs = 200) {
      draining = true;
      const deadline = Date.now() + graceMs;
      for (;;) {
        const now = Date.now();
        if (now >= deadline) break;
        if (inFlight === 0 && now - lastArrival >= quietMs) break;
        await new Promise((r) => setTimeout(r, Math.min(25, deadline - now)));
      }
      return { inFlight };
    },
  };
};
