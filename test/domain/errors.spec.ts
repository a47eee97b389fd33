import { describe, expect, it } from 'vitest';
import { DomainError, ErrorKind, Errors, grpcCodeOf, isDomainError, PortErrors } from '../../src/domain/index.js';

describe('error catalogue', () => {
  it('maps every kind onto its google.rpc.Code number', () => {
    expect(grpcCodeOf).toEqual({
      InvalidArgument: 3,
      NotFound: 5,
      AlreadyExists: 6,
      PermissionDenied: 7,
      FailedPrecondition: 9,
      Internal: 13,
      Unavailable: 14,
      Unauthenticated: 16,
    });
    expect(Object.values(ErrorKind).sort()).toEqual(Object.keys(grpcCodeOf).sort());
    for (const kind of Object.values(ErrorKind)) expect(ErrorKind[kind]).toBe(kind);
  });

  it('gives each error its published kind, id, message key, message and gRPC code', () => {
    const violations = [
      { field: 'host', description: 'must include the port (host:port)' },
      { field: 'tls', description: 'must be a boolean' },
    ];
    const described = (e: DomainError) => ({ kind: e.kind, id: e.id, messageKey: e.messageKey, message: e.message, grpcCode: e.grpcCode, violations: e.violations });
    expect(described(Errors.invalidSmtpConfig(violations))).toEqual({
      kind: 'InvalidArgument',
      id: 'SMTP-VAL-4xq1',
      messageKey: 'Errors.SMTPConfig.Invalid',
      message: 'invalid AddSMTPConfigRequest: host: must include the port (host:port); tls: must be a boolean',
      grpcCode: 3,
      violations,
    });
    expect(described(Errors.instanceNotFound())).toEqual({
      kind: 'NotFound',
      id: 'COMMAND-3n8fs',
      messageKey: 'Errors.Instance.NotFound',
      message: 'Instance not found',
      grpcCode: 5,
      violations: [],
    });
    expect(described(Errors.instanceAlreadyExists())).toEqual({
      kind: 'AlreadyExists',
      id: 'COMMAND-Lsq2e',
      messageKey: 'Errors.Instance.AlreadyExists',
      message: 'Instance already exists',
      grpcCode: 6,
      violations: [],
    });
    expect(described(Errors.smtpConfigAlreadyExists())).toEqual({
      kind: 'AlreadyExists',
      id: 'COMMAND-en9lw',
      messageKey: 'Errors.SMTPConfig.AlreadyExists',
      message: 'SMTP configuration already exists',
      grpcCode: 6,
      violations: [],
    });
    expect(described(Errors.invalidInstanceSetup([{ field: 'name', description: 'must not be empty' }]))).toEqual({
      kind: 'InvalidArgument',
      id: 'INST-VAL-8fk2',
      messageKey: 'Errors.Instance.Invalid',
      message: 'invalid instance setup: name: must not be empty',
      grpcCode: 3,
      violations: [{ field: 'name', description: 'must not be empty' }],
    });
  });

  it('is an Error named DomainError whose message defaults to its key and which keeps its cause', () => {
    const cause = new Error('underneath');
    const error = new DomainError(ErrorKind.Unavailable, 'X-1', 'Errors.X', undefined, undefined, { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('DomainError');
    expect(error.message).toBe('Errors.X');
    expect(error.violations).toEqual([]);
    expect(error.cause).toBe(cause);
    expect(error.grpcCode).toBe(14);
  });

  it('tells an API client its message and violations, unless made with a clientMessage: then that, and no violations', () => {
    const violations = [{ field: 'data.id', description: 'Required' }];
    const plain = new DomainError(ErrorKind.InvalidArgument, 'X-2', 'Errors.X', 'id: Required', violations);
    expect([plain.clientMessage, plain.clientViolations]).toEqual(['id: Required', violations]);
    const forOperator = new DomainError(ErrorKind.Internal, 'X-3', 'Errors.X', 'event at position 7 in stream s: data.id: Required', violations, {
      clientMessage: 'a stored event cannot be read',
    });
    expect([forOperator.message, forOperator.violations, forOperator.clientMessage, forOperator.clientViolations]).toEqual([
      'event at position 7 in stream s: data.id: Required',
      violations,
      'a stored event cannot be read',
      [],
    ]);
    const embedders = PortErrors.internal('MY-1', 'the vault at 10.0.0.5 is sealed', undefined, 'the secret store is unavailable');
    expect([embedders.kind, embedders.message, embedders.clientMessage]).toEqual([ErrorKind.Internal, 'the vault at 10.0.0.5 is sealed', 'the secret store is unavailable']);
    expect(PortErrors.internal('MY-2', 'broken').clientMessage).toBe('broken');
  });

  it('keeps what a client is told out of the fields a logger copies: an error written out shows its message once, not a client copy beside it', () => {
    const plain = new DomainError(ErrorKind.InvalidArgument, 'X-4', 'Errors.X', 'id: Required', [{ field: 'id', description: 'Required' }]);
    const forOperator = new DomainError(ErrorKind.Internal, 'X-5', 'Errors.X', 'key k1 missing from ENCRYPTION_KEYS', [], { clientMessage: 'cannot decrypt' });
    for (const error of [plain, forOperator]) {
      expect(Object.keys({ ...error })).toEqual(['kind', 'id', 'messageKey', 'violations', 'name']);
      expect(JSON.stringify(error)).not.toMatch(/client/);
    }
    expect(forOperator.clientMessage).toBe('cannot decrypt');
  });

  it('recognises domain errors and nothing else', () => {
    expect(isDomainError(Errors.instanceNotFound())).toBe(true);
    expect(isDomainError(new Error('Instance not found'))).toBe(false);
    expect(isDomainError({ kind: 'NotFound', id: 'COMMAND-3n8fs' })).toBe(false);
    expect(isDomainError(undefined)).toBe(false);
  });
});
