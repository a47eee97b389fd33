import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DomainError, ErrorIds, ErrorKind, type EncryptedSecret } from '../../domain/index.js';
import type { SecretEncryptor } from '../../application/index.js';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Where a key ring's keys come from, so that a secret under a key the ring lacks is reported with the
 * right remedy: `ENCRYPTION_KEYS`, the development key file in DATA_DIR, or (unset) an embedder's own.
 */
export type KeyRingSource = 'ENCRYPTION_KEYS' | 'dev-key-file';

/** Keys by id. New secrets use the active key; older keys stay for decryption. */
export interface KeyRing {
  readonly activeKeyId: string;
  readonly keys: ReadonlyMap<string, Buffer>;
  readonly source?: KeyRingSource;
}

export const keyRingFrom = (activeKeyId: string, keys: Record<string, Buffer>, source?: KeyRingSource): KeyRing => {
  const map = new Map(Object.entries(keys));
  for (const [id, key] of map) {
    if (key.length !== 32) throw new TypeError(`key ${id} must be 32 bytes for AES-256-GCM, got ${key.length}`);
  }
  if (!map.has(activeKeyId)) throw new TypeError(`the active key ${activeKeyId} is not in the key ring`);
  return { activeKeyId, keys: map, ...(source ? { source } : {}) };
};

const HELD_IDS_SHOWN = 5;

/** What an API client is told of a secret under a key the ring lacks (the operator's message is logged). */
export const KEY_UNKNOWN_CLIENT_MESSAGE =
  "the server cannot decrypt this configuration's password; its operator must restore the encryption key it was stored under";

/**
 * A secret under a key id the ring has not got: another DATA_DIR's development key, a lost key file,
 * a key dropped from ENCRYPTION_KEYS at a rotation. Names the id, the ids the ring holds (ids are not
 * secret: every stored event carries one; never a key, never the secret) and the remedy for where
 * the ring comes from, for the log. Internal (500 / 13): no request can mend it, only whoever runs
 * the server; so the API client is told only that (its {@link KEY_UNKNOWN_CLIENT_MESSAGE}), none of
 * the server's configuration.
 */
const keyUnknown = (keyId: string, ring: KeyRing): DomainError => {
  const ids = [...ring.keys.keys()];
  const held = ids.slice(0, HELD_IDS_SHOWN).map((id) => `"${id}"`).join(', ') + (ids.length > HELD_IDS_SHOWN ? ` and ${ids.length - HELD_IDS_SHOWN} more` : '');
  const [where, remedy] =
    ring.source === 'ENCRYPTION_KEYS'
      ? ['ENCRYPTION_KEYS', 'add that key to ENCRYPTION_KEYS (a key no longer used for new secrets stays in the ring for those it encrypted; ENCRYPTION_ACTIVE_KEY_ID picks the key for new ones)']
      : ring.source === 'dev-key-file'
        ? [
            'the development key file encryption-keys.json in DATA_DIR',
            'restore the encryption-keys.json that holds it (from a backup, or from the DATA_DIR of the server that stored the secret: every server on one store needs the same file), or set ENCRYPTION_KEYS with that key',
          ]
        : ['this server', 'add that key to the key ring'];
  return new DomainError(
    ErrorKind.Internal,
    ErrorIds.DecryptionKeyUnknown,
    'Errors.Crypto.KeyUnknown',
    `the key ring (${where}, holding ${held}) lacks the key "${keyId}" this secret was encrypted with: ${remedy}`,
    [],
    { clientMessage: KEY_UNKNOWN_CLIENT_MESSAGE },
  );
};

const decryptionFailed = (cause?: unknown) =>
  new DomainError(ErrorKind.Internal, 'CRYPT-gcm-d3cr', 'Errors.Crypto.DecryptionFailed', 'the secret could not be decrypted', [], { cause });

/** The fixed field of a nonce: drawn at random, so that processes (and restarts) never share one. */
const FIXED_BYTES = 8;
/** The invocation field: a counter, so that nonces never repeat within a fixed field. */
const MAX_INVOCATIONS = 2 ** 32;

/**
 * Nonces for one key by the deterministic construction of NIST SP 800-38D §8.2.1: a 64-bit fixed
 * field drawn at random when the key is first used in this process, then a 32-bit counter. Within a
 * fixed field no nonce repeats (the counter never wraps: after 2^32 nonces a new fixed field is
 * drawn); across processes and restarts two fixed fields are equal with probability 2^-64 per pair.
 * It costs a counter increment instead of a call into the random generator per secret.
 */
export class NonceSequence {
  private fixed: Buffer;

  /** `draw` and `counter` are for tests: the random source, and where the counter starts. */
  constructor(
    private readonly draw: (bytes: number) => Buffer = randomBytes,
    private counter = 0,
  ) {
    this.fixed = draw(FIXED_BYTES);
  }

  /** Writes the next nonce into `target` at `offset` (12 bytes). */
  writeNext(target: Buffer, offset: number): void {
    if (this.counter >= MAX_INVOCATIONS) {
      this.fixed = this.draw(FIXED_BYTES);
      this.counter = 0;
    }
    this.fixed.copy(target, offset);
    target.writeUInt32BE(this.counter++, offset + FIXED_BYTES);
  }
}

/**
 * AES-256-GCM with a unique 96-bit nonce per secret ({@link NonceSequence}, one per key). The
 * algorithm and key id are bound to the ciphertext as additional authenticated data, so a value
 * cannot be moved to another key's label.
 */
export class AesGcmEncryptor implements SecretEncryptor {
  private readonly nonces = new Map<string, NonceSequence>();
  private readonly aads = new Map<string, Buffer>();

  constructor(private readonly ring: KeyRing) {}

  async encrypt(plaintext: string): Promise<EncryptedSecret> {
    const keyId = this.ring.activeKeyId;
    let nonces = this.nonces.get(keyId);
    if (!nonces) this.nonces.set(keyId, (nonces = new NonceSequence()));
    const nonce = Buffer.allocUnsafe(NONCE_BYTES);
    nonces.writeNext(nonce, 0);
    const cipher = createCipheriv('aes-256-gcm', this.ring.keys.get(keyId)!, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.aadOf(keyId));
    const body = cipher.update(plaintext, 'utf8');
    cipher.final();
    const crypted = Buffer.concat([nonce, body, cipher.getAuthTag()], NONCE_BYTES + body.length + TAG_BYTES).toString('base64');
    return { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId, crypted };
  }

  private aadOf(keyId: string): Buffer {
    let bytes = this.aads.get(keyId);
    if (!bytes) this.aads.set(keyId, (bytes = aad(keyId)));
    return bytes;
  }

  async decrypt(secret: EncryptedSecret): Promise<string> {
    const key = this.ring.keys.get(secret.keyId);
    if (secret.algorithm !== 'AES-256-GCM') throw decryptionFailed();
    if (!key) throw keyUnknown(secret.keyId, this.ring);
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
