import { describe, expect, it } from 'vitest';

/**
 * The domain's modules build their schemas and kits when they are loaded. These tests load them
 * inside a test (no static import of src here), so a module that cannot be loaded fails a test
 * instead of failing the file before any test is collected.
 */
describe('domain modules', () => {
  it('load the request schema, which validates a complete request', async () => {
    const { parseAddSmtpConfigRequest } = await import('../../src/domain/instance/smtp-config.js');
    const body = {
      senderAddress: 'noreply@m.zitadel.cloud',
      senderName: 'ZITADEL',
      tls: true,
      host: 'smtp.postmarkapp.com:587',
      user: 'u',
      password: 'p',
      replyToAddress: 'replyto@m.zitadel.cloud',
      description: 'd',
    };
    expect(parseAddSmtpConfigRequest(body)).toEqual(body);
  });

  it('load the decider kit', async () => {
    const { DeciderSpecification } = await import('../../src/domain/testing.js');
    const { Instance } = await import('../../src/domain/instance/instance.js');
    const error = DeciderSpecification.for(Instance)
      .given([])
      .when({ type: 'SetUpInstance', instanceId: '1', name: '', domains: [], now: new Date(0) })
      .thenThrows('InvalidArgument', 'INST-VAL-8fk2');
    expect(error.violations).toHaveLength(2);
  });
});
