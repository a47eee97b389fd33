import type { PgMigration } from '../migrate.js';
import { pgApplyChanges } from './0004-apply-changes.js';

/**
 * The read model, beside the events in the same schema (or alone, when the events are in
 * EventStoreDB): a checkpoint row per projection (positions as numeric: EventStoreDB's are unsigned
 * 64-bit), instances with their domains, a domain lookup (a domain names one instance), and SMTP
 * configurations without any password.
 */
export const pgReadModelSchema: PgMigration = {
  version: 1,
  name: 'read-model',
  sql: `
    CREATE TABLE \${schema}.projection_checkpoints (
      projection text PRIMARY KEY,
      commit_position numeric(20) NOT NULL,
      prepare_position numeric(20) NOT NULL
    );
    CREATE TABLE \${schema}.instances (
      id text PRIMARY KEY,
      name text NOT NULL,
      domains jsonb NOT NULL DEFAULT '[]',
      sequence bigint NOT NULL,
      creation_date text NOT NULL
    );
    CREATE TABLE \${schema}.instance_domains (
      domain text PRIMARY KEY,
      instance_id text NOT NULL
    );
    CREATE INDEX instance_domains_by_instance ON \${schema}.instance_domains (instance_id);
    CREATE TABLE \${schema}.smtp_configs (
      instance_id text NOT NULL,
      id text NOT NULL,
      sender_address text NOT NULL,
      sender_name text NOT NULL,
      tls boolean NOT NULL,
      host text NOT NULL,
      "user" text NOT NULL,
      reply_to_address text NOT NULL,
      description text NOT NULL,
      has_password boolean NOT NULL,
      sequence bigint NOT NULL,
      creation_date text NOT NULL,
      change_date text NOT NULL,
      resource_owner text NOT NULL,
      PRIMARY KEY (instance_id, id)
    );
  `,
};

export const pgReadModelMigrations: readonly PgMigration[] = [pgReadModelSchema, pgApplyChanges];
