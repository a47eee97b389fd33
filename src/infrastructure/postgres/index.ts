export * from './errors.js';
export * from './migrate.js';
export * from './postgres-event-store.js';
export * from './postgres-projection-store.js';
export * from './projection-lock.js';
