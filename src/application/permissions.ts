import { PortErrors } from '../domain/index.js';
import type { Permission, PermissionChecker, Principal } from './ports/services.js';

/** ZITADEL's instance roles and the permissions they grant (the part this module needs). */
export const ROLE_PERMISSIONS: Readonly<Record<string, readonly Permission[]>> = {
  IAM_OWNER: ['iam.write', 'iam.read'],
  IAM_OWNER_VIEWER: ['iam.read'],
};

/** What `require` answers when the permission is granted: one settled promise, shared. */
const GRANTED: Promise<void> = Promise.resolve();

/**
 * Grants by role, on the principal's own instance only.
 *
 * Role names come from a token, so they are looked up in a Map built from the table's own keys:
 * `constructor`, `__proto__` or `toString` are unknown roles, never members of Object.prototype.
 */
export class RoleBasedPermissionChecker implements PermissionChecker {
  private readonly rolePermissions: ReadonlyMap<string, readonly Permission[]>;

  constructor(rolePermissions: Readonly<Record<string, readonly Permission[]>> = ROLE_PERMISSIONS) {
    this.rolePermissions = new Map(Object.entries(rolePermissions));
  }

  // Not an `async` function (no state object, no closure per call): a settled promise, rejected
  // when the permission is not granted, never a throw from the call itself.
  require(principal: Principal, permission: Permission, instanceId: string): Promise<void> {
    if (principal.instanceId === instanceId) {
      for (const role of principal.roles) if (this.rolePermissions.get(role)?.includes(permission) === true) return GRANTED;
    }
    return Promise.reject(PortErrors.permissionDenied());
  }
}
