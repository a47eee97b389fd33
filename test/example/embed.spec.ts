import { describe, expect, it } from 'vitest';
import { runExample } from './embed.js';

describe('embedding example', () => {
  it('adds and reads back an SMTP configuration through the container module', async () => {
    const { response, config, sender } = await runExample();
    expect(sender).toMatchObject({ id: response.id, host: 'smtp.example.com:587', user: 'mailer', password: 's3cret', senderName: 'ACME' });
    expect(response.details.sequence).toBe('3');
    expect(response.id).toMatch(/^\d+$/);
    expect(config).toMatchObject({ id: response.id, host: 'smtp.example.com:587', hasPassword: true, resourceOwner: response.details.resourceOwner });
    expect(JSON.stringify(config, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain('s3cret');
  });
});
