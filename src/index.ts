/** The public API for an embedding IAM backend. The given/when/then kit is at `@iam/smtp-config/testing`. */
export * from './domain/index.js';
export * from './application/index.js';
export * from './infrastructure/index.js';
