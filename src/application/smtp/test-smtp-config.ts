import { Errors, parseTestSmtpConfigByIdRequest, parseTestSmtpConfigRequest } from '../../domain/index.js';
import type { PermissionChecker, Principal } from '../ports/services.js';
import type { SmtpMail, SmtpMailer } from '../ports/smtp-mailer.js';
import type { GetSmtpSenderConfig } from './smtp-sender-config.js';

/** The test mail, as ZITADEL words it. */
export const testMail = (to: string): SmtpMail => ({
  to,
  subject: 'Test email',
  text: 'This is a test email to check if your SMTP provider works fine',
});

interface TestCall {
  readonly principal: Principal;
  readonly instanceId: string;
  readonly body: unknown;
}

/**
 * `POST /admin/v1/smtp/_test`: sends a test mail with the request's configuration; stores nothing.
 * With an empty `password` and the `id` of the instance's stored configuration, the stored password
 * is used (as ZITADEL does); an `id` that names no stored configuration is NotFound. A given
 * password always wins, and without `id` an empty password means a server without AUTH.
 */
export class TestSmtpConfigUseCase {
  constructor(
    private readonly deps: { readonly mailer: SmtpMailer; readonly permissions: PermissionChecker; readonly senderConfig: GetSmtpSenderConfig },
  ) {}

  async execute(call: TestCall): Promise<Record<string, never>> {
    await this.deps.permissions.require(call.principal, 'iam.write', call.instanceId);
    const { receiverAddress, id, ...config } = parseTestSmtpConfigRequest(call.body);
    let password = config.password;
    if (password === '' && id !== '') {
      const stored = await this.deps.senderConfig.execute({ instanceId: call.instanceId, id });
      if (!stored) throw Errors.smtpConfigNotFound();
      password = stored.password;
    }
    await this.deps.mailer.send({ ...config, password }, testMail(receiverAddress));
    return {};
  }
}

/** `POST /admin/v1/smtp/{id}/_test`: sends a test mail with the stored configuration and its password. */
export class TestStoredSmtpConfigUseCase {
  constructor(
    private readonly deps: { readonly mailer: SmtpMailer; readonly permissions: PermissionChecker; readonly senderConfig: GetSmtpSenderConfig },
  ) {}

  async execute(call: TestCall & { readonly id: string }): Promise<Record<string, never>> {
    await this.deps.permissions.require(call.principal, 'iam.write', call.instanceId);
    const { receiverAddress } = parseTestSmtpConfigByIdRequest(call.body);
    const config = await this.deps.senderConfig.execute({ instanceId: call.instanceId, id: call.id });
    if (!config) throw Errors.smtpConfigNotFound();
    await this.deps.mailer.send(config, testMail(receiverAddress));
    return {};
  }
}
