/** `@iam/smtp-config/jwt`: bearer-JWT verification with jose, one implementation of the Fastify plugin's `authenticate`. */
export * from './http/jwt-authenticator.js';
