/**
 * `@iam/smtp-config/adapters`: the adapters that need nothing but Node's built-ins: the in-memory
 * event store and read model, the AES-256-GCM encryptor and its key ring, the system clock and
 * Sonyflake ids. Enough to wire the use cases by hand without a container.
 */
export * from './in-memory/in-memory-event-store.js';
export * from './in-memory/in-memory-projection-store.js';
export * from './crypto/aes-gcm-encryptor.js';
export * from './system/system-clock.js';
export * from './system/sonyflake-id-generator.js';
