export * from './errors.js';
export * from './decider.js';
export * from './instance/encrypted-secret.js';
export * from './instance/events.js';
export * from './instance/commands.js';
export * from './instance/smtp-config.js';
export * from './instance/instance.js';
export * from './instance/domain-claim.js';
