import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import { HttpErrors } from './error-body.js';

type Done = (err: Error | null, body?: unknown) => void;
type StringJsonParser = (request: FastifyRequest, body: string, done: Done) => void;

const bodiless = new WeakSet<FastifyRequest>();
/** The text of each request's JSON body, as decoded, for checks JSON.parse cannot make (a key given twice). */
const jsonTexts = new WeakMap<FastifyRequest, string>();

/** The request's JSON body as the text it was parsed from, when it had one. */
export const jsonTextOf = (request: FastifyRequest): string | undefined => jsonTexts.get(request);

/**
 * A route's onRequest hook for a request that has no body (DELETE): whatever body comes, with any
 * Content-Type or none, empty or not, is read (within the body limit) and dropped, as grpc-gateway
 * never reads the body of a method whose HTTP rule has none. Clients that send
 * `Content-Type: application/json` on every request, with nothing after it, are served.
 */
export const takesNoBody: onRequestHookHandler = (request, _reply, done) => {
  bodiless.add(request);
  done();
};

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The `charset` parameter of a Content-Type, lower-cased and unquoted, or undefined. */
export const charsetOf = (contentType: string | undefined): string | undefined => {
  for (const param of (contentType ?? '').split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    return param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return undefined;
};

/** The compressions of HTTP's content-coding registry (RFC 9110 §8.4.1, with their x- aliases). */
const COMPRESSIONS = new Set(['gzip', 'x-gzip', 'deflate', 'br', 'compress', 'x-compress', 'zstd']);

/**
 * The request's `Content-Encoding`, lower-cased, when it names a compression (`gzip`, `deflate, br`,
 * …); undefined for none, `identity` or a value that names none (a client that sends
 * `Content-Encoding: utf-8` beside a plain body, which ZITADEL's gateway, ignoring the header, reads).
 */
export const contentCodingOf = (contentEncoding: string | string[] | undefined): string | undefined => {
  const coding = (Array.isArray(contentEncoding) ? contentEncoding.join(', ') : (contentEncoding ?? '')).trim().toLowerCase();
  return coding.split(',').some((c) => COMPRESSIONS.has(c.trim())) ? coding : undefined;
};

/**
 * JSON bodies are UTF-8 only (RFC 8259 §8.1), and uncompressed: a Content-Encoding that names a
 * compression (gzip, …) is 415 naming it (RFC 9110 §15.5.16), instead of its bytes being judged
 * "not valid UTF-8"; a charset other than utf-8 is 415; a leading
 * byte-order mark is refused (400), not stripped, as the RFC forbids senders to add one; bytes that
 * are not UTF-8 are refused (400) instead of being read as U+FFFD. Then Fastify's own parser (with
 * its `__proto__` and `constructor` poisoning checks) reads the text.
 */
export const utf8JsonParser =
  (parseJson: StringJsonParser) =>
  (request: FastifyRequest, body: Buffer | string, done: Done): void => {
    if (bodiless.has(request)) return done(null, undefined);
    const coding = contentCodingOf(request.headers['content-encoding']);
    if (coding !== undefined) return done(HttpErrors.unsupportedContentCoding(coding));
    const charset = charsetOf(request.headers['content-type']);
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return done(HttpErrors.unsupportedCharset(charset));
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      return done(HttpErrors.badRequest('HTTP-BODY', 'request body must not start with a byte-order mark'));
    }
    let text: string;
    try {
      text = fatalUtf8.decode(bytes);
    } catch {
      return done(HttpErrors.badRequest('HTTP-BODY', 'request body is not valid UTF-8'));
    }
    jsonTexts.set(request, text);
    parseJson(request, text, done);
  };

/**
 * A body whose Content-Type no parser takes (text/plain, a form, none at all) is refused naming
 * the type and the one that is supported, instead of reaching validation as a string. For a route
 * that takes no body ({@link takesNoBody}) it is dropped.
 */
export const otherMediaTypeParser = (request: FastifyRequest, _body: Buffer | string, done: Done): void => {
  if (bodiless.has(request)) return done(null, undefined);
  done(HttpErrors.unsupportedMediaType(request.headers['content-type']));
};

/**
 * The body parsers of the SMTP routes: UTF-8 JSON ({@link utf8JsonParser}) and, for every other
 * Content-Type, {@link otherMediaTypeParser}. A `__proto__` key (and a `constructor` key holding a
 * `prototype`) is dropped from the parsed body, as protojson drops a field the message does not
 * have: no message has one, and it never reaches an object's prototype.
 */
export const installBodyParsers = (app: FastifyInstance, bodyLimit: number): void => {
  const parseJson = app.getDefaultJsonParser('remove', 'remove');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, utf8JsonParser(parseJson));
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, otherMediaTypeParser);
};
