/**
 * `@iam/smtp-config/fastify`: the SMTP routes as a Fastify 5 plugin (peer dependency `fastify`), the
 * API's error body and the OpenAPI document; `buildHttpServer` is the hardened stand-alone server
 * `npm start` runs, built on the same plugin.
 */
export * from './http/smtp-config-plugin.js';
export * from './http/error-body.js';
export * from './http/openapi.js';
export * from './http/server.js';
