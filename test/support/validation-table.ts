import { seedRequest } from './fixtures.js';

/** The seed request with some fields replaced (undefined removes a field). */
export const withSeed = (patch: Record<string, unknown>) => ({ ...seedRequest, ...patch });
export const email = (codePoints: number) => `${'a'.repeat(codePoints - '@example.com'.length)}@example.com`;
export const hostOf = (codePoints: number) => {
  // labels of at most 63 characters, then ':587'
  const name = Array.from({ length: Math.ceil((codePoints - 4) / 50) }, () => 'a'.repeat(49)).join('.').slice(0, codePoints - 4);
  return `${name.replace(/\.$/, 'b')}:587`;
};
export const emoji = (n: number) => '😀'.repeat(n); // one code point, two UTF-16 units each

export type Row = [description: string, patch: Record<string, unknown>, failingField: string | undefined];

/** Every limit of the API document, at and beyond each boundary; the last column names the failing field. */
export const validationTable: Row[] = [
  // senderAddress: non-empty, <= 200 (before trimming), not only white space; no e-mail syntax, as ZITADEL
  ['senderAddress of 200 characters', { senderAddress: email(200) }, undefined],
  ['senderAddress of 201 characters', { senderAddress: email(201) }, 'senderAddress'],
  ['empty senderAddress', { senderAddress: '' }, 'senderAddress'],
  ['missing senderAddress', { senderAddress: undefined }, 'senderAddress'],
  ['senderAddress of a local relay (no dot in the domain)', { senderAddress: 'noreply@localhost' }, undefined],
  ['senderAddress without an @ (ZITADEL checks no syntax)', { senderAddress: 'noreply' }, undefined],
  ['senderAddress of 1 character', { senderAddress: 'a' }, undefined],
  ['senderAddress with a space inside', { senderAddress: 'a b@c.io' }, undefined],
  ['senderAddress with two dots in a row', { senderAddress: 'a..b@c.io' }, undefined],
  ['senderAddress ending in a dot', { senderAddress: 'a@c.io.' }, undefined],
  ['senderAddress with a control character', { senderAddress: 'a\u0007@c.io' }, undefined],
  ['senderAddress with white space around it', { senderAddress: ' \tnoreply@localhost\u00a0' }, undefined],
  ['senderAddress of only white space', { senderAddress: ' \t\r\n' }, 'senderAddress'],
  ['senderAddress of only a no-break space', { senderAddress: '\u00a0' }, 'senderAddress'],
  ['senderAddress of 200 characters that is no e-mail address', { senderAddress: 'a'.repeat(200) }, undefined],
  ['senderAddress of 201 characters that is no e-mail address', { senderAddress: 'a'.repeat(201) }, 'senderAddress'],
  ['senderAddress of 200 characters and a space (counted before trimming)', { senderAddress: `${email(200)} ` }, 'senderAddress'],
  ['senderAddress with a NUL', { senderAddress: 'a\u0000@c.io' }, 'senderAddress'],
  // senderName: non-empty, <= 200 code points
  ['senderName of 1 character', { senderName: 'Z' }, undefined],
  ['senderName of 200 characters', { senderName: 'n'.repeat(200) }, undefined],
  ['senderName of 201 characters', { senderName: 'n'.repeat(201) }, 'senderName'],
  ['senderName of 200 emoji (400 UTF-16 units)', { senderName: emoji(200) }, undefined],
  ['senderName of 201 emoji', { senderName: emoji(201) }, 'senderName'],
  ['empty senderName', { senderName: '' }, 'senderName'],
  ['missing senderName', { senderName: undefined }, 'senderName'],
  ['senderName that is a number', { senderName: 42 }, 'senderName'],
  // host: non-empty, <= 500, with its port
  ['host of 500 characters', { host: hostOf(500) }, undefined],
  ['host of 501 characters', { host: hostOf(501) }, 'host'],
  ['empty host', { host: '' }, 'host'],
  ['missing host', { host: undefined }, 'host'],
  ['host without a port', { host: 'smtp.postmarkapp.com' }, 'host'],
  ['host with an empty port', { host: 'smtp.postmarkapp.com:' }, 'host'],
  ['host with port 0', { host: 'smtp.postmarkapp.com:0' }, 'host'],
  ['host with port 1', { host: 'smtp.postmarkapp.com:1' }, undefined],
  ['host with port 65535', { host: 'smtp.postmarkapp.com:65535' }, undefined],
  ['host with port 65536', { host: 'smtp.postmarkapp.com:65536' }, 'host'],
  ['host with a named port', { host: 'smtp.postmarkapp.com:smtp' }, 'host'],
  ['port without a host', { host: ':587' }, 'host'],
  ['IPv4 host with port', { host: '192.0.2.10:25' }, undefined],
  ['IPv6 host in brackets with port', { host: '[2001:db8::1]:465' }, undefined],
  ['IPv6 host in brackets without port', { host: '[2001:db8::1]' }, 'host'],
  ['IPv6 host without brackets', { host: '2001:db8::1:465' }, 'host'],
  ['host with a space', { host: 'smtp postmarkapp.com:587' }, 'host'],
  ['host with a scheme', { host: 'smtp://smtp.postmarkapp.com:587' }, 'host'],
  ['host with white space around it (trimmed, as ZITADEL)', { host: ' smtp.postmarkapp.com:587\n' }, undefined],
  ['host of only white space', { host: ' \t ' }, 'host'],
  ['host of 500 characters and a space (counted before trimming)', { host: `${hostOf(500)} ` }, 'host'],
  ['host of 500 characters without a port', { host: 'h'.repeat(500) }, 'host'],
  ['host of 501 characters without a port', { host: 'h'.repeat(501) }, 'host'],
  ['host of 1 character', { host: 'h' }, 'host'],
  ['host with text after the port', { host: 'smtp.postmarkapp.com:587abc' }, 'host'],
  ['host with text before the port digits', { host: 'smtp.postmarkapp.com:abc587' }, 'host'],
  ['host with a port of 6 digits', { host: 'smtp.postmarkapp.com:000587' }, 'host'],
  ['host with a port of 5 digits and leading zeros', { host: 'smtp.postmarkapp.com:00587' }, undefined],
  ['host name of one character', { host: 'h:25' }, undefined],
  ['host name ending in a dot', { host: 'smtp.postmarkapp.com.:587' }, undefined],
  ['host name starting with a hyphen', { host: '-smtp.postmarkapp.com:587' }, 'host'],
  ['host name ending with a hyphen', { host: 'smtp-:587' }, 'host'],
  ['host name with an empty label', { host: 'smtp..postmarkapp.com:587' }, 'host'],
  ['host name with an underscore', { host: 'smtp_relay.example.com:587' }, undefined],
  ['IPv6 host with an opening bracket only', { host: '[::1' }, 'host'],
  ['IPv6 host with an opening bracket only and a port', { host: '[::1:25' }, 'host'],
  ['IPv6 host in brackets followed by no colon', { host: '[::1]25' }, 'host'],
  ['IPv6 host in brackets with an empty port', { host: '[::1]:' }, 'host'],
  ['IPv6 host in brackets with port 65536', { host: '[::1]:65536' }, 'host'],
  ['host name in brackets', { host: '[smtp.example.com]:25' }, 'host'],
  ['IPv6 host in brackets with one colon', { host: '[1:2]:25' }, 'host'],
  ['empty brackets', { host: '[]:25' }, 'host'],
  ['IPv6 host in brackets starting with a non-hex character', { host: '[g::1]:25' }, 'host'],
  ['IPv6 host in brackets ending with a non-hex character', { host: '[::1g]:25' }, 'host'],
  ['IPv6 host in brackets with an empty zone', { host: '[fe80::1%]:25' }, 'host'],
  ['IPv6 host in brackets with a zone containing a space', { host: '[fe80::1%eth 0]:25' }, 'host'],
  ['IPv6 host with text before the brackets', { host: 'x[::1]:25' }, 'host'],
  ['IPv6 host of colons only', { host: '[:::::]:25' }, 'host'],
  ['IPv6 host with two "::"', { host: '[2001::db8::1]:25' }, 'host'],
  ['IPv6 host with nine groups', { host: '[1:2:3:4:5:6:7:8:9]:25' }, 'host'],
  ['IPv6 host with a five-digit group', { host: '[2001:db8::12345]:25' }, 'host'],
  ['IPv6 host with a zone id (refused on purpose)', { host: '[fe80::1%eth0]:25' }, 'host'],
  ['IPv6 loopback host', { host: '[::1]:25' }, undefined],
  ['IPv6 host ending in IPv4', { host: '[::ffff:192.0.2.1]:25' }, undefined],
  ['IPv6 host with eight groups', { host: '[2001:db8:0:0:0:0:0:1]:587' }, undefined],
  // replyToAddress: <= 200 (before trimming), may be empty or blank; no e-mail syntax, as ZITADEL
  ['empty replyToAddress', { replyToAddress: '' }, undefined],
  ['missing replyToAddress', { replyToAddress: undefined }, undefined],
  ['replyToAddress of 200 characters', { replyToAddress: email(200) }, undefined],
  ['replyToAddress of 201 characters', { replyToAddress: email(201) }, 'replyToAddress'],
  ['replyToAddress of a local relay (no dot in the domain)', { replyToAddress: 'support@localhost' }, undefined],
  ['replyToAddress that is no e-mail address', { replyToAddress: 'reply to me' }, undefined],
  ['replyToAddress of only white space', { replyToAddress: '  ' }, undefined],
  ['replyToAddress of 200 characters that is no e-mail address', { replyToAddress: 'r'.repeat(200) }, undefined],
  ['replyToAddress of 201 characters that is no e-mail address', { replyToAddress: 'r'.repeat(201) }, 'replyToAddress'],
  ['replyToAddress with a lone surrogate', { replyToAddress: 'a\uD800@c.io' }, 'replyToAddress'],
  // description: <= 200
  ['empty description', { description: '' }, undefined],
  ['description of 200 characters', { description: 'd'.repeat(200) }, undefined],
  ['description of 201 characters', { description: 'd'.repeat(201) }, 'description'],
  ['description of 200 emoji', { description: emoji(200) }, undefined],
  ['description of 201 emoji', { description: emoji(201) }, 'description'],
  // tls: a boolean, default false
  ['tls missing', { tls: undefined }, undefined],
  ['tls as a string', { tls: 'true' }, 'tls'],
  // user and password: our own caps (the document sets none)
  // (literal numbers: the table checks SMTP_LIMITS, so it must not be computed from it)
  ['user of 200 characters', { user: 'u'.repeat(200) }, undefined],
  ['user of 201 characters', { user: 'u'.repeat(201) }, 'user'],
  ['user of 200 emoji', { user: emoji(200) }, undefined],
  ['password of 1024 characters', { password: 'p'.repeat(1024) }, undefined],
  ['password of 1025 characters', { password: 'p'.repeat(1025) }, 'password'],
  ['no user and no password', { user: undefined, password: undefined }, undefined],
  // every string: well-formed Unicode (a lone surrogate would be stored as U+FFFD)
  ['password with a lone high surrogate', { password: 'pass\uD800word' }, 'password'],
  ['password with a lone low surrogate', { password: '\uDC00' }, 'password'],
  ['senderName with a lone surrogate', { senderName: 'ZITADEL \uD83D' }, 'senderName'],
  ['user with a lone surrogate', { user: '\uDFFFuser' }, 'user'],
  ['description with a lone surrogate', { description: 'x\uD800' }, 'description'],
  ['password with a paired surrogate (an emoji)', { password: 'p😀' }, undefined],
  // every string: no NUL (no SMTP field carries it, PostgreSQL's text cannot hold it)
  ['senderName with a NUL', { senderName: 'ZITA\u0000DEL' }, 'senderName'],
  ['description with a NUL', { description: '\u0000' }, 'description'],
  ['user with a NUL', { user: 'user\u0000' }, 'user'],
  ['password with a NUL (AUTH PLAIN separates with it)', { password: 'pass\u0000word' }, 'password'],
  ['description with other control characters', { description: 'tab\tand\u0001' }, undefined],
];

