import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createFileOnce } from '../system/create-file-once.js';
import { join } from 'node:path';
import { keyRingFrom, type KeyRing } from './aes-gcm-encryptor.js';

const FILE = 'encryption-keys.json';

/**
 * A development key ring kept in the data directory (mode 0600), made on first use. Production
 * passes its keys in ENCRYPTION_KEYS instead.
 */
export const loadOrCreateDevKeyRing = (dataDir: string): { ring: KeyRing; created: boolean } => {
  const path = join(dataDir, FILE);
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true });
    const id = `dev-${new Date().toISOString().slice(0, 10)}`;
    const created = createFileOnce(path, JSON.stringify({ activeKeyId: id, keys: { [id]: randomBytes(32).toString('base64') } }));
    return { ring: read(path), created };
  }
  return { ring: read(path), created: false };
};

const read = (path: string): KeyRing => {
  const stored = JSON.parse(readFileSync(path, 'utf8')) as { activeKeyId: string; keys: Record<string, string> };
  return keyRingFrom(stored.activeKeyId, Object.fromEntries(Object.entries(stored.keys).map(([id, b64]) => [id, Buffer.from(b64, 'base64')])));
};
