import type { PgMigration } from '../migrate.js';

/**
 * `append_batch` (as in 0005) that also answers where the batch started: `r_head_before`, the log's
 * head read under the append lock before the batch's first event (0 for an empty log). Every
 * position after it up to the batch's last one is then the batch's own, since no other append runs
 * until this one commits. The store uses it to hand its own appended events to a subscription that
 * stands exactly at that head, without reading them back (see LogFollower.offer). The lock and the
 * head are now taken whether or not a projection runs inline.
 */
export const pgAppendHead: PgMigration = {
  version: 4,
  name: 'append-head',
  sql: `
    DROP FUNCTION \${schema}.append_batch(json, integer, text);
    CREATE FUNCTION \${schema}.append_batch(p_requests json, p_hold_ms integer DEFAULT 0, p_projection text DEFAULT NULL)
    RETURNS TABLE (r_index bigint, r_status text, r_next_revision bigint, r_last_position bigint, r_projected boolean, r_head_before bigint)
    LANGUAGE plpgsql SET search_path = \${schema} AS $fn$
    DECLARE
      v_request record;
      v_result record;
      v_last bigint;
      v_head bigint;
      v_checkpoint numeric;
      v_inline boolean := false;
      v_projected bigint;
    BEGIN
      -- Taken here once (append_to_stream takes it again: it is reentrant), so that the head read
      -- here is where this batch's appends start, and no other append runs until it commits.
      PERFORM pg_advisory_xact_lock(hashtext('\${schema}.append'));
      SELECT max(e.position) INTO v_head FROM events e;
      r_head_before := coalesce(v_head, 0);
      IF p_projection IS NOT NULL THEN
        -- The checkpoint row, locked for the batch; if a runner's batch holds it, that runner is
        -- writing and projects these events after its own (no append ever waits for it).
        SELECT c.commit_position INTO v_checkpoint FROM projection_checkpoints c WHERE c.projection = p_projection FOR UPDATE SKIP LOCKED;
        v_inline := FOUND AND v_checkpoint = coalesce(v_head, -1);
      END IF;
      FOR v_request IN SELECT x.req, x.k FROM json_array_elements(p_requests) WITH ORDINALITY AS x(req, k) ORDER BY x.k LOOP
        SELECT a.status, a.next_revision, a.last_position INTO v_result
          FROM append_to_stream(v_request.req->>'stream', v_request.req->>'expected', v_request.req->'events') AS a;
        r_projected := false;
        IF v_result.status = 'ok' AND json_array_length(v_request.req->'events') > 0 THEN
          v_last := greatest(v_last, v_result.last_position);
          -- New events (not the answer to a retried append, whose events are at or below the head).
          IF p_projection IS NOT NULL AND v_result.last_position > coalesce(v_head, 0) THEN
            v_head := v_result.last_position;
            IF v_inline AND json_typeof(v_request.req->'changes') = 'array' THEN
              PERFORM apply_read_model_changes(v_request.req->'changes');
              r_projected := true;
              v_projected := v_result.last_position;
            ELSE
              -- The read model no longer stands at the head: the runner projects the rest.
              v_inline := false;
            END IF;
          END IF;
        END IF;
        r_index := v_request.k;
        r_status := v_result.status;
        r_next_revision := v_result.next_revision;
        r_last_position := v_result.last_position;
        RETURN NEXT;
      END LOOP;
      IF v_projected IS NOT NULL THEN
        UPDATE projection_checkpoints SET commit_position = v_projected, prepare_position = v_projected WHERE projection = p_projection;
        PERFORM pg_notify('\${schema}_checkpoint', v_projected::text || '/' || v_projected::text);
      END IF;
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
