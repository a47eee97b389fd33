import { describe, expect, it } from 'vitest';
import { RoleBasedPermissionChecker, type Principal } from '../../src/index.js';

const OBJECT_MEMBERS = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];
const principal = (roles: string[]): Principal => ({ userId: 'u', instanceId: 'i1', roles });

describe('RoleBasedPermissionChecker with role names taken from a token', () => {
  const checker = new RoleBasedPermissionChecker();

  it.each(OBJECT_MEMBERS)('refuses the role "%s" as an unknown role (PermissionDenied, not a TypeError)', async (role) => {
    await expect(checker.require(principal([role]), 'iam.write', 'i1')).rejects.toMatchObject({ kind: 'PermissionDenied', id: 'AUTHZ-HdgL7' });
  });

  it.each(OBJECT_MEMBERS)('still grants an owner whose first role is "%s"', async (role) => {
    await expect(checker.require(principal([role, 'IAM_OWNER']), 'iam.write', 'i1')).resolves.toBeUndefined();
  });

  it('refuses an owner of another instance', async () => {
    await expect(checker.require(principal(['IAM_OWNER']), 'iam.write', 'i2')).rejects.toMatchObject({ kind: 'PermissionDenied' });
  });
});
