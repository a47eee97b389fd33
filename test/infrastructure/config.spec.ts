import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/infrastructure/config.js';

const KEY = Buffer.alloc(32, 7).toString('base64');

describe('loadConfig', () => {
  it.each(['', ' ', '\t '])('treats PORT=%j as unset: the default port, not a random one', (value) => {
    expect(loadConfig({ PORT: value }).PORT).toBe(8080);
  });

  it('treats an empty or blank variable as unset for the other settings too (LOG_LEVEL, DATA_DIR, JWT_CLOCK_SKEW_SECONDS)', () => {
    const config = loadConfig({ LOG_LEVEL: '', DATA_DIR: '  ', JWT_CLOCK_SKEW_SECONDS: ' ', DATABASE_URL: '' });
    expect([config.LOG_LEVEL, config.DATA_DIR, config.JWT_CLOCK_SKEW_SECONDS, config.DATABASE_URL]).toEqual(['info', './data', 60, undefined]);
  });

  it('still refuses a non-blank bad value, naming the variable', () => {
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(/PORT:/);
  });

  it('takes a DATABASE_SCHEMA of 52 characters and refuses 53, whose <schema>_checkpoint channel PostgreSQL would refuse', () => {
    expect(loadConfig({ DATABASE_SCHEMA: 's'.repeat(52) }).DATABASE_SCHEMA).toBe('s'.repeat(52));
    expect(`${'s'.repeat(52)}_checkpoint`).toHaveLength(63);
    expect(() => loadConfig({ DATABASE_SCHEMA: 's'.repeat(53) })).toThrow(/DATABASE_SCHEMA.*at most 52 characters/);
  });

  it('refuses ENCRYPTION_ACTIVE_KEY_ID without ENCRYPTION_KEYS instead of starting on the development key', () => {
    expect(() => loadConfig({ ENCRYPTION_ACTIVE_KEY_ID: 'nokey' })).toThrow(ConfigError);
    expect(() => loadConfig({ ENCRYPTION_ACTIVE_KEY_ID: 'nokey' })).toThrow(/ENCRYPTION_ACTIVE_KEY_ID: is set but ENCRYPTION_KEYS is not/);
  });

  it('accepts ENCRYPTION_ACTIVE_KEY_ID naming a key in ENCRYPTION_KEYS', () => {
    const config = loadConfig({ ENCRYPTION_KEYS: `k1:${KEY}`, ENCRYPTION_ACTIVE_KEY_ID: 'k1' });
    expect(config.ENCRYPTION_ACTIVE_KEY_ID).toBe('k1');
    expect(config.ENCRYPTION_KEYS?.k1?.length).toBe(32);
  });
});
