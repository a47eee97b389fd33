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
      v_fast boolean;
      v_ids text[];
      v_ks bigint[];
      v_oks boolean[];
      v_revisions bigint[];
      v_lasts bigint[];
      v_changes json[];
      v_inline_sets json[] := '{}';
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
      -- The common batch, set-based: every request appends at least one event, to a stream no other
      -- request of the batch names, and no event id of the batch is in the log already or twice in
      -- the batch. Each request is then judged against its stream's revision as the batch found it
      -- (under the lock), all the new events go in with one INSERT in request order, and the inline
      -- changes with one call. Any other batch (a retried append, two commands on one stream) goes
      -- request by request through append_to_stream below, as before; both answer alike.
      SELECT count(*) = count(DISTINCT x.req->>'stream') AND coalesce(bool_and(json_array_length(x.req->'events') > 0), false)
        INTO v_fast FROM json_array_elements(p_requests) AS x(req);
      IF v_fast THEN
        SELECT array_agg(ev->>'id') INTO v_ids FROM json_array_elements(p_requests) AS x(req), json_array_elements(x.req->'events') AS ev;
        v_fast := cardinality(v_ids) = (SELECT count(DISTINCT i) FROM unnest(v_ids) AS i)
                  AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = ANY(v_ids));
      END IF;
      IF v_fast THEN
        WITH req AS (
               SELECT x.k, x.req->>'stream' AS stream, x.req->>'expected' AS expected, x.req->'events' AS events, x.req->'changes' AS changes
               FROM json_array_elements(p_requests) WITH ORDINALITY AS x(req, k)),
             judged AS (
               SELECT r.k, r.stream, r.events, r.changes, c.current,
                      (r.expected = 'any' OR (r.expected = 'no_stream' AND c.current IS NULL)
                       OR (r.expected NOT IN ('any', 'no_stream') AND c.current IS NOT DISTINCT FROM r.expected::bigint)) AS ok
               FROM req r CROSS JOIN LATERAL (SELECT max(e.revision) AS current FROM events e WHERE e.stream_id = r.stream) AS c),
             inserted AS (
               INSERT INTO events (stream_id, revision, event_id, type, data, metadata)
               SELECT j.stream, coalesce(j.current, -1) + e.n, e.ev->>'id', e.ev->>'type', e.ev->'data', e.ev->'metadata'
               FROM judged j CROSS JOIN LATERAL json_array_elements(j.events) WITH ORDINALITY AS e(ev, n)
               WHERE j.ok
               ORDER BY j.k, e.n
               RETURNING position, stream_id)
        SELECT array_agg(j.k ORDER BY j.k), array_agg(j.ok ORDER BY j.k),
               array_agg(CASE WHEN j.ok THEN coalesce(j.current, -1) + json_array_length(j.events) ELSE j.current END ORDER BY j.k),
               array_agg(l.last ORDER BY j.k), array_agg(j.changes ORDER BY j.k)
          INTO v_ks, v_oks, v_revisions, v_lasts, v_changes
          FROM judged j LEFT JOIN (SELECT i.stream_id, max(i.position) AS last FROM inserted i GROUP BY i.stream_id) AS l ON l.stream_id = j.stream;
        FOR i IN 1 .. cardinality(v_ks) LOOP
          r_index := v_ks[i];
          r_projected := false;
          r_next_revision := v_revisions[i];
          IF v_oks[i] THEN
            r_status := 'ok';
            r_last_position := v_lasts[i];
            v_last := greatest(v_last, v_lasts[i]);
            IF p_projection IS NOT NULL THEN
              IF v_inline AND json_typeof(v_changes[i]) = 'array' THEN
                v_inline_sets := v_inline_sets || v_changes[i];
                r_projected := true;
                v_projected := v_lasts[i];
              ELSE
                v_inline := false;
              END IF;
            END IF;
          ELSE
            r_status := 'conflict';
            r_last_position := NULL;
          END IF;
          RETURN NEXT;
        END LOOP;
        IF cardinality(v_inline_sets) > 0 THEN
          PERFORM apply_read_model_changes((
            SELECT coalesce(json_agg(c.ch ORDER BY s.i, c.n), '[]')
            FROM unnest(v_inline_sets) WITH ORDINALITY AS s(changes, i), json_array_elements(s.changes) WITH ORDINALITY AS c(ch, n)));
        END IF;
      ELSE
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
      END IF;
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
