/** `@iam/smtp-config/inversify`: the composition root as an inversify 8 container module, and its typed tokens. */
export * from './container.js';
