import type { EncryptedSecret } from './encrypted-secret.js';
import type { ValidSmtpConfigRequest } from './smtp-config.js';

/** Sets up a new instance with its domains (how the first instance of a installation is made). */
export interface SetUpInstance {
  readonly type: 'SetUpInstance';
  readonly instanceId: string;
  readonly name: string;
  readonly domains: readonly string[];
  readonly now: Date;
}

/**
 * Adds the instance's SMTP configuration, only if none is set yet. The id, the time and the
 * already encrypted password come in with the command: the domain reads no clock, makes no ids and
 * never sees the plain password.
 */
export interface AddSmtpConfig {
  readonly type: 'AddSmtpConfig';
  readonly instanceId: string;
  readonly configId: string;
  readonly config: Omit<ValidSmtpConfigRequest, 'password'>;
  readonly password: EncryptedSecret | undefined;
  readonly now: Date;
}

/**
 * Changes the instance's SMTP configuration `configId` to the request's fields. `password` is the
 * new password, already encrypted, or undefined to keep the stored one.
 */
export interface ChangeSmtpConfig {
  readonly type: 'ChangeSmtpConfig';
  readonly instanceId: string;
  readonly configId: string;
  readonly config: Omit<ValidSmtpConfigRequest, 'password'>;
  readonly password: EncryptedSecret | undefined;
  readonly now: Date;
}

/** Sets a new (already encrypted) password on the SMTP configuration `configId`. */
export interface ChangeSmtpConfigPassword {
  readonly type: 'ChangeSmtpConfigPassword';
  readonly instanceId: string;
  readonly configId: string;
  readonly password: EncryptedSecret;
  readonly now: Date;
}

/** Removes the SMTP configuration `configId`; afterwards a new one can be added. */
export interface RemoveSmtpConfig {
  readonly type: 'RemoveSmtpConfig';
  readonly instanceId: string;
  readonly configId: string;
  readonly now: Date;
}

export type InstanceCommand = SetUpInstance | AddSmtpConfig | ChangeSmtpConfig | ChangeSmtpConfigPassword | RemoveSmtpConfig;
