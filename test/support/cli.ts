import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** Temporary directories named `<prefix>…`: `make` one, `removeAll` of them (in afterAll or afterEach). */
export const tempDirs = (prefix: string) => {
  const dirs: string[] = [];
  return {
    make: (): string => {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    removeAll: (): void => {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
};

export const ROOT = resolve(import.meta.dirname, '../..');
/** The entry points `npm start`, `npm run token` and `npm run instance` run (built); here straight from the sources. */
export const CLI = {
  start: join(ROOT, 'src/infrastructure/cli/start.ts'),
  token: join(ROOT, 'src/infrastructure/cli/token.ts'),
  instance: join(ROOT, 'src/infrastructure/cli/instance.ts'),
  /** The operator command (`smtp-config`, the package's bin). */
  smtpConfig: join(ROOT, 'src/infrastructure/cli/smtp-config.ts'),
} as const;

export const node = (script: string) => [process.execPath, ['--import', 'tsx', script]] as const;

/** Runs a command-line tool to its end with DATA_DIR set. */
export const runCli = (
  script: string,
  args: readonly string[],
  dataDir: string,
  input?: string,
  env: Record<string, string> = {},
): SpawnSyncReturns<string> => {
  const [cmd, pre] = node(script);
  return spawnSync(cmd, [...pre, ...args], {
    cwd: ROOT,
    env: { ...process.env, DATA_DIR: dataDir, ...env },
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 256 * 1024 * 1024,
    ...(input !== undefined ? { input } : {}),
  });
};

/** Starts the server on DATA_DIR and port 0, without gRPC unless `env` sets GRPC_PORT (it loads @zitadel/proto). */
export const spawnServer = (dataDir: string, env: Record<string, string> = {}): ChildProcess => {
  const [cmd, args] = node(CLI.start);
  return spawn(cmd, args, { cwd: ROOT, env: { ...process.env, PORT: '0', GRPC_PORT: 'off', DATA_DIR: dataDir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
};

export const waitForLine = (child: ChildProcess, pattern: RegExp, timeoutMs = 30_000): Promise<string> =>
  new Promise((resolvePromise, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} in: ${buffer}`)), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const line = buffer.split('\n').find((l) => pattern.test(l));
      if (line) {
        clearTimeout(timer);
        resolvePromise(line);
      }
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code}: ${buffer}`)));
  });

/** Starts the server and resolves to its base URL once it listens. */
export const startServer = async (dataDir: string): Promise<{ server: ChildProcess; url: string }> => {
  const server = spawnServer(dataDir);
  const line = await waitForLine(server, /listening on/);
  return { server, url: (JSON.parse(line) as { url: string }).url };
};
