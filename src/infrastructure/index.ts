export * from './container.js';
export * from './crypto/aes-gcm-encryptor.js';
export * from './in-memory/in-memory-event-store.js';
export * from './in-memory/in-memory-projection-store.js';
export * from './system/system-clock.js';
export * from './system/sonyflake-id-generator.js';
export * from './file/file-event-store.js';
