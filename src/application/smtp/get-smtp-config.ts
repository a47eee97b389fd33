import { ErrorIds, PortErrors } from '../../domain/index.js';
import type { SmtpConfigQueries, SmtpConfigView } from '../ports/read-model.js';
import type { PermissionChecker, Principal } from '../ports/services.js';

/** Reads one SMTP configuration by id from the read model. The view has no password field at all. */
export class GetSmtpConfigQuery {
  constructor(private readonly deps: { readonly queries: SmtpConfigQueries; readonly permissions: PermissionChecker }) {}

  async execute(call: { principal: Principal; instanceId: string; id: string }): Promise<SmtpConfigView> {
    await this.deps.permissions.require(call.principal, 'iam.read', call.instanceId);
    const view = await this.deps.queries.smtpConfigById(call.instanceId, call.id);
    if (!view) throw PortErrors.notFound(ErrorIds.SmtpConfigNotFound, 'SMTP configuration not found', 'Errors.SMTPConfig.NotFound');
    return view;
  }
}

/** `GET /admin/v1/smtp`: the instance's configuration, whatever its id. */
export class GetInstanceSmtpConfigQuery {
  constructor(private readonly deps: { readonly queries: SmtpConfigQueries; readonly permissions: PermissionChecker }) {}

  async execute(call: { principal: Principal; instanceId: string }): Promise<SmtpConfigView> {
    await this.deps.permissions.require(call.principal, 'iam.read', call.instanceId);
    const view = await this.deps.queries.smtpConfigOfInstance(call.instanceId);
    if (!view) throw PortErrors.notFound(ErrorIds.SmtpConfigNotFound, 'SMTP configuration not found', 'Errors.SMTPConfig.NotFound');
    return view;
  }
}
