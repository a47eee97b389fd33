import type { PgMigration } from '../migrate.js';

/**
 * `append_batch` with an inline projection (what Marten calls an inline projection: the read model
 * is written in the same transaction as the events). With `p_projection` set, each request may carry
 * `changes`, the read-model changes its own events make, decided by the projection's pure handler
 * before the append. They are applied, and the projection's checkpoint moved to the request's last
 * position, only when the checkpoint stands exactly at the log's head before the request's events:
 * then the read model holds everything before them, so applying them is what the projection runner
 * would do next. Otherwise (the read model is catching up, being rebuilt, or a request has no
 * changes) nothing is applied and the runner projects those events as always; a request that cannot
 * go inline also stops the requests after it in the batch from going inline, since the checkpoint
 * then no longer stands at the head.
 *
 * Why this never applies an event twice or out of order: the append lock serialises appends, so the
 * head read under it is the position every earlier append committed up to; the batch locks the
 * checkpoint row and goes inline only if it stands at that head, and the runner's batches lock the
 * same row (`FOR UPDATE`) and skip what is already applied. The checkpoint moves once, at the end,
 * to the last request that went inline. Rows and checkpoint commit with the events, so a crash keeps
 * or loses them together. A checkpoint notification tells waiting replicas at once.
 */
export const pgInlineProjection: PgMigration = {
  version: 3,
  name: 'inline-projection',
  sql: `
    DROP FUNCTION \${schema}.append_batch(json, integer);
    CREATE FUNCTION \${schema}.append_batch(p_requests json, p_hold_ms integer DEFAULT 0, p_projection text DEFAULT NULL)
    RETURNS TABLE (r_index bigint, r_status text, r_next_revision bigint, r_last_position bigint, r_projected boolean)
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
      IF p_projection IS NOT NULL THEN
        -- Taken here once (append_to_stream takes it again: it is reentrant), so that the head read
        -- here is where this batch's appends start, and no other append runs until it commits.
        PERFORM pg_advisory_xact_lock(hashtext('\${schema}.append'));
        SELECT max(e.position) INTO v_head FROM events e;
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
