/**
 * The package's root: the domain and the application layer (use cases, ports, projection), which
 * load zod and Node's built-ins only. Adapters and integrations have entry points of their own, so
 * that a consumer loads only what it uses: `@iam/smtp-config/adapters` (in-memory stores, AES-GCM,
 * clock, ids), `/inversify`, `/fastify`, `/jwt`, `/eventstoredb`, `/sqlite`, `/postgres`; the
 * given/when/then kit is at `@iam/smtp-config/testing`.
 */
export * from './domain/index.js';
export * from './application/index.js';
