import { parseUpdateSmtpConfigRequest } from '../../domain/index.js';
import { executeSmtpCommand, type ChangeDetails, type SmtpCommandCall, type SmtpCommandDeps } from './smtp-command.js';

/**
 * `PUT /admin/v1/smtp/{id}`: sets the configuration's fields to the request's (the add request's
 * fields and limits). An absent or empty password keeps the stored one; a given one is encrypted
 * before it reaches the domain. Only changed fields are stored; a request that changes nothing is
 * refused (FailedPrecondition, COMMAND-SMTP-nc9q).
 */
export class UpdateSmtpConfigUseCase {
  constructor(private readonly deps: SmtpCommandDeps) {}

  async execute(call: SmtpCommandCall & { readonly body: unknown }): Promise<{ details: ChangeDetails }> {
    await this.deps.permissions.require(call.principal, 'iam.write', call.instanceId);
    const { password, ...config } = parseUpdateSmtpConfigRequest(call.body);
    const encrypted = password === '' ? undefined : await this.deps.encryptor.encrypt(password);
    return executeSmtpCommand(this.deps, call, 'change-smtp', (now) => ({
      type: 'ChangeSmtpConfig',
      instanceId: call.instanceId,
      configId: call.id,
      config,
      password: encrypted,
      now,
    }));
  }
}
