import { executeSmtpCommand, type ChangeDetails, type SmtpCommandCall, type SmtpCommandDeps } from './smtp-command.js';

/** `DELETE /admin/v1/smtp/{id}`: removes the configuration; afterwards a new one can be added. */
export class RemoveSmtpConfigUseCase {
  constructor(private readonly deps: SmtpCommandDeps) {}

  async execute(call: SmtpCommandCall): Promise<{ details: ChangeDetails }> {
    await this.deps.permissions.require(call.principal, 'iam.write', call.instanceId);
    return executeSmtpCommand(this.deps, call, 'remove-smtp', (now) => ({
      type: 'RemoveSmtpConfig',
      instanceId: call.instanceId,
      configId: call.id,
      now,
    }));
  }
}
