import { describe, expect, it } from 'vitest';
import { AesGcmEncryptor, DomainError, keyRingFrom, NonceSequence } from '../support/everything.js';
import { testKeyRing } from '../support/fixtures.js';

describe('AES-256-GCM secret encryptor', () => {
  const encryptor = new AesGcmEncryptor(testKeyRing());

  it('round-trips a secret and never stores it in plain text', async () => {
    const secret = await encryptor.encrypt('this-is-my-password');
    expect(secret).toMatchObject({ cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'key-2026-11' });
    expect(JSON.stringify(secret)).not.toContain('this-is-my-password');
    expect(Buffer.from(secret.crypted, 'base64').toString('latin1')).not.toContain('this-is-my-password');
    expect(await encryptor.decrypt(secret)).toBe('this-is-my-password');
  });

  it('uses a fresh nonce for each secret', async () => {
    const [a, b] = [await encryptor.encrypt('same'), await encryptor.encrypt('same')];
    expect(a.crypted).not.toBe(b.crypted);
    expect(Buffer.from(a.crypted, 'base64').subarray(0, 12)).not.toEqual(Buffer.from(b.crypted, 'base64').subarray(0, 12));
  });

  it('fails to decrypt a tampered ciphertext', async () => {
    const secret = await encryptor.encrypt('this-is-my-password');
    const raw = Buffer.from(secret.crypted, 'base64');
    raw[14] = raw[14]! ^ 0x01;
    await expect(encryptor.decrypt({ ...secret, crypted: raw.toString('base64') })).rejects.toBeInstanceOf(DomainError);
  });

  it('fails when the key id on the value is changed to another key', async () => {
    const secret = await encryptor.encrypt('x');
    await expect(encryptor.decrypt({ ...secret, keyId: 'key-2025-01' })).rejects.toMatchObject({ id: 'CRYPT-gcm-d3cr' });
    await expect(encryptor.decrypt({ ...secret, keyId: 'unknown' })).rejects.toMatchObject({ kind: 'Internal' });
  });

  it('decrypts secrets made with an older key after the active key rotated', async () => {
    const old = new AesGcmEncryptor(keyRingFrom('key-2025-01', { 'key-2025-01': Buffer.alloc(32, 3) }));
    const secret = await old.encrypt('from last year');
    expect(await encryptor.decrypt(secret)).toBe('from last year');
    expect((await encryptor.encrypt('new')).keyId).toBe('key-2026-11');
  });

  it('refuses keys that are not 32 bytes, and an active key that is not in the ring', () => {
    expect(() => keyRingFrom('k', { k: Buffer.alloc(16) })).toThrow(/32 bytes/);
    expect(() => keyRingFrom('missing', { k: Buffer.alloc(32) })).toThrow(/not in the key ring/);
  });
});

describe('AES-256-GCM nonces (NIST SP 800-38D deterministic construction)', () => {
  const nonceOf = (crypted: string) => Buffer.from(crypted, 'base64').subarray(0, 12).toString('hex');

  it('never repeats a nonce within a key’s use: a fixed field of this process, then a counter', async () => {
    const encryptor = new AesGcmEncryptor(testKeyRing());
    const nonces: string[] = [];
    for (let i = 0; i < 5_000; i++) nonces.push(nonceOf((await encryptor.encrypt('same')).crypted));
    expect(new Set(nonces).size).toBe(nonces.length);
    expect(new Set(nonces.map((n) => n.slice(0, 16))).size).toBe(1);
    expect(nonces.map((n) => parseInt(n.slice(16), 16))).toEqual(nonces.map((_, i) => i));
  });

  it('draws a new fixed field before the counter would wrap, so the 2^32nd nonce is not the first again', () => {
    let draws = 0;
    const draw = (n: number) => Buffer.alloc(n, ++draws);
    const sequence = new NonceSequence(draw, 2 ** 32 - 2);
    const nonces = Array.from({ length: 4 }, () => {
      const b = Buffer.alloc(12);
      sequence.writeNext(b, 0);
      return b.toString('hex');
    });
    expect(nonces).toEqual(['0101010101010101fffffffe', '0101010101010101ffffffff', '020202020202020200000000', '020202020202020200000001']);
  });

  it('never repeats a nonce across restarts: each process draws its own fixed field', async () => {
    const nonces: string[] = [];
    for (let restart = 0; restart < 500; restart++) {
      const encryptor = new AesGcmEncryptor(testKeyRing()); // a new process, the same key
      for (let i = 0; i < 4; i++) nonces.push(nonceOf((await encryptor.encrypt('same')).crypted));
    }
    expect(new Set(nonces).size).toBe(nonces.length);
    expect(new Set(nonces.map((n) => n.slice(0, 16))).size).toBe(500);
  });
});
