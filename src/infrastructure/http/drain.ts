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
  const onClose = () => {
    inFlight--;
  };
  app.server.on('connection', () => {
    lastArrival = Date.now();
  });
  // Callback hooks rather than async ones: no promise and no extra microtask turns per request.
  app.addHook('onRequest', (request, reply, done) => {
    lastArrival = Date.now();
    if (draining) {
      request.log.info({ errorId: 'HTTP-SHUTDOWN' }, 'refused during shutdown');
      // Answered here: `done` is not called, so the request goes no further.
      void reply.status(503).header('connection', 'close').type('application/json').send(errorBodyOf(HttpErrors.shuttingDown()));
      return;
    }
    inFlight++;
    reply.raw.once('close', onClose);
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('connection', 'close');
    done(null, payload);
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
