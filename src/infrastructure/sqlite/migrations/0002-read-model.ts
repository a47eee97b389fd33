import type { Migration } from '../migrate.js';

/**
 * The read model: instances with their domains (a domain names one instance), SMTP configurations
 * without any password, and one checkpoint row per projection, changed in the same transaction as
 * the rows. Positions are kept as text: EventStoreDB's are unsigned 64-bit.
 */
export const readModelSchema: Migration = {
  version: 1,
  name: 'read-model',
  sql: `
    CREATE TABLE projection_checkpoints (
      projection TEXT PRIMARY KEY,
      commit_position TEXT NOT NULL,
      prepare_position TEXT NOT NULL
    ) STRICT;
    CREATE TABLE instances (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      domains TEXT NOT NULL,
      sequence INTEGER NOT NULL,
      creation_date TEXT NOT NULL
    ) STRICT;
    CREATE TABLE instance_domains (
      domain TEXT PRIMARY KEY,
      instance_id TEXT NOT NULL
    ) STRICT;
    CREATE INDEX instance_domains_by_instance ON instance_domains (instance_id);
    CREATE TABLE smtp_configs (
      instance_id TEXT NOT NULL,
      id TEXT NOT NULL,
      sender_address TEXT NOT NULL,
      sender_name TEXT NOT NULL,
      tls INTEGER NOT NULL,
      host TEXT NOT NULL,
      user TEXT NOT NULL,
      reply_to_address TEXT NOT NULL,
      description TEXT NOT NULL,
      has_password INTEGER NOT NULL,
      sequence INTEGER NOT NULL,
      creation_date TEXT NOT NULL,
      change_date TEXT NOT NULL,
      resource_owner TEXT NOT NULL,
      PRIMARY KEY (instance_id, id)
    ) STRICT;
  `,
};

export const readModelMigrations: readonly Migration[] = [readModelSchema];
