// `npm start`: the HTTP server on the embedded default store.
import { ConfigError, loadConfig } from '../config.js';
import { createServerApp } from '../server-app.js';
import { isMainModule } from './main-module.js';

/** Runs the server until SIGINT or SIGTERM (also `smtp-config start`). */
export const runStart = async (): Promise<void> => {
  const config = loadConfig();
  const server = await createServerApp(config);
  await server.listen();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.logger.info({ signal }, 'shutting down: finishing in-flight requests');
    server.close().then(
      () => {
        server.logger.info('stopped');
        server.logger.flush?.();
        process.exit(0);
      },
      (err: unknown) => {
        server.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
};

export const reportStartFailure = (error: unknown): never => {
  if (error instanceof ConfigError) process.stderr.write(`${error.message}\n`);
  else process.stderr.write(`failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
};

if (isMainModule(import.meta.url)) runStart().catch(reportStartFailure);
