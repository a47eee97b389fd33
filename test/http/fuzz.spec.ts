// Property: whatever the body and headers of a POST, the server answers without a 500, every
// error in the API document's shape, and nothing is appended unless it answered 200.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKENS, type EventStore } from '../support/everything.js';
import { seedRequest } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/http-server.js';
import { rawRequest } from '../support/raw-http.js';

describe('fuzzing POST /admin/v1/smtp (fast-check, seeded)', () => {
  let server: TestServer;
  let token: string;
  beforeAll(async () => {
    server = await startTestServer();
    token = await server.token({ instanceId: await server.firstInstanceId(), roles: ['IAM_OWNER'] });
  });
  afterAll(() => server.close());

  const stringField = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.constantFrom('', 'a@b.co', 'smtp.example.com:587', '[::1]:25', '[:::::]:25', '\uD800', 'x'.repeat(600)),
  );
  const jsonValue = fc.oneof(stringField, fc.boolean(), fc.integer(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }));
  const fieldNames = fc.constantFrom(...Object.keys(seedRequest), '__proto__', 'constructor', 'extra');
  const body = fc.oneof(
    // the seed with fields replaced, removed or added
    fc.dictionary(fieldNames, fc.option(jsonValue, { nil: undefined }), { maxKeys: 6 }).map((patch) => Buffer.from(JSON.stringify({ ...seedRequest, ...patch }))),
    // arbitrary text and bytes
    fc.string({ maxLength: 200 }).map((s) => Buffer.from(s, 'utf8')),
    fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
    fc.constantFrom('\uFEFF{}', '{"senderAddress":', 'null', '[]', '{"__proto__":{"x":1}}').map((s) => Buffer.from(s, 'utf8')),
  );
  const headerValue = fc.stringMatching(/^[\x21-\x7e]{0,40}$/);
  const headers = fc.record({
    contentType: fc.option(fc.constantFrom('application/json', 'application/json; charset=utf-16', 'application/json; charset=UTF-8', 'text/plain', 'application/json; charset=', 'application/x-www-form-urlencoded'), { nil: undefined }),
    authorization: fc.constantFrom('good', 'lower', 'none', 'garbage'),
    host: fc.constantFrom('localhost', 'localhost.', 'LOCALHOST:1', 'nobody.example.com', '[::1]', '', 'two'),
    contentLength: fc.constantFrom('exact', 'none', 'short', 'abc'),
    extra: fc.array(fc.tuple(fc.stringMatching(/^x-[a-z]{1,10}$/), headerValue), { maxLength: 3 }),
  });

  it('never answers 500, always the seed’s error shape, and appends nothing for a refused request', { timeout: 60_000 }, async () => {
    const events = () => server.app.container.get<EventStore>(TOKENS.EventStore);
    await fc.assert(
      fc.asyncProperty(body, headers, async (bytes, h) => {
        const lines = ['POST /admin/v1/smtp HTTP/1.1'];
        if (h.host === 'two') lines.push('Host: localhost', 'Host: localhost');
        else if (h.host !== '') lines.push(`Host: ${h.host}`);
        if (h.contentType !== undefined) lines.push(`Content-Type: ${h.contentType}`);
        if (h.authorization === 'good') lines.push(`Authorization: Bearer ${token}`);
        if (h.authorization === 'lower') lines.push(`Authorization: bEaReR ${token}`);
        if (h.authorization === 'garbage') lines.push('Authorization: Bearer a.b.c');
        if (h.contentLength === 'exact') lines.push(`Content-Length: ${bytes.length}`);
        if (h.contentLength === 'short') lines.push(`Content-Length: ${Math.max(0, bytes.length - 1)}`);
        if (h.contentLength === 'abc') lines.push('Content-Length: abc');
        for (const [k, v] of h.extra) lines.push(`${k}: ${v}`);
        lines.push('Connection: close');
        const before = await events().headPosition();
        const res = await rawRequest(server.url, Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), bytes]));
        expect(res.status).not.toBe(500);
        expect(res.status).toBeGreaterThan(0);
        if (res.status === 200) return; // one success at most; the rest are 409
        expect(Object.keys(res.json ?? {})).toEqual(['code', 'message', 'details']);
        expect(res.json.details[0]['@type']).toBe('type.googleapis.com/zitadel.v1.ErrorDetail');
        expect(await events().headPosition()).toEqual(before);
      }),
      { seed: 20_260_611, numRuns: 250, endOnFailure: true },
    );
  });
});
