import type { PgMigration } from '../migrate.js';

/**
 * The event log, and the append as one server-side function (one round trip per append).
 *
 * Global order that never skips: `append_to_stream` takes a transaction-level advisory lock before
 * it assigns positions, so appends are serialised and a transaction that took position 41 has
 * committed (and is visible) before any other can take 42. A reader that follows "position > the
 * last one I saw" therefore never passes a position that commits later. (The other proven scheme,
 * delivering only below the oldest running transaction from pg_current_snapshot(), lets writers run
 * in parallel but makes every reader wait for the slowest writer; group commit already batches the
 * appends of one process into one transaction, which keeps the lock's cost low.)
 *
 * `data` and `metadata` are `json`, not `jsonb`: the event is kept as it was written (and `json`
 * takes every string JSON can hold, \u0000 included).
 */
export const pgEventsSchema: PgMigration = {
  version: 1,
  name: 'events',
  sql: `
    CREATE TABLE \${schema}.events (
      position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      stream_id text NOT NULL,
      revision bigint NOT NULL CHECK (revision >= 0),
      event_id text NOT NULL UNIQUE,
      type text NOT NULL,
      data json NOT NULL,
      metadata json NOT NULL,
      UNIQUE (stream_id, revision)
    );

    CREATE FUNCTION \${schema}.append_to_stream(p_stream text, p_expected text, p_events json)
    RETURNS TABLE (status text, next_revision bigint, last_position bigint)
    LANGUAGE plpgsql SET search_path = \${schema} AS $fn$
    DECLARE
      v_n integer := json_array_length(p_events);
      v_existing bigint;
      v_start bigint;
      v_matched integer;
      v_current bigint;
      v_last bigint;
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtext('\${schema}.append'));
      -- The same events with the same ids at the revision the first attempt expected: answer as then.
      IF v_n > 0 THEN
        SELECT e.revision INTO v_existing FROM events e WHERE e.event_id = p_events->0->>'id' AND e.stream_id = p_stream;
        IF FOUND THEN
          v_start := CASE p_expected WHEN 'no_stream' THEN 0 WHEN 'any' THEN v_existing ELSE p_expected::bigint + 1 END;
          IF v_existing = v_start THEN
            SELECT count(*), max(e.position) INTO v_matched, v_last
              FROM json_array_elements(p_events) WITH ORDINALITY AS x(ev, k)
              JOIN events e ON e.stream_id = p_stream AND e.revision = v_start + x.k - 1 AND e.event_id = x.ev->>'id';
            IF v_matched = v_n THEN
              RETURN QUERY SELECT 'ok'::text, v_start + v_n - 1, v_last;
              RETURN;
            END IF;
          END IF;
        END IF;
      END IF;
      SELECT max(e.revision) INTO v_current FROM events e WHERE e.stream_id = p_stream;
      IF NOT (p_expected = 'any'
              OR (p_expected = 'no_stream' AND v_current IS NULL)
              OR (p_expected NOT IN ('any', 'no_stream') AND v_current IS NOT DISTINCT FROM p_expected::bigint)) THEN
        RETURN QUERY SELECT 'conflict'::text, v_current, NULL::bigint;
        RETURN;
      END IF;
      IF v_n = 0 THEN
        RETURN QUERY SELECT 'ok'::text, coalesce(v_current, -1), coalesce((SELECT max(e.position) FROM events e), -1);
        RETURN;
      END IF;
      BEGIN
        WITH inserted AS (
          INSERT INTO events (stream_id, revision, event_id, type, data, metadata)
          SELECT p_stream, coalesce(v_current, -1) + x.k, x.ev->>'id', x.ev->>'type', x.ev->'data', x.ev->'metadata'
          FROM json_array_elements(p_events) WITH ORDINALITY AS x(ev, k)
          ORDER BY x.k
          RETURNING position)
        SELECT max(position) INTO v_last FROM inserted;
      EXCEPTION WHEN unique_violation THEN
        RETURN QUERY SELECT 'duplicate'::text, v_current, NULL::bigint;
        RETURN;
      END;
      RETURN QUERY SELECT 'ok'::text, coalesce(v_current, -1) + v_n, v_last;
    END
    $fn$;
  `,
};
