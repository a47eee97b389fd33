import { describe, expect, it } from 'vitest';
import { DomainError, parseAddSmtpConfigRequest } from '../../src/domain/index.js';
import { seedRequest } from '../support/fixtures.js';
import { emoji, email, hostOf, validationTable as table, withSeed as with_ } from '../support/validation-table.js';

const violationsOf = (body: unknown) => {
  try {
    parseAddSmtpConfigRequest(body);
    return [];
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    expect(error.kind).toBe('InvalidArgument');
    return error.violations;
  }
};

describe('AddSmtpConfig request validation (the API document’s limits)', () => {
  it.each(table)('%s', (_description, patch, failingField) => {
    const violations = violationsOf(with_(patch));
    if (failingField === undefined) expect(violations).toEqual([]);
    else expect(violations.map((v) => v.field)).toEqual([failingField]);
  });

  it('counts the table’s boundary strings as intended', () => {
    expect(email(200)).toHaveLength(200);
    expect(hostOf(500)).toHaveLength(500);
    expect(hostOf(501)).toHaveLength(501);
    expect(emoji(200)).toHaveLength(400);
  });

  it('reports every violation at once, each with its field and reason', () => {
    const violations = violationsOf({ senderAddress: '', senderName: 'n'.repeat(201), host: 'nohost', tls: 1 });
    expect(violations).toEqual([
      { field: 'senderAddress', description: 'must not be empty' },
      { field: 'senderName', description: 'must be at most 200 characters (got 201)' },
      { field: 'tls', description: 'must be a boolean' },
      { field: 'host', description: 'must include the port (host:port)' },
    ]);
  });

  it('says which required field is missing', () => {
    expect(violationsOf({})).toEqual([
      { field: 'senderAddress', description: 'is required' },
      { field: 'senderName', description: 'is required' },
      { field: 'host', description: 'is required' },
    ]);
  });

  it('rejects a body that is not an object', () => {
    expect(violationsOf(null).map((v) => v.field)).toEqual(['body']);
    expect(violationsOf([seedRequest]).map((v) => v.field)).toEqual(['body']);
  });

  it('ignores unknown fields and fills the defaults', () => {
    const parsed = parseAddSmtpConfigRequest({ senderAddress: 'a@b.io', senderName: 'n', host: 'h:25', unknown: 'x' });
    expect(parsed).toEqual({ senderAddress: 'a@b.io', senderName: 'n', host: 'h:25', tls: false, user: '', password: '', replyToAddress: '', description: '' });
  });
});
