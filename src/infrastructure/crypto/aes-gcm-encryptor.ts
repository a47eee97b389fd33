import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DomainError, ErrorKind, type EncryptedSecret } from '../../domain/index.js';
import type { SecretEncryptor } from '../../application/index.js';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** Keys by id. New secrets use the active key; older keys stay for decryption. */
export interface KeyRing {
  readonly activeKeyId: string;
  readonly keys: ReadonlyMap<string, Buffer>;
}

export const keyRingFrom = (activeKeyId: string, keys: Record<string, Buffer>): KeyRing => {
  const map = new Map(Object.entries(keys));
  for (const [id, key] of map) {
    if (key.length !== 32) throw new TypeError(`key ${id} must be 32 bytes for AES-256-GCM, got ${key.length}`);
  }
  if (!map.has(activeKeyId)) throw new TypeError(`the active key ${activeKeyId} is not in the key ring`);
  return { activeKeyId, keys: map };
};

const decryptionFailed = (cause?: unknown) =>
  new DomainError(ErrorKind.Internal, 'CRYPT-gcm-d3cr', 'Errors.Crypto.DecryptionFailed', 'the secret could not be decrypted', [], { cause });

/**
 * AES-256-GCM with a random 96-bit nonce per secret. The algorithm and key id are bound to the
 * ciphertext as additional authenticated data, so a value cannot be moved to another key's label.
 */
export class AesGcmEncryptor implements SecretEncryptor {
  constructor(private readonly ring: KeyRing) {}

  async encrypt(plaintext: string): Promise<EncryptedSecret> {
    const keyId = this.ring.activeKeyId;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.ring.keys.get(keyId)!, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(keyId));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const crypted = Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
    return { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId, crypted };
  }

  async decrypt(secret: EncryptedSecret): Promise<string> {
    const key = this.ring.keys.get(secret.keyId);
    if (!key || secret.algorithm !== 'AES-256-GCM') throw decryptionFailed();
    const raw = Buffer.from(secret.crypted, 'base64');
    if (raw.length < NONCE_BYTES + TAG_BYTES) throw decryptionFailed();
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(secret.keyId));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch (error) {
      throw decryptionFailed(error);
    }
  }
}

const aad = (keyId: string) => Buffer.from(`AES-256-GCM|${keyId}`, 'utf8');
