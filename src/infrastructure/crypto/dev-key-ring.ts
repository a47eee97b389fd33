import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createFileOnce } from '../system/create-file-once.js';
import { makeDirectory } from '../system/make-directory.js';
import { join } from 'node:path';
import { keyRingFrom, type KeyRing } from './aes-gcm-encryptor.js';

/** The development key ring's file name in DATA_DIR. */
export const DEV_KEY_RING_FILE = 'encryption-keys.json';
const FILE = DEV_KEY_RING_FILE;

/**
 * The id of a new development key: its date and the first 8 hex digits of the key's SHA-256, so two
 * different keys made on one day (two DATA_DIRs on one database) have different ids and a secret
 * made under one is reported as needing a key this server does not have, not as a damaged value.
 */
export const devKeyIdOf = (key: Buffer, now = new Date()): string =>
  `dev-${now.toISOString().slice(0, 10)}-${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;

/**
 * A development key ring kept in the data directory (mode 0600), made on first use. Production
 * passes its keys in ENCRYPTION_KEYS instead. A file made by an earlier version (ids `dev-<date>`)
 * is read as it is: its ids are stored, never recomputed.
 */
export const loadOrCreateDevKeyRing = (dataDir: string): { ring: KeyRing; created: boolean } => {
  const path = join(dataDir, FILE);
  if (!existsSync(path)) {
    makeDirectory(dataDir);
    const key = randomBytes(32);
    const id = devKeyIdOf(key);
    const created = createFileOnce(path, JSON.stringify({ activeKeyId: id, keys: { [id]: key.toString('base64') } }));
    return { ring: read(path), created };
  }
  return { ring: read(path), created: false };
};

const read = (path: string): KeyRing => {
  const stored = JSON.parse(readFileSync(path, 'utf8')) as { activeKeyId: string; keys: Record<string, string> };
  return keyRingFrom(stored.activeKeyId, Object.fromEntries(Object.entries(stored.keys).map(([id, b64]) => [id, Buffer.from(b64, 'base64')])), 'dev-key-file');
};
