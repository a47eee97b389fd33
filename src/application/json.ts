/**
 * bigint in views, strings on the wire. Read-model views (`SmtpConfigView`, `InstanceView`) keep
 * `sequence` as a bigint, exact beyond 2^53; API responses (`AddSmtpConfigResponse`, the HTTP
 * bodies) carry it as a decimal string, as ZITADEL's API does. `JSON.stringify` throws on a bigint,
 * so turn a view into JSON with one of these.
 */

/** A JSON.stringify replacer that writes every bigint as a decimal string. */
export const bigintToString = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);

/** A view (or any value) with its bigints as decimal strings, safe for `JSON.stringify` and a Fastify reply. */
export type JsonView<T> = T extends bigint
  ? string
  : T extends readonly (infer U)[]
    ? JsonView<U>[]
    : T extends object
      ? { -readonly [K in keyof T]: JsonView<T[K]> }
      : T;

/** Copies a view with every bigint turned into its decimal string. */
export const toJsonView = <T>(value: T): JsonView<T> => {
  if (typeof value === 'bigint') return value.toString() as JsonView<T>;
  if (Array.isArray(value)) return value.map((v: unknown) => toJsonView(v)) as JsonView<T>;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonView(v)])) as JsonView<T>;
  }
  return value as JsonView<T>;
};
