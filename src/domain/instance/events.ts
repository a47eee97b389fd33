import type { EncryptedSecret } from './encrypted-secret.js';

/**
 * The Instance aggregate's events. Type strings are ZITADEL's own and are part of the stored
 * contract: a test pins them. Payloads are plain JSON (strings, booleans), so every store can
 * keep them as they are.
 */
export const InstanceEventTypes = {
  InstanceAdded: 'instance.added',
  InstanceDomainAdded: 'instance.domain.added',
  SMTPConfigAdded: 'instance.smtp.config.added',
  SMTPConfigChanged: 'instance.smtp.config.changed',
  SMTPConfigPasswordChanged: 'instance.smtp.config.password.changed',
  SMTPConfigRemoved: 'instance.smtp.config.removed',
} as const;

export interface InstanceAdded {
  readonly type: typeof InstanceEventTypes.InstanceAdded;
  readonly data: { readonly name: string };
}

export interface InstanceDomainAdded {
  readonly type: typeof InstanceEventTypes.InstanceDomainAdded;
  readonly data: { readonly domain: string; readonly generated: boolean };
}

export interface SMTPConfigAddedData {
  readonly id: string;
  readonly senderAddress: string;
  readonly senderName: string;
  readonly tls: boolean;
  readonly host: string;
  readonly user: string;
  /** Absent when the password is empty. Never plain text. */
  readonly password?: EncryptedSecret;
  readonly replyToAddress: string;
  readonly description: string;
}

export interface SMTPConfigAdded {
  readonly type: typeof InstanceEventTypes.SMTPConfigAdded;
  readonly data: SMTPConfigAddedData;
}

/**
 * Only the fields that changed, besides the id. A password is present only when the request gave a
 * new one (encrypted, as in the added event); an absent password keeps the stored one.
 */
export interface SMTPConfigChangedData {
  readonly id: string;
  readonly senderAddress?: string;
  readonly senderName?: string;
  readonly tls?: boolean;
  readonly host?: string;
  readonly user?: string;
  readonly password?: EncryptedSecret;
  readonly replyToAddress?: string;
  readonly description?: string;
}

export interface SMTPConfigChanged {
  readonly type: typeof InstanceEventTypes.SMTPConfigChanged;
  readonly data: SMTPConfigChangedData;
}

export interface SMTPConfigPasswordChangedData {
  readonly id: string;
  /** Never plain text. */
  readonly password: EncryptedSecret;
}

export interface SMTPConfigPasswordChanged {
  readonly type: typeof InstanceEventTypes.SMTPConfigPasswordChanged;
  readonly data: SMTPConfigPasswordChangedData;
}

export interface SMTPConfigRemovedData {
  readonly id: string;
}

export interface SMTPConfigRemoved {
  readonly type: typeof InstanceEventTypes.SMTPConfigRemoved;
  readonly data: SMTPConfigRemovedData;
}

export type InstanceEvent =
  | InstanceAdded
  | InstanceDomainAdded
  | SMTPConfigAdded
  | SMTPConfigChanged
  | SMTPConfigPasswordChanged
  | SMTPConfigRemoved;

const TYPES: ReadonlySet<string> = new Set(Object.values(InstanceEventTypes));
export const isInstanceEventType = (type: string): type is InstanceEvent['type'] => TYPES.has(type);
