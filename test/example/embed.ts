// Embeds the module in a host application in about 20 lines: load the container module, set up an
// instance, add its SMTP configuration, read it back. `npm run example` runs this file. The imports
// are the package's entry points (@iam/smtp-config/adapters, /inversify, /application) as sources.
import { randomBytes } from 'node:crypto';
import { Container } from 'inversify';
import { toJsonView } from '../../src/application/index.js';
import { keyRingFrom } from '../../src/infrastructure/adapters.js';
import { getService, smtpConfigModule, TOKENS } from '../../src/infrastructure/inversify.js';

export async function runExample(keys = { 'key-1': randomBytes(32) }) {
  const container = new Container();
  container.load(smtpConfigModule({ keyRing: keyRingFrom('key-1', keys) }));
  getService(container, TOKENS.ProjectionRunner); // starts the projection
  const { instanceId } = await getService(container, TOKENS.SetUpInstance).execute({ name: 'acme', domains: ['acme.example.com'] });
  const admin = { userId: 'admin-1', instanceId, roles: ['IAM_OWNER'] };
  const body = { senderAddress: 'noreply@acme.example.com', senderName: 'ACME', tls: true, host: 'smtp.example.com:587', user: 'mailer', password: 's3cret' };
  const response = await getService(container, TOKENS.AddSmtpConfig).execute({ principal: admin, instanceId, body });
  const config = await getService(container, TOKENS.GetSmtpConfig).execute({ principal: admin, instanceId, id: response.id });
  // For your own mailer: the stored configuration with its password decrypted (keep it in memory).
  const sender = await getService(container, TOKENS.GetSmtpSenderConfig).execute({ instanceId });
  await container.unbindAllAsync(); // stops the projection
  return { response, config, sender };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { response, config, sender } = await runExample();
  console.log(JSON.stringify({ response, config: toJsonView(config), sender: { ...sender, password: '…' } }, null, 2));
}
