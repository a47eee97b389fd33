import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  AddSmtpConfigRequestSchema,
  codePointLength,
  DomainError,
  hostPortProblem,
  parseAddSmtpConfigRequest,
  trimSpaceAsGo,
} from '../../src/domain/index.js';
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

describe('AddSmtpConfig request validation: errors and reasons', () => {
  it('raises InvalidArgument SMTP-VAL-4xq1 naming every violation in its message', () => {
    let error: unknown;
    try {
      parseAddSmtpConfigRequest(with_({ host: 'no-port', user: 'u'.repeat(201) }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DomainError);
    const { kind, id, grpcCode, message } = error as DomainError;
    expect({ kind, id, grpcCode, message }).toEqual({
      kind: 'InvalidArgument',
      id: 'SMTP-VAL-4xq1',
      grpcCode: 3,
      message: 'invalid AddSMTPConfigRequest: host: must include the port (host:port); user: must be at most 200 characters (got 201)',
    });
  });

  it('says “a” or “an” before the expected type', () => {
    expect(violationsOf(null)).toEqual([{ field: 'body', description: 'must be an object' }]);
    expect(violationsOf(with_({ senderName: 1 }))).toEqual([{ field: 'senderName', description: 'must be a string' }]);
  });

  it('says that a NUL character is refused, once, even in a field that is also too long', () => {
    expect(violationsOf(with_({ senderName: `${'n'.repeat(201)}\u0000`, password: 'pass\u0000word' }))).toEqual([
      { field: 'senderName', description: 'must not contain the NUL character (U+0000)' },
      { field: 'password', description: 'must not contain the NUL character (U+0000)' },
    ]);
  });

  it('says why an address is refused: too long (counted before trimming) or, for the sender, blank', () => {
    expect(violationsOf(with_({ senderAddress: ' \u3000 ', replyToAddress: `${'r'.repeat(200)} ` }))).toEqual([
      { field: 'senderAddress', description: 'must not be blank (it is only white space)' },
      { field: 'replyToAddress', description: 'must be at most 200 characters (got 201)' },
    ]);
    expect(violationsOf(with_({ password: 'p'.repeat(1025), description: emoji(201) }))).toEqual([
      { field: 'password', description: 'must be at most 1024 characters (got 1025)' },
      { field: 'description', description: 'must be at most 200 characters (got 201)' },
    ]);
  });

  it('accepts the addresses of a local relay and checks no e-mail syntax, as ZITADEL', () => {
    const parsed = parseAddSmtpConfigRequest(with_({ senderAddress: 'noreply@localhost', replyToAddress: 'support@mailpit' }));
    expect([parsed.senderAddress, parsed.replyToAddress]).toEqual(['noreply@localhost', 'support@mailpit']);
    expect(parseAddSmtpConfigRequest(with_({ senderAddress: 'ZITADEL', replyToAddress: 'not an address' })).senderAddress).toBe('ZITADEL');
  });

  it('stores the addresses trimmed of white space as Go’s strings.TrimSpace sees it, and a blank Reply-To as none', () => {
    const parsed = parseAddSmtpConfigRequest(with_({ senderAddress: '\t noreply@localhost\u0085\r\n', replyToAddress: '\u00a0\u2003' }));
    expect([parsed.senderAddress, parsed.replyToAddress]).toEqual(['noreply@localhost', '']);
    // U+FEFF is no space to Go (String.prototype.trim would drop it); inner white space stays.
    expect(parseAddSmtpConfigRequest(with_({ senderAddress: '\ufeffa b@c.io ' })).senderAddress).toBe('\ufeffa b@c.io');
    expect(trimSpaceAsGo('\u0085\u1680x\u2000y\u205f\u3000\u202f')).toBe('x\u2000y');
  });

  it('stores the description trimmed, as ZITADEL’s add and change commands do (its length counted before)', () => {
    expect(parseAddSmtpConfigRequest(with_({ description: ' \u3000provider description\t\n' })).description).toBe('provider description');
    expect(parseAddSmtpConfigRequest(with_({ description: `${'d'.repeat(198)}  ` })).description).toBe('d'.repeat(198));
    expect(violationsOf(with_({ description: `${'d'.repeat(200)} ` }))).toEqual([{ field: 'description', description: 'must be at most 200 characters (got 201)' }]);
  });

  it('stores the host trimmed, as ZITADEL trims it before splitting host and port', () => {
    expect(parseAddSmtpConfigRequest(with_({ host: '\tsmtp.example.com:587 \r\n' })).host).toBe('smtp.example.com:587');
    expect(violationsOf(with_({ host: ' smtp.example.com ' }))).toEqual([{ field: 'host', description: 'must include the port (host:port)' }]);
  });

  it.each([
    ['smtp.example.com:587', undefined],
    ['[2001:db8::1]:465', undefined],
    ['[::1', 'has an opening "[" without a closing "]"'],
    ['[::1]', 'must include the port (host:port, IPv6 as [address]:port)'],
    ['[::1]25', 'must include the port (host:port, IPv6 as [address]:port)'],
    ['[example.com]:25', 'has an invalid IPv6 address in brackets'],
    ['[1:2]:25', 'has an invalid IPv6 address in brackets'],
    ['smtp.example.com', 'must include the port (host:port)'],
    ['2001:db8::1:25', 'IPv6 addresses must be in brackets ([address]:port)'],
    ['::1', 'IPv6 addresses must be in brackets ([address]:port)'],
    ['1:2:3:4:5:6:7:8:25', 'IPv6 addresses must be in brackets ([address]:port)'],
    ['fe80::1%eth0:25', 'IPv6 addresses must be in brackets ([address]:port)'],
    ['h:25:26', 'must be host:port with a single ":"'],
    ['smtp.example.com:25:587', 'must be host:port with a single ":"'],
    ['smtp://smtp.example.com:25', 'must be host:port without a scheme (drop "smtp://")'],
    ['smtps://smtp.example.com', 'must be host:port without a scheme (drop "smtps://")'],
    ['SMTP+TLS://[::1]:465', 'must be host:port without a scheme (drop "SMTP+TLS://")'],
    [':25', 'must name a host before the port'],
    ['smtp example.com:25', 'has an invalid host name'],
    ['smtp.müller.example:25', 'has a host name that is not ASCII (give an internationalized name in its ASCII form, xn--…)'],
    ['smtp.xn--mller-kva.example:25', undefined],
    [`${'a'.repeat(63)}.example.com:25`, undefined],
    [`${'a'.repeat(64)}.example.com:25`, 'has a host name label longer than 63 characters'],
    ['smtp.example.com:25x', 'must end with a numeric port (host:port)'],
    ['[::1]:x25', 'must end with a numeric port (host:port)'],
    ['smtp.example.com:0', 'port must be between 1 and 65535 (got 0)'],
    ['smtp.example.com:65536', 'port must be between 1 and 65535 (got 65536)'],
    ['[::1]:99999', 'port must be between 1 and 65535 (got 99999)'],
  ])('host %s: %s', (host, reason) => {
    expect(hostPortProblem(host)).toBe(reason);
  });

  it('documents the limits in the generated JSON Schema, in code points', () => {
    const schema = z.toJSONSchema(AddSmtpConfigRequestSchema, { io: 'input' }) as { properties: Record<string, Record<string, unknown>> };
    const limits = Object.fromEntries(
      Object.entries(schema.properties).map(([field, p]) => [field, { minLength: p.minLength, maxLength: p.maxLength }]),
    );
    expect(limits).toEqual({
      senderAddress: { minLength: 1, maxLength: 200 },
      senderName: { minLength: 1, maxLength: 200 },
      tls: { minLength: undefined, maxLength: undefined },
      host: { minLength: 1, maxLength: 500 },
      user: { minLength: undefined, maxLength: 200 },
      password: { minLength: undefined, maxLength: 1024 },
      replyToAddress: { minLength: undefined, maxLength: 200 },
      description: { minLength: undefined, maxLength: 200 },
    });
    expect(schema.properties.host).toMatchObject({
      description: 'host:port of the SMTP server. Make sure to include the port.',
      example: 'smtp.postmarkapp.com:587',
    });
    // ZITADEL checks no e-mail syntax, so the schema claims none.
    expect(schema.properties.senderAddress!.format).toBeUndefined();
    expect(schema.properties.replyToAddress!.format).toBeUndefined();
  });

  it('counts code points, not UTF-16 units', () => {
    expect(codePointLength('')).toBe(0);
    expect(codePointLength('abc')).toBe(3);
    expect(codePointLength(emoji(2))).toBe(2);
  });
});
