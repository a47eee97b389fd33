import { PortErrors } from '../domain/index.js';
import type { Permission, PermissionChecker, Principal } from './ports/services.js';

/** ZITADEL's instance roles and the permissions they grant (the part this module needs). */
export const ROLE_PERMISSIONS: Readonly<Record<string, readonly Permission[]>> = {
  IAM_OWNER: ['iam.write', 'iam.read'],
  IAM_OWNER_VIEWER: ['iam.read'],
};

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

  async require(principal: Principal, permission: Permission, instanceId: string): Promise<void> {
    const granted =
      principal.instanceId === instanceId && principal.roles.some((role) => this.rolePermissions.get(role)?.includes(permission) === true);
    if (!granted) {
      throw PortErrors.permissionDenied();
    }
  }
}
