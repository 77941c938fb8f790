-- Step runs (migration 0014): claim, call with nothing held, fenced finish.
-- The claim and the finish run as the app role in the run's tenant; the worker's claim, the
-- heartbeat, the release and the reaper run as the service role. The fence compares the lease
-- token and the clock: `clock_timestamp()`, since `now()` is the start of the transaction.

-- name: run_by_idempotency_key
SELECT id, status, request ->> 'fingerprint' AS fingerprint, response, status_code,
       (status = 'queued' OR (status = 'running' AND lease_expires_at > clock_timestamp())) AS live
FROM workflow_step_executions
WHERE tenant_id = current_tenant_id() AND idempotency_key = %(key)s
ORDER BY created_at DESC, id
LIMIT 1;

-- name: settle_and_find_live
-- A run whose lease passed (its process stopped between the claim and the finish) no longer
-- blocks its execution: it ends failed, with its LLM calls kept, and the step can run again.
-- What remains is the execution's live run, if any (the select sees the rows as they were before
-- the update, so the settled ones are left out by id).
WITH settled AS (
  UPDATE workflow_step_executions
  SET status = 'failed', completed_at = clock_timestamp(),
      error_message = format('the run''s lease expired before it finished (%%s stopped?); run the step again',
                             coalesce(claimed_by, 'its process')),
      lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
  WHERE workflow_execution_id = %(execution_id)s AND status = 'running'
    AND lease_expires_at <= clock_timestamp()
  RETURNING id
)
SELECT id, step_id, status, mode, queued_at, started_at
FROM workflow_step_executions
WHERE workflow_execution_id = %(execution_id)s AND status IN ('queued', 'running')
  AND id NOT IN (SELECT id FROM settled);

-- name: lock_tenant_runs
-- Serialises "count the tenant's running calls, then claim" with every other claim of the
-- tenant (synchronous ones here, the workers' in claim_step_runs). Held until commit.
SELECT pg_advisory_xact_lock(step_runs_lock_key(current_tenant_id()));

-- name: insert_run
-- Running under a lease when the tenant has a free slot (and the caller runs it now), otherwise
-- queued for a worker. A new statement after the lock: its snapshot sees every committed claim.
INSERT INTO workflow_step_executions
  (id, tenant_id, workflow_execution_id, step_id, step_index, status, mode, request,
   rendered_prompt, idempotency_key, attempt, queued_at, started_at, lease_token, claimed_by,
   lease_expires_at, run_attempts)
SELECT %(id)s, current_tenant_id(), %(execution_id)s, %(step_id)s::varchar, %(step_index)s,
       CASE WHEN slot.free THEN 'running' ELSE 'queued' END, %(mode)s, %(request)s, %(prompt)s,
       %(idempotency_key)s,
       1 + (SELECT count(*) FROM workflow_step_executions
            WHERE workflow_execution_id = %(execution_id)s AND step_id = %(step_id)s::varchar),
       clock_timestamp(),
       CASE WHEN slot.free THEN clock_timestamp() END,
       CASE WHEN slot.free THEN %(token)s::uuid END,
       CASE WHEN slot.free THEN %(worker)s END,
       CASE WHEN slot.free THEN clock_timestamp() + make_interval(secs => %(lease_seconds)s) END,
       CASE WHEN slot.free THEN 1 ELSE 0 END
FROM (SELECT %(run_now)s AND (
        SELECT count(*) FROM workflow_step_executions
        WHERE tenant_id = current_tenant_id() AND status = 'running'
          AND lease_expires_at > clock_timestamp()) < %(tenant_limit)s AS free) AS slot
-- the execution's lock was taken with an older snapshot: a run claimed meanwhile shows here
WHERE NOT EXISTS (SELECT 1 FROM workflow_step_executions
                  WHERE workflow_execution_id = %(execution_id)s
                    AND status IN ('queued', 'running'))
RETURNING status, attempt;

-- name: insert_finished_step
-- A step finished in the claim's own transaction (no call, or an in-process provider's), in one
-- statement with the move of its execution (`advance`: not for a failed step).
WITH step AS (
  INSERT INTO workflow_step_executions
    (id, tenant_id, workflow_execution_id, step_id, step_index, status, mode, request, outputs,
     artifacts, rendered_prompt, raw_response, error_message, skip_reason, idempotency_key,
     attempt, started_at, completed_at, response, status_code)
  VALUES (%(id)s, current_tenant_id(), %(execution_id)s, %(step_id)s::varchar, %(step_index)s,
          %(status)s::varchar, 'sync', %(request)s, %(outputs)s, %(artifacts)s, %(prompt)s,
          %(raw)s, %(error)s, %(skip_reason)s, %(idempotency_key)s,
          1 + (SELECT count(*) FROM workflow_step_executions
               WHERE workflow_execution_id = %(execution_id)s AND step_id = %(step_id)s::varchar),
          clock_timestamp(), clock_timestamp(), %(response)s, %(status_code)s)
  RETURNING id
)
UPDATE workflow_executions
SET current_step_id = %(next_step)s::varchar,
    status = CASE WHEN %(next_step)s::varchar IS NULL THEN 'completed' ELSE 'active' END,
    completed_at = CASE WHEN %(next_step)s::varchar IS NULL THEN now() END
WHERE id = %(execution_id)s AND %(advance)s AND EXISTS (SELECT 1 FROM step);

-- name: load_leased_run
-- The run, if this lease still holds it.
SELECT id, workflow_execution_id, step_id, step_index, request, attempt, started_at, mode
FROM workflow_step_executions
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running';

-- name: lock_leased_run
-- The finish's fence: the run is still ours and its lease has not passed. The row lock keeps the
-- reaper (SKIP LOCKED) and a heartbeat away while the finish writes.
SELECT id FROM workflow_step_executions
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running'
  AND lease_expires_at > clock_timestamp()
FOR UPDATE;

-- name: finish_run
-- The finished run (its outputs, artifacts, the response its caller gets) and the move of its
-- execution, in one statement; `lock_leased_run` fenced it first, in this transaction.
WITH step AS (
  UPDATE workflow_step_executions
  SET status = %(status)s::varchar, outputs = %(outputs)s, artifacts = %(artifacts)s,
      rendered_prompt = %(prompt)s, raw_response = %(raw)s, error_message = %(error)s,
      response = %(response)s, status_code = %(status_code)s, completed_at = clock_timestamp(),
      lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
  WHERE id = %(id)s AND lease_token = %(token)s
  RETURNING id
)
UPDATE workflow_executions
SET current_step_id = %(next_step)s::varchar,
    status = CASE WHEN %(next_step)s::varchar IS NULL THEN 'completed' ELSE 'active' END,
    completed_at = CASE WHEN %(next_step)s::varchar IS NULL THEN now() END
WHERE id = %(execution_id)s AND %(advance)s AND EXISTS (SELECT 1 FROM step);

-- name: fail_run
-- A claimed run that cannot even start (its workflow or context is broken) ends failed.
UPDATE workflow_step_executions
SET status = 'failed', error_message = %(error)s, response = %(response)s,
    status_code = %(status_code)s, completed_at = clock_timestamp(),
    lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running'
  AND lease_expires_at > clock_timestamp()
RETURNING id;

-- name: requeue_run
-- A rate-limited asynchronous run goes back to the queue until the provider has capacity.
UPDATE workflow_step_executions
SET status = 'queued', queued_at = clock_timestamp(),
    run_after = clock_timestamp() + make_interval(secs => %(delay_seconds)s),
    error_message = %(error)s,
    lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL, started_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running'
RETURNING id;

-- name: get_run
SELECT s.id, s.workflow_execution_id, s.step_id, s.status, s.mode, s.attempt, s.queued_at,
       s.started_at, s.completed_at, s.response, s.status_code, s.error_message, s.skip_reason,
       s.run_after
FROM workflow_step_executions s
WHERE s.id = %(id)s;

-- name: list_runs
SELECT s.id, s.workflow_execution_id, s.step_id, s.status, s.mode, s.attempt, s.queued_at,
       s.started_at, s.completed_at, s.response, s.status_code, s.error_message, s.skip_reason,
       s.run_after, count(*) OVER () AS total_count
FROM workflow_step_executions s
WHERE (%(status)s::text IS NULL OR s.status = %(status)s)
  AND (%(execution_id)s::uuid IS NULL OR s.workflow_execution_id = %(execution_id)s)
ORDER BY s.created_at DESC, s.id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: claim
SELECT id, tenant_id, lease_token, run_attempts, queued_at, started_at, step_id
FROM claim_step_runs(%(worker)s, %(limit)s, %(lease_seconds)s, %(tenant_limit)s);

-- name: heartbeat
UPDATE workflow_step_executions s
SET lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s)
FROM unnest(%(ids)s::uuid[], %(tokens)s::uuid[]) AS held(id, token)
WHERE s.id = held.id AND s.lease_token = held.token AND s.status = 'running'
  AND s.lease_expires_at > clock_timestamp()
RETURNING s.id;

-- name: release
-- Unstarted (or interrupted) asynchronous runs go back to the queue; the attempt does not count.
UPDATE workflow_step_executions s
SET status = 'queued', queued_at = clock_timestamp(), lease_token = NULL, claimed_by = NULL,
    lease_expires_at = NULL, started_at = NULL, run_attempts = greatest(s.run_attempts - 1, 0)
FROM unnest(%(ids)s::uuid[], %(tokens)s::uuid[]) AS held(id, token)
WHERE s.id = held.id AND s.lease_token = held.token AND s.status = 'running'
RETURNING s.id;

-- name: reap
-- Expired leases: an asynchronous run is queued again until its attempts are spent; a
-- synchronous one (its caller is gone with its process) ends failed, so the step can run again.
WITH expired AS (
  SELECT id FROM workflow_step_executions
  WHERE status = 'running' AND lease_expires_at < clock_timestamp()
  FOR UPDATE SKIP LOCKED
)
UPDATE workflow_step_executions s
SET status = CASE WHEN s.mode = 'async' AND s.run_attempts < %(max_attempts)s
                  THEN 'queued' ELSE 'failed' END,
    queued_at = CASE WHEN s.mode = 'async' AND s.run_attempts < %(max_attempts)s
                     THEN clock_timestamp() ELSE s.queued_at END,
    completed_at = CASE WHEN s.mode = 'async' AND s.run_attempts < %(max_attempts)s
                        THEN NULL ELSE clock_timestamp() END,
    error_message = format('the lease of %%s expired on attempt %%s', s.claimed_by, s.run_attempts),
    lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
FROM expired
WHERE s.id = expired.id
RETURNING s.id;

-- name: depth
SELECT
  count(*) FILTER (WHERE status = 'queued' AND (run_after IS NULL OR run_after <= now())) AS queued,
  count(*) FILTER (WHERE status = 'queued' AND run_after > now()) AS waiting,
  count(*) FILTER (WHERE status = 'running') AS running
FROM workflow_step_executions
WHERE status IN ('queued', 'running');
