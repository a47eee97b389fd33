export * from './data-dir-lock.js';
export * from './database.js';
export * from './sqlite-event-store.js';
export * from './sqlite-projection-store.js';
