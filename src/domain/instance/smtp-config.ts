import { z } from 'zod';
import { Errors, type FieldViolation } from '../errors.js';

/**
 * The Add SMTP Configuration request, validated exactly as the API document says.
 *
 * Lengths count Unicode code points (as protoc-gen-validate's `max_len` does), not UTF-16 units,
 * so `"😀".repeat(200)` is a valid sender name although its `.length` is 400.
 *
 * The document sets no limit on `user` and `password`; we cap them so that nothing is unbounded
 * (see {@link SMTP_LIMITS}). `senderAddress` must be an e-mail address and `replyToAddress` empty or
 * one: stricter than ZITADEL, which accepts any non-empty sender string.
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

const boundedText = (field: keyof typeof SMTP_LIMITS) => {
  const { min, max } = SMTP_LIMITS[field];
  return z
    .string()
    .superRefine((value, ctx) => {
      const len = codePointLength(value);
      if (len < min) ctx.addIssue('must not be empty');
      else if (len > max) ctx.addIssue(`must be at most ${max} characters (got ${len})`);
    })
    // For the generated JSON Schema / OpenAPI document (lengths there are in code points too).
    .meta({ ...(min > 0 ? { minLength: min } : {}), maxLength: max });
};

// Deliberately plain: local@domain with a dot-separated domain, no spaces or control characters.
const EMAIL = /^[^\s@<>()[\]\\,;:"\u0000-\u001f\u007f]+@[^\s@<>()[\]\\,;:"\u0000-\u001f\u007f]+\.[^\s@<>()[\]\\,;:"\u0000-\u001f\u007f.]+$/u;
const isEmail = (s: string): boolean => EMAIL.test(s) && !s.includes('..');

const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;
export const isHostName = (s: string): boolean => HOSTNAME.test(s);
const IPV6_CHARS = /^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?$/;

/**
 * Splits `host:port` the way Go's net.SplitHostPort does for our purposes, and checks both halves.
 * Returns a reason when it is not a host with a port, or undefined when it is.
 */
export const hostPortProblem = (value: string): string | undefined => {
  let hostPart: string;
  let portPart: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close === -1) return 'has an opening "[" without a closing "]"';
    hostPart = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (!rest.startsWith(':')) return 'must include the port (host:port, IPv6 as [address]:port)';
    portPart = rest.slice(1);
    if (!IPV6_CHARS.test(hostPart) || hostPart.split(':').length < 3) return 'has an invalid IPv6 address in brackets';
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) return 'must include the port (host:port)';
    hostPart = value.slice(0, colon);
    portPart = value.slice(colon + 1);
    if (hostPart.includes(':')) return 'IPv6 addresses must be in brackets ([address]:port)';
    if (hostPart.length === 0) return 'must name a host before the port';
    if (!HOSTNAME.test(hostPart)) return 'has an invalid host name';
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
    senderAddress: boundedText('senderAddress').refine(isEmail, 'must be an e-mail address'),
    senderName: boundedText('senderName'),
    tls: z.boolean().default(false),
    host: boundedText('host')
      .superRefine((s, ctx) => {
        const problem = hostPortProblem(s);
        if (problem) ctx.addIssue(problem);
      })
      .meta({ description: 'host:port of the SMTP server. Make sure to include the port.', example: 'smtp.postmarkapp.com:587' }),
    user: boundedText('user').default(''),
    password: boundedText('password').default(''),
    replyToAddress: boundedText('replyToAddress')
      .refine((s) => s === '' || isEmail(s), 'must be empty or an e-mail address')
      .default(''),
    description: boundedText('description').default(''),
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
