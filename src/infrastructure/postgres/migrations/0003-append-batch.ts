import type { PgMigration } from '../migrate.js';

/**
 * A whole group-commit batch in one statement, so one round trip and one transaction (autocommit):
 * each request goes through `append_to_stream` (which takes the append lock and judges it on its
 * own), then one notification announces the last new position. `p_hold_ms` keeps the transaction
 * open before it commits: a test hook that makes commits arrive late, as a slow disk would.
 */
export const pgAppendBatch: PgMigration = {
  version: 2,
  name: 'append-batch',
  sql: `
    CREATE FUNCTION \${schema}.append_batch(p_requests json, p_hold_ms integer DEFAULT 0)
    RETURNS TABLE (r_index bigint, r_status text, r_next_revision bigint, r_last_position bigint)
    LANGUAGE plpgsql SET search_path = \${schema} AS $fn$
    DECLARE
      v_request record;
      v_result record;
      v_last bigint;
    BEGIN
      FOR v_request IN SELECT x.req, x.k FROM json_array_elements(p_requests) WITH ORDINALITY AS x(req, k) ORDER BY x.k LOOP
        SELECT a.status, a.next_revision, a.last_position INTO v_result
          FROM append_to_stream(v_request.req->>'stream', v_request.req->>'expected', v_request.req->'events') AS a;
        IF v_result.status = 'ok' AND json_array_length(v_request.req->'events') > 0 THEN
          v_last := greatest(v_last, v_result.last_position);
        END IF;
        r_index := v_request.k;
        r_status := v_result.status;
        r_next_revision := v_result.next_revision;
        r_last_position := v_result.last_position;
        RETURN NEXT;
      END LOOP;
      IF v_last IS NOT NULL THEN
        PERFORM pg_notify('\${schema}_events', v_last::text);
      END IF;
      IF p_hold_ms > 0 THEN
        PERFORM pg_sleep(p_hold_ms / 1000.0);
      END IF;
    END
    $fn$;
  `,
};
