import { parseUpdateSmtpConfigPasswordRequest } from '../../domain/index.js';
import { executeSmtpCommand, type ChangeDetails, type SmtpCommandCall, type SmtpCommandDeps } from './smtp-command.js';

/** `PUT /admin/v1/smtp/{id}/password`: a new password, encrypted as in the added event. */
export class UpdateSmtpConfigPasswordUseCase {
  constructor(private readonly deps: SmtpCommandDeps) {}

  async execute(call: SmtpCommandCall & { readonly body: unknown }): Promise<{ details: ChangeDetails }> {
    await this.deps.permissions.require(call.principal, 'iam.write', call.instanceId);
    const { password } = parseUpdateSmtpConfigPasswordRequest(call.body);
    const encrypted = await this.deps.encryptor.encrypt(password);
    return executeSmtpCommand(this.deps, call, 'change-smtp-password', (now) => ({
      type: 'ChangeSmtpConfigPassword',
      instanceId: call.instanceId,
      configId: call.id,
      password: encrypted,
      now,
    }));
  }
}
