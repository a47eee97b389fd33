export * from './event-store.js';
export * from './read-model.js';
export * from './services.js';
export * from './projection-lock.js';
export * from './smtp-mailer.js';
export * from './logger.js';
