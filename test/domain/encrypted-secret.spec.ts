import { describe, expect, it } from 'vitest';
import { isEncryptedSecret } from '../../src/domain/index.js';

const secret = { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'key-2026-11', crypted: 'bm9uY2U=' };

describe('encrypted secret guard', () => {
  it('accepts a stored secret', () => {
    expect(isEncryptedSecret(secret)).toBe(true);
    expect(isEncryptedSecret({ ...secret, keyId: '', crypted: '' })).toBe(true);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a plain-text password', 'this-is-my-password'],
    ['a number', 42],
    ['another crypto type', { ...secret, cryptoType: 'hash' }],
    ['another algorithm', { ...secret, algorithm: 'AES-128-GCM' }],
    ['a key id that is no string', { ...secret, keyId: 7 }],
    ['no key id', { ...secret, keyId: undefined }],
    ['ciphertext that is no string', { ...secret, crypted: ['bm9uY2U='] }],
    ['no ciphertext', { ...secret, crypted: undefined }],
  ])('rejects %s', (_name, value) => {
    expect(isEncryptedSecret(value)).toBe(false);
  });
});
