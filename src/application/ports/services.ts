import type { EncryptedSecret } from '../../domain/index.js';

export interface Clock {
  now(): Date;
}

export interface IdGenerator {
  /** A new ZITADEL-style numeric id (a decimal string), unique across the installation. */
  nextId(): string;
}

export interface SecretEncryptor {
  encrypt(plaintext: string): Promise<EncryptedSecret>;
  /** Throws when the value was tampered with or its key is unknown. */
  decrypt(secret: EncryptedSecret): Promise<string>;
}

/** Who is calling. Authentication happens outside; this is what it found. */
export interface Principal {
  readonly userId: string;
  /** The instance the caller's token was issued for. */
  readonly instanceId: string;
  readonly roles: readonly string[];
  /** Whatever else the embedder's authentication found (tenant, scopes…), for its own permission checker. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/**
 * What a use case asks the permission checker for. This package asks for `iam.write` and
 * `iam.read`; an embedder's checker may know more names of its own.
 */
export type Permission = 'iam.write' | 'iam.read' | (string & {});

export interface PermissionChecker {
  /** Throws a PermissionDenied DomainError when the principal lacks the permission on the instance. */
  require(principal: Principal, permission: Permission, instanceId: string): Promise<void>;
}
