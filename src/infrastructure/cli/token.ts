// `npm run token -- --instance <id or domain> [--role IAM_OWNER] [--user <id>] [--expires-in 1h]`
// Prints a token that the server running on the same DATA_DIR accepts (development key only).
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { projectEvent } from '../../application/index.js';
import { ConfigError, loadConfig } from '../config.js';
import { EventStoreDBEventStore } from '../eventstoredb/eventstoredb-event-store.js';
import { FileEventStore } from '../file/file-event-store.js';
import { InMemoryProjectionStore } from '../in-memory/in-memory-projection-store.js';
import { loadOrCreateDevSigningKey, signToken } from '../http/jwt-authenticator.js';

const usage = 'usage: npm run token -- --instance <id or domain> [--role IAM_OWNER] [--user <id>] [--expires-in 1h]';

const main = async () => {
  const { values } = parseArgs({
    options: {
      instance: { type: 'string' },
      role: { type: 'string', multiple: true },
      user: { type: 'string', default: 'dev-user' },
      'expires-in': { type: 'string', default: '1h' },
    },
  });
  if (!values.instance) throw new ConfigError(usage);
  const config = loadConfig();
  const dataDir = resolve(config.DATA_DIR);

  // Find the instance by id or domain in the events, read-only (the server may be running).
  const events = config.EVENTSTORE_CONNECTION_STRING
    ? EventStoreDBEventStore.fromConnectionString(config.EVENTSTORE_CONNECTION_STRING)
    : await FileEventStore.open(dataDir, { readOnly: true });
  const view = new InMemoryProjectionStore();
  const abort = new AbortController();
  for await (const item of events.subscribeToAll({ signal: abort.signal })) {
    if (item.kind === 'caught-up') break;
    if (item.kind === 'event') await view.apply(projectEvent(item.event), item.event.position);
  }
  abort.abort();
  await events.close();
  const instance = (await view.instanceById(values.instance)) ?? (await view.instanceByDomain(values.instance));
  if (!instance) throw new ConfigError(`no instance with the id or domain "${values.instance}" in ${dataDir}; start the server once first`);

  const { privateJwk } = await loadOrCreateDevSigningKey(dataDir);
  const token = await signToken(privateJwk, {
    userId: values.user,
    instanceId: instance.id,
    roles: values.role ?? [],
    expiresIn: values['expires-in'],
  });
  process.stdout.write(`${token}\n`);
};

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
