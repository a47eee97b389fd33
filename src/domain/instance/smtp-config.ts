import { z } from 'zod';
import { Errors, type FieldViolation } from '../errors.js';

/**
 * The Add SMTP Configuration request, validated exactly as the API document says.
 *
 * Lengths count Unicode code points (as protoc-gen-validate's `max_len` does), not UTF-16 units,
 * so `"😀".repeat(200)` is a valid sender name although its `.length` is 400.
 *
 * The document sets no limit on `user` and `password`; we cap them so that nothing is unbounded
 * (see {@link SMTP_LIMITS}). The addresses are checked as ZITADEL checks them, which is no e-mail
 * syntax at all (see {@link addressField}): `noreply@localhost` for a local relay is fine.
 */
export const SMTP_LIMITS = {
  senderAddress: { min: 1, max: 200 },
  senderName: { min: 1, max: 200 },
  host: { min: 1, max: 500 },
  replyToAddress: { min: 0, max: 200 },
  description: { min: 0, max: 200 },
  /** Our own cap; the API document sets none. */
  user: { min: 0, max: 200 },
  /** Our own cap; the API document sets none. */
  password: { min: 0, max: 1024 },
} as const;

export const codePointLength = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/** A lone UTF-16 surrogate (with the u flag, a paired one is one code point and does not match). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
/** Whether a string is well-formed Unicode, as String.prototype.isWellFormed (ES2024) says. */
export const isWellFormedUnicode = (s: string): boolean => !LONE_SURROGATE.test(s);

const boundedText = (field: keyof typeof SMTP_LIMITS) => {
  const { min, max } = SMTP_LIMITS[field];
  return z
    .string()
    .superRefine((value, ctx) => {
      // Stored as UTF-8, a lone surrogate would come back as U+FFFD: refuse it instead.
      if (!isWellFormedUnicode(value)) {
        ctx.addIssue({ code: 'custom', message: 'must be well-formed Unicode (it has a lone UTF-16 surrogate)', abort: true });
        return;
      }
      // No SMTP field can carry it (AUTH PLAIN even uses it as its separator), and PostgreSQL's
      // text cannot hold it: refuse it here rather than fail in a store.
      if (value.includes('\u0000')) {
        ctx.addIssue({ code: 'custom', message: 'must not contain the NUL character (U+0000)', abort: true });
        return;
      }
      const len = codePointLength(value);
      if (len < min) ctx.addIssue('must not be empty');
      else if (len > max) ctx.addIssue(`must be at most ${max} characters (got ${len})`);
    })
    // For the generated JSON Schema / OpenAPI document (lengths there are in code points too).
    .meta({ ...(min > 0 ? { minLength: min } : {}), maxLength: max });
};

/**
 * White space as Go's strings.TrimSpace (unicode.IsSpace) sees it, which is what ZITADEL trims the
 * addresses with. Not String.prototype.trim: that one also trims U+FEFF and keeps U+0085.
 */
const GO_TRIM = /^[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+|[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$/gu;
export const trimSpaceAsGo = (s: string): string => s.replace(GO_TRIM, '');

/**
 * An address field as ZITADEL's Admin API reads it. Its proto only bounds the length
 * (`senderAddress` 1–200, `replyToAddress` 0–200, no `email` rule), and its SMTP commands then trim
 * the value and refuse a sender that is only white space; nothing checks e-mail syntax (a bad
 * address fails when a mail is sent). So we do the same, with the length counted before trimming
 * as the proto does, and store the trimmed value. `required` is for the sender and the test mail's
 * receiver, which may not be blank.
 */
const addressField = (field: 'senderAddress' | 'replyToAddress', required: boolean) =>
  boundedText(field)
    .refine((s) => !required || trimSpaceAsGo(s) !== '', 'must not be blank (it is only white space)')
    .overwrite(trimSpaceAsGo);

const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;
export const isHostName = (s: string): boolean => HOSTNAME.test(s);
const IPV4 = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/**
 * An IPv6 address in RFC 4291 text form (`::` at most once, eight groups of up to four hex digits,
 * optionally ending in a dotted IPv4 address), as node:net's isIPv6 reads it. Zone ids (`%eth0`)
 * are refused on purpose: they name a network interface of one machine, which is meaningless in
 * a configuration every replica reads.
 */
export const isIPv6Address = (s: string): boolean => {
  const halves = s.split('::');
  if (halves.length > 2) return false;
  const groupsOf = (part: string): string[] | undefined => (part === '' ? [] : part.split(':'));
  const head = groupsOf(halves[0]!)!;
  const tail = halves.length === 2 ? groupsOf(halves[1]!)! : [];
  const all = [...head, ...tail];
  // A dotted IPv4 address may only end the whole address ("1.2.3.4::" is not one).
  const ipv4At = halves.length === 1 || tail.length > 0 ? all.length - 1 : -1;
  let units = 0;
  for (let i = 0; i < all.length; i++) {
    const group = all[i]!;
    if (HEX_GROUP.test(group)) units += 1;
    else if (i === ipv4At && IPV4.test(group)) units += 2;
    else return false;
  }
  return halves.length === 2 ? units <= 7 : units === 8;
};

/** `smtp://`, `smtps://`, `https://`: a URL scheme in front of what should be host:port. */
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]{0,19}:\/\//;

/**
 * Whether an unbracketed `host` value is an IPv6 address, with or without a `:port` after it (and
 * a zone id): then the hint to use brackets fits; `h:25:26` is just one colon too many.
 */
const looksLikeIPv6 = (value: string): boolean => {
  const address = value.split('%')[0]!;
  return isIPv6Address(address) || isIPv6Address(address.slice(0, address.lastIndexOf(':')));
};

/**
 * Splits `host:port` the way Go's net.SplitHostPort does for our purposes, and checks both halves.
 * Returns a reason when it is not a host with a port, or undefined when it is.
 */
export const hostPortProblem = (value: string): string | undefined => {
  let hostPart: string;
  let portPart: string;
  const scheme = SCHEME.exec(value)?.[0];
  if (scheme !== undefined) return `must be host:port without a scheme (drop "${scheme}")`;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close === -1) return 'has an opening "[" without a closing "]"';
    hostPart = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (!rest.startsWith(':')) return 'must include the port (host:port, IPv6 as [address]:port)';
    portPart = rest.slice(1);
    if (hostPart.includes('%')) return 'has an IPv6 zone id (%…), which is not accepted';
    if (!isIPv6Address(hostPart)) return 'has an invalid IPv6 address in brackets';
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) return 'must include the port (host:port)';
    hostPart = value.slice(0, colon);
    portPart = value.slice(colon + 1);
    if (hostPart.includes(':')) {
      return looksLikeIPv6(value) ? 'IPv6 addresses must be in brackets ([address]:port)' : 'must be host:port with a single ":"';
    }
    if (hostPart.length === 0) return 'must name a host before the port';
    if (/[^\u0000-\u007f]/.test(hostPart)) return 'has a host name that is not ASCII (give an internationalized name in its ASCII form, xn--…)';
    if (!HOSTNAME.test(hostPart)) return 'has an invalid host name';
    // DNS (RFC 1035): labels of at most 63 octets. The whole name's length is the API's (host at
    // most 500 code points), not DNS's 253, so that the seed's limit stays the one that counts.
    if (hostPart.split('.').some((label) => label.length > 63)) return 'has a host name label longer than 63 characters';
  }
  if (!/^[0-9]{1,5}$/.test(portPart)) return 'must end with a numeric port (host:port)';
  const port = Number(portPart);
  if (port < 1 || port > 65535) return `port must be between 1 and 65535 (got ${portPart})`;
  return undefined;
};

export const AddSmtpConfigRequestSchema = z
  .object({
    // A refinement runs only when the field passed its length check (zod skips it after an issue),
    // so an empty or over-long value gets one violation, not two; the validation table pins that.
    senderAddress: addressField('senderAddress', true),
    senderName: boundedText('senderName'),
    tls: z.boolean().default(false),
    // ZITADEL trims the host (strings.TrimSpace) before it splits host and port, so a pasted
    // "smtp.example.com:587 " is fine there and here; the length counts before trimming.
    host: boundedText('host')
      .superRefine((s, ctx) => {
        const problem = hostPortProblem(trimSpaceAsGo(s));
        if (problem) ctx.addIssue(problem);
      })
      .overwrite(trimSpaceAsGo)
      .meta({ description: 'host:port of the SMTP server. Make sure to include the port.', example: 'smtp.postmarkapp.com:587' }),
    user: boundedText('user').default(''),
    password: boundedText('password').default(''),
    replyToAddress: addressField('replyToAddress', false).default(''),
    // ZITADEL's add and change commands trim the description too (strings.TrimSpace), after the
    // proto counted its length.
    description: boundedText('description').overwrite(trimSpaceAsGo).default(''),
  })
  // Unknown fields are ignored, as the API's gateway does.
  .strip();

export type AddSmtpConfigRequest = z.input<typeof AddSmtpConfigRequestSchema>;

declare const validSmtpConfig: unique symbol;
/** A request that went through {@link parseAddSmtpConfigRequest}; only that function makes one. */
export type ValidSmtpConfigRequest = z.output<typeof AddSmtpConfigRequestSchema> & { readonly [validSmtpConfig]: true };

const issueToViolation = (issue: z.core.$ZodIssue): FieldViolation => {
  const field = issue.path.map(String).join('.') || 'body';
  if (issue.code === 'invalid_type') {
    const received = (issue as { input?: unknown }).input;
    return {
      field,
      description: received === undefined ? 'is required' : `must be ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`,
    };
  }
  return { field, description: issue.message };
};

/**
 * Validates a request body. Every violation is reported at once, each with its field name.
 * Throws a DomainError of kind InvalidArgument.
 */
export const parseAddSmtpConfigRequest = (input: unknown): ValidSmtpConfigRequest => {
  const result = AddSmtpConfigRequestSchema.safeParse(input, { reportInput: true });
  if (!result.success) throw Errors.invalidSmtpConfig(result.error.issues.map(issueToViolation));
  return result.data as ValidSmtpConfigRequest;
};

/** Parses a body against one of the SMTP requests' schemas; violations name the request and each field. */
const parseWith = <S extends z.ZodType>(schema: S, request: string, input: unknown): z.output<S> => {
  const result = schema.safeParse(input, { reportInput: true });
  if (!result.success) throw Errors.invalidSmtpConfig(result.error.issues.map(issueToViolation), request);
  return result.data;
};

/**
 * `PUT /admin/v1/smtp/{id}`: the add request's fields and limits. An absent or empty `password`
 * keeps the stored one.
 */
export const UpdateSmtpConfigRequestSchema = AddSmtpConfigRequestSchema;
export const parseUpdateSmtpConfigRequest = (input: unknown): ValidSmtpConfigRequest =>
  parseWith(UpdateSmtpConfigRequestSchema, 'UpdateSMTPConfigRequest', input) as ValidSmtpConfigRequest;

/** `PUT /admin/v1/smtp/{id}/password`: a new, non-empty password. */
export const UpdateSmtpConfigPasswordRequestSchema = z
  .object({ password: boundedText('password').refine((s) => s !== '', 'must not be empty').meta({ minLength: 1, maxLength: SMTP_LIMITS.password.max }) })
  .strip();
export const parseUpdateSmtpConfigPasswordRequest = (input: unknown): { password: string } =>
  parseWith(UpdateSmtpConfigPasswordRequestSchema, 'UpdateSMTPConfigPasswordRequest', input);

// ZITADEL only requires it to be non-empty (1–200); the SMTP server is the judge of the address.
const receiverAddress = addressField('senderAddress', true).meta({ description: 'Where the test mail goes.' });

/**
 * `POST /admin/v1/smtp/_test`: the add request's fields plus where to send the test mail. Nothing is
 * stored. `id`, as in ZITADEL, names a stored configuration whose password the test uses when the
 * request's `password` is empty (a console testing an edited provider does not send it again).
 */
export const TestSmtpConfigRequestSchema = AddSmtpConfigRequestSchema.extend({
  receiverAddress,
  id: z
    .string()
    .max(200, 'must be at most 200 characters')
    .default('')
    .meta({ description: 'A stored configuration whose password the test uses when `password` is empty.', maxLength: 200 }),
}).strip();
export type ValidTestSmtpConfigRequest = ValidSmtpConfigRequest & { readonly receiverAddress: string; readonly id: string };
export const parseTestSmtpConfigRequest = (input: unknown): ValidTestSmtpConfigRequest =>
  parseWith(TestSmtpConfigRequestSchema, 'TestSMTPConfigRequest', input) as ValidTestSmtpConfigRequest;

/** `POST /admin/v1/smtp/{id}/_test`: only the receiver; the stored configuration does the rest. */
export const TestSmtpConfigByIdRequestSchema = z.object({ receiverAddress }).strip();
export const parseTestSmtpConfigByIdRequest = (input: unknown): { receiverAddress: string } =>
  parseWith(TestSmtpConfigByIdRequestSchema, 'TestSMTPConfigByIdRequest', input);
