import type { PgMigration } from '../migrate.js';

/**
 * The read model's changes applied inside the database, one after another, for the inline
 * projection (see `append_batch` in 0005): an append whose transaction finds the read model at the
 * log's head applies its own events' changes there, so the read model never lags its own writes.
 *
 * `p_changes` is a JSON array of the projection's `ReadModelChange`s (bigints as strings). Each kind
 * means exactly what PostgresProjectionStore's set-based writer makes of it (the contract suite runs
 * both on the same events and compares the rows): an instance upsert keeps the domains it has; a
 * domain of an unknown instance changes nothing; a patch of an absent configuration changes nothing.
 */
export const pgApplyChanges: PgMigration = {
  version: 2,
  name: 'apply-changes',
  sql: `
    CREATE FUNCTION \${schema}.apply_read_model_changes(p_changes json) RETURNS void
    LANGUAGE plpgsql SET search_path = \${schema} AS $fn$
    DECLARE
      c jsonb;
      p jsonb;
    BEGIN
      -- jsonb: each change is parsed once, and its fields are then looked up, not parsed again.
      FOR c IN SELECT x.ch FROM jsonb_array_elements(p_changes::jsonb) WITH ORDINALITY AS x(ch, k) ORDER BY x.k LOOP
        CASE c->>'kind'
        WHEN 'upsertInstance' THEN
          p := c->'instance';
          INSERT INTO instances (id, name, sequence, creation_date)
          VALUES (p->>'id', p->>'name', (p->>'sequence')::bigint, p->>'creationDate')
          ON CONFLICT (id) DO UPDATE SET name = excluded.name, sequence = excluded.sequence, creation_date = excluded.creation_date;
        WHEN 'addInstanceDomain' THEN
          UPDATE instances
             SET domains = CASE WHEN domains ? (c->>'domain') THEN domains ELSE domains || jsonb_build_array(c->>'domain') END,
                 sequence = (c->>'sequence')::bigint
           WHERE id = c->>'instanceId';
          IF FOUND THEN
            INSERT INTO instance_domains (domain, instance_id) VALUES (c->>'domain', c->>'instanceId')
            ON CONFLICT (domain) DO UPDATE SET instance_id = excluded.instance_id;
          END IF;
        WHEN 'upsertSmtpConfig' THEN
          p := c->'config';
          INSERT INTO smtp_configs (instance_id, id, sender_address, sender_name, tls, host, "user", reply_to_address, description,
                                    has_password, sequence, creation_date, change_date, resource_owner)
          VALUES (p->>'instanceId', p->>'id', p->>'senderAddress', p->>'senderName', (p->>'tls')::boolean, p->>'host', p->>'user',
                  p->>'replyToAddress', p->>'description', (p->>'hasPassword')::boolean, (p->>'sequence')::bigint, p->>'creationDate',
                  p->>'changeDate', p->>'resourceOwner')
          ON CONFLICT (instance_id, id) DO UPDATE SET sender_address = excluded.sender_address, sender_name = excluded.sender_name,
            tls = excluded.tls, host = excluded.host, "user" = excluded."user", reply_to_address = excluded.reply_to_address,
            description = excluded.description, has_password = excluded.has_password, sequence = excluded.sequence,
            creation_date = excluded.creation_date, change_date = excluded.change_date, resource_owner = excluded.resource_owner;
        WHEN 'patchSmtpConfig' THEN
          p := c->'changes';
          UPDATE smtp_configs SET
            sender_address = coalesce(p->>'senderAddress', sender_address),
            sender_name = coalesce(p->>'senderName', sender_name),
            tls = coalesce((p->>'tls')::boolean, tls),
            host = coalesce(p->>'host', host),
            "user" = coalesce(p->>'user', "user"),
            reply_to_address = coalesce(p->>'replyToAddress', reply_to_address),
            description = coalesce(p->>'description', description),
            has_password = coalesce((p->>'hasPassword')::boolean, has_password),
            sequence = (c->>'sequence')::bigint,
            change_date = c->>'changeDate'
          WHERE instance_id = c->>'instanceId' AND id = c->>'id';
        WHEN 'removeSmtpConfig' THEN
          DELETE FROM smtp_configs WHERE instance_id = c->>'instanceId' AND id = c->>'id';
        ELSE
          RAISE EXCEPTION 'apply_read_model_changes: unknown change kind %', c->>'kind';
        END CASE;
      END LOOP;
    END
    $fn$;
  `,
};
