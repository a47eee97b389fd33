// `npm run token -- --instance <id or domain> [--role IAM_OWNER] [--user <id>] [--expires-in 1h] [--audience <aud>]`
// Prints a token that the server running on the same DATA_DIR accepts (development key only).
// Exit codes as smtp-config's: 2 for a usage or configuration error, 1 for anything else.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { openStores, readModelUpToDate } from '../bootstrap/open-stores.js';
import { ConfigError, loadConfig } from '../config.js';
import { loadOrCreateDevSigningKey, signToken } from '../http/jwt-authenticator.js';
import { EXIT, UsageError } from './cli-output.js';
import { refuseUnimportedLegacyLog } from './legacy-log.js';
import { isMainModule } from './main-module.js';

const usage = 'usage: npm run token -- --instance <id or domain> [--role IAM_OWNER] [--user <id>] [--expires-in 1h] [--audience <aud>]';

/** Refuses a lifetime jose cannot read ('1h', '30 min', '2 days', …) before anything is opened. */
const checkExpiresIn = (value: string): void => {
  try {
    new SignJWT({}).setExpirationTime(value);
  } catch {
    throw new UsageError(`--expires-in: "${value}" is not a time span (for example 30m, 1h, 2 days)`);
  }
};

/** Prints a token; `args` as after `npm run token --`. Also `smtp-config token`. */
export const runToken = async (args: readonly string[]): Promise<void> => {
  const { values } = parseArgs({
    args: [...args],
    options: {
      instance: { type: 'string' },
      role: { type: 'string', multiple: true },
      user: { type: 'string', default: 'dev-user' },
      'expires-in': { type: 'string', default: '1h' },
      audience: { type: 'string' },
    },
  });
  if (!values.instance) throw new ConfigError(usage);
  checkExpiresIn(values['expires-in']);
  const config = loadConfig();
  refuseUnimportedLegacyLog(config);
  // The server with JWT_AUDIENCE set refuses a token without that `aud`.
  const audience = values.audience ?? config.JWT_AUDIENCE;
  const dataDir = resolve(config.DATA_DIR);

  // Find the instance by id or domain in the read model, brought up to date first (the server
  // may be running, or may not have seen the latest instances yet).
  const stores = await openStores(config, dataDir, pino({ level: 'silent' }), 'tool');
  let instance;
  try {
    await readModelUpToDate(stores);
    instance = (await stores.readModel.instanceById(values.instance)) ?? (await stores.readModel.instanceByDomain(values.instance));
  } finally {
    await stores.close();
  }
  if (!instance) throw new ConfigError(`no instance with the id or domain "${values.instance}" in ${dataDir}; start the server once first`);

  const { privateJwk } = await loadOrCreateDevSigningKey(dataDir);
  const token = await signToken(privateJwk, {
    userId: values.user,
    instanceId: instance.id,
    roles: values.role ?? [],
    expiresIn: values['expires-in'],
    ...(audience ? { audience } : {}),
  });
  process.stdout.write(`${token}\n`);
};

if (isMainModule(import.meta.url)) {
  runToken(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(error instanceof ConfigError || error instanceof UsageError ? EXIT.usage : EXIT.failed);
  });
}
