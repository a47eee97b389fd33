import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DomainError,
  ErrorIds,
  Errors,
  PortErrors,
  hasErrorKind,
  isCommandIdReused,
  isConcurrencyConflict,
  isDomainTaken,
  isInstanceAlreadyExists,
  isInstanceNotFound,
  isInvalidSmtpConfig,
  isPermissionDenied,
  isSmtpConfigAlreadyExists,
  isSmtpConfigNotFound,
  isUnauthenticated,
} from '../../src/domain/index.js';

const SRC = resolve(import.meta.dirname, '../../src');
const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });

describe('error ids', () => {
  it('are unique', () => {
    const ids = Object.values(ErrorIds);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('name every id string the sources raise (add new ones to ErrorIds)', () => {
    const known = new Set<string>(Object.values(ErrorIds));
    const used = new Set<string>();
    for (const file of sources(SRC)) {
      for (const m of readFileSync(file, 'utf8').matchAll(/'([A-Z]{3,}-[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)'/g)) {
        if (m[1] !== 'AES-256-GCM') used.add(m[1]!);
      }
    }
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((id) => !known.has(id))).toEqual([]);
  });

  it('match the ids the domain catalogue raises', () => {
    expect(Errors.smtpConfigAlreadyExists().id).toBe(ErrorIds.SmtpConfigAlreadyExists);
    expect(Errors.instanceNotFound().id).toBe(ErrorIds.InstanceNotFound);
    expect(Errors.instanceAlreadyExists().id).toBe(ErrorIds.InstanceAlreadyExists);
    expect(Errors.invalidSmtpConfig([]).id).toBe(ErrorIds.InvalidSmtpConfig);
    expect(Errors.domainTaken('a.example').id).toBe(ErrorIds.DomainTaken);
    expect(Errors.domainNotClaimed('a.example').id).toBe(ErrorIds.DomainNotClaimed);
    expect(Errors.invalidInstanceSetup([]).id).toBe(ErrorIds.InvalidInstanceSetup);
  });
});

describe('error guards', () => {
  const samples: Record<string, DomainError> = {
    alreadyExists: Errors.smtpConfigAlreadyExists(),
    instanceNotFound: Errors.instanceNotFound(),
    instanceAlreadyExists: Errors.instanceAlreadyExists(),
    invalid: Errors.invalidSmtpConfig([{ field: 'host', description: 'x' }]),
    domainTaken: Errors.domainTaken('a.example'),
    configNotFound: PortErrors.notFound(ErrorIds.SmtpConfigNotFound, 'SMTP configuration not found'),
    conflict: new DomainError('Unavailable', ErrorIds.ConcurrencyConflict, 'Errors.Concurrency.Conflict'),
    reused: new DomainError('FailedPrecondition', ErrorIds.CommandIdReused, 'Errors.Command.Reused'),
    denied: PortErrors.permissionDenied(),
    unauthenticated: PortErrors.unauthenticated(),
  };
  const guards = {
    alreadyExists: isSmtpConfigAlreadyExists,
    instanceNotFound: isInstanceNotFound,
    instanceAlreadyExists: isInstanceAlreadyExists,
    invalid: isInvalidSmtpConfig,
    domainTaken: isDomainTaken,
    configNotFound: isSmtpConfigNotFound,
    conflict: isConcurrencyConflict,
    reused: isCommandIdReused,
    denied: isPermissionDenied,
    unauthenticated: isUnauthenticated,
  };

  it('each recognise their own error and no other, nor a plain Error with the same message', () => {
    for (const [name, guard] of Object.entries(guards)) {
      const matches = Object.entries(samples).filter(([, e]) => guard(e)).map(([n]) => n);
      expect(matches, name).toEqual([name]);
      expect(guard(new Error(samples[name]!.message))).toBe(false);
      expect(guard(undefined)).toBe(false);
    }
  });
});

describe('port error factories', () => {
  it('give an embedder the kinds (and so the HTTP and gRPC statuses) of its own refusals', () => {
    const denied = PortErrors.permissionDenied('only mail admins', 'MYAPP-perm-1');
    expect({ kind: denied.kind, id: denied.id, message: denied.message, code: denied.grpcCode }).toEqual({
      kind: 'PermissionDenied',
      id: 'MYAPP-perm-1',
      message: 'only mail admins',
      code: 7,
    });
    expect(PortErrors.permissionDenied().id).toBe(ErrorIds.PermissionDenied);
    const cause = new Error('socket closed');
    const unavailable = PortErrors.unavailable('kms down', 'MYAPP-kms-1', cause);
    expect([unavailable.kind, unavailable.grpcCode, unavailable.cause]).toEqual(['Unavailable', 14, cause]);
    expect(PortErrors.unauthenticated().grpcCode).toBe(16);
    expect(PortErrors.notFound('MYAPP-nf', 'no such tenant').grpcCode).toBe(5);
    expect(PortErrors.failedPrecondition('MYAPP-fp', 'locked').grpcCode).toBe(9);
    expect(PortErrors.internal('MYAPP-int').grpcCode).toBe(13);
    const invalid = PortErrors.invalidArgument('MYAPP-val', [{ field: 'tenant', description: 'must not be empty' }]);
    expect([invalid.grpcCode, invalid.message, invalid.violations]).toEqual([3, 'tenant: must not be empty', [{ field: 'tenant', description: 'must not be empty' }]]);
    expect(hasErrorKind(invalid, 'InvalidArgument')).toBe(true);
  });
});
