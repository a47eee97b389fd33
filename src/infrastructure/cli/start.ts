// `npm start`: the HTTP server on the embedded default store.
import { ConfigError, grpcPortOf, loadConfig } from '../config.js';
import { createServerApp } from '../server-app.js';
import { describeListenError, reservePort } from '../system/port-reservation.js';
import { isMainModule } from './main-module.js';

/** Runs the server until SIGINT or SIGTERM (also `smtp-config start`). */
export const runStart = async (): Promise<void> => {
  const config = loadConfig();
  const grpcPort = grpcPortOf(config);
  if (grpcPort !== undefined && grpcPort !== 0 && grpcPort === config.PORT) {
    throw new ConfigError(`PORT and GRPC_PORT are both ${grpcPort}: gRPC needs a port of its own; set GRPC_PORT to another port, or to off`);
  }
  // Both ports are taken before anything lasting is written (the development keys, the store, the
  // first instance): a port in use stops the start with DATA_DIR as it was. Each is held until its
  // listener takes it over.
  const restPort = await reservePort('PORT', config.HOST, config.PORT);
  let grpcPortHeld;
  let server;
  try {
    grpcPortHeld = grpcPort === undefined ? undefined : await reservePort('GRPC_PORT', config.HOST, grpcPort);
    server = await createServerApp(config);
  } catch (error) {
    await Promise.all([restPort.release(), grpcPortHeld?.release()]);
    throw error;
  }
  await restPort.release();
  await server.listen().catch(async (error: unknown) => {
    await grpcPortHeld?.release();
    throw error;
  });
  // From the moment the REST port is up, a signal drains and stops, even while gRPC still loads.
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
  if (grpcPort !== undefined) {
    let grpc: Awaited<ReturnType<typeof import('../grpc/index.js').startGrpcServer>>;
    try {
      // Loaded only when gRPC is on, and after the REST port is up: @zitadel/proto's schemas take a while to load.
      const { startGrpcServer } = await import('../grpc/index.js');
      await grpcPortHeld?.release();
      if (stopping) return;
      grpc = await startGrpcServer({
        ...server.services,
        logger: server.logger,
        host: config.HOST,
        port: grpcPort,
        limits: {
          headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT_MS,
          requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
          keepAliveTimeoutMs: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
          maxConnections: config.HTTP_MAX_CONNECTIONS,
        },
      });
    } catch (error) {
      await grpcPortHeld?.release();
      if (stopping) return; // the stop under way closes the server and exits
      await server.close();
      throw (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND'
        ? new Error(`gRPC needs the optional packages @zitadel/proto, @bufbuild/protobuf, @connectrpc/connect and @connectrpc/connect-node (${(error as Error).message}); install them, or set GRPC_PORT=off`)
        : describeListenError(error, 'GRPC_PORT', config.HOST, grpcPort);
    }
    // A stop that began while gRPC was starting did not see it: close it here.
    if (stopping) await grpc.close();
    else server.attach(grpc);
  }
};

export const reportStartFailure = (error: unknown): never => {
  if (error instanceof ConfigError) {
    // A configuration error exits 2, as the README's exit codes say.
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
};

if (isMainModule(import.meta.url)) runStart().catch(reportStartFailure);
