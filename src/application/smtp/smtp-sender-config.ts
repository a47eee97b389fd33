import { fold, Instance, instanceStreamId, type InstanceEvent } from '../../domain/index.js';
import type { EventStore } from '../ports/event-store.js';
import type { SecretEncryptor } from '../ports/services.js';
import type { SmtpSenderConfig } from '../ports/smtp-mailer.js';

/** The stored configuration with its password decrypted: for a mailer, never for an answer or a log. */
export interface StoredSmtpSenderConfig extends SmtpSenderConfig {
  readonly id: string;
  readonly description: string;
}

/**
 * The instance's SMTP configuration as a mailer needs it, read from the instance's events (not the
 * read model, which has no password and may lag): right after a password change it already has the
 * new password. The password is decrypted in memory only. For an embedder's own mailer; the HTTP API
 * uses it only to send the stored configuration's test mail.
 */
export class GetSmtpSenderConfig {
  constructor(private readonly deps: { readonly events: EventStore; readonly encryptor: SecretEncryptor }) {}

  /** Undefined when the instance has no configuration, or not the one with `id` (when given). */
  async execute(call: { readonly instanceId: string; readonly id?: string }): Promise<StoredSmtpSenderConfig | undefined> {
    const { events } = await this.deps.events.readStream(instanceStreamId(call.instanceId));
    const state = fold(
      Instance,
      events.map((e) => ({ type: e.type, data: e.data }) as InstanceEvent),
    );
    const config = state.smtpConfig;
    if (!config || (call.id !== undefined && config.id !== call.id)) return undefined;
    const { password, ...rest } = config;
    return { ...rest, password: password ? await this.deps.encryptor.decrypt(password) : '' };
  }
}
