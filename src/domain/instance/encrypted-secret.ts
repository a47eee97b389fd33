/**
 * A secret as it is stored: never plain text. Shaped after ZITADEL's CryptoValue.
 * `crypted` is base64 of nonce (12 bytes) ‖ ciphertext ‖ GCM tag (16 bytes).
 */
export interface EncryptedSecret {
  readonly cryptoType: 'encryption';
  readonly algorithm: 'AES-256-GCM';
  readonly keyId: string;
  readonly crypted: string;
}

export const isEncryptedSecret = (value: unknown): value is EncryptedSecret => {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.cryptoType === 'encryption' && v.algorithm === 'AES-256-GCM' && typeof v.keyId === 'string' && typeof v.crypted === 'string';
};
