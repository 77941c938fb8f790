-- workflow_tasks as a job queue. Everything here runs as the service role (the explicit
-- cross-tenant path): claims, heartbeats, releases, the reaper, and the fenced finish. A processor
-- runs between the claim and the finish with no transaction open; what it writes to the tenant's
-- rows it writes in short tenant transactions of its own (renewflow.tasks.ProcessorContext).
-- The fence compares the lease token and the clock: `clock_timestamp()`, not `now()`, because
-- `now()` is the start of the transaction, and the fence is about the moment of the write.

-- name: claim
WITH picked AS (
  SELECT id FROM workflow_tasks
  WHERE auto_execute AND execution_status = 'queued' AND status = 'pending'
    AND run_after <= clock_timestamp()
  ORDER BY priority, created_at
  LIMIT %(limit)s
  FOR UPDATE SKIP LOCKED
)
UPDATE workflow_tasks t
SET execution_status = 'running',
    lease_token = gen_random_uuid(),
    claimed_by = %(worker)s,
    claimed_at = clock_timestamp(),
    lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s),
    attempts = t.attempts + 1
FROM picked
WHERE t.id = picked.id
-- the whole row: the processor's input (the task as claimed), so running needs no second trip
RETURNING t.*;

-- name: heartbeat
-- Extends leases that are still valid; an expired lease is not revived (the reaper may be
-- handing the task to another worker).
UPDATE workflow_tasks t
SET lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s)
FROM unnest(%(ids)s::uuid[], %(tokens)s::uuid[]) AS held(id, token)
WHERE t.id = held.id AND t.lease_token = held.token AND t.lease_expires_at > clock_timestamp()
RETURNING t.id;

-- name: release
-- Unstarted (or interrupted) work goes back to the queue; the attempt does not count.
UPDATE workflow_tasks t
SET execution_status = 'queued', lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL,
    attempts = greatest(t.attempts - 1, 0), run_after = clock_timestamp()
FROM unnest(%(ids)s::uuid[], %(tokens)s::uuid[]) AS held(id, token)
WHERE t.id = held.id AND t.lease_token = held.token AND t.execution_status = 'running'
RETURNING t.id;

-- name: reap
-- Expired leases: queued again, or failed once the attempts are spent (a task that kills its
-- worker every time must not loop forever). SKIP LOCKED: a row being finished right now is
-- locked by its finishing transaction and is not ours to touch.
WITH expired AS (
  SELECT id FROM workflow_tasks
  WHERE execution_status = 'running' AND lease_expires_at < clock_timestamp()
  FOR UPDATE SKIP LOCKED
)
UPDATE workflow_tasks t
SET execution_status = CASE WHEN t.attempts >= t.max_attempts THEN 'failed' ELSE 'queued' END,
    execution_result = CASE WHEN t.attempts >= t.max_attempts
      THEN jsonb_build_object('success', false, 'retryable', false,
             'error', format('the worker''s lease expired on attempt %%s of %%s', t.attempts, t.max_attempts))
      ELSE t.execution_result END,
    last_error = format('lease of %%s expired on attempt %%s', t.claimed_by, t.attempts),
    lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL,
    run_after = clock_timestamp()
FROM expired
WHERE t.id = expired.id
RETURNING t.id;

-- name: depth
SELECT
  count(*) FILTER (WHERE execution_status = 'queued' AND run_after <= now()) AS queued,
  count(*) FILTER (WHERE execution_status = 'queued' AND run_after > now()) AS waiting,
  count(*) FILTER (WHERE execution_status = 'running') AS running
FROM workflow_tasks
WHERE auto_execute AND status = 'pending' AND execution_status IN ('queued', 'running');

-- name: load_leased
-- The tasks among (ids, tokens) whose lease still holds, and how many seconds it has left.
SELECT t.*, extract(epoch FROM t.lease_expires_at - clock_timestamp())::float8 AS lease_left
FROM workflow_tasks t
JOIN unnest(%(ids)s::uuid[], %(tokens)s::uuid[]) AS held(id, token)
  ON t.id = held.id AND t.lease_token = held.token
WHERE t.lease_expires_at > clock_timestamp();

-- name: finish
-- The results of a batch in one statement, fenced per row: a row whose lease is gone (expired,
-- reaped, taken over) is left alone and missing from RETURNING; the others are written.
-- `execution_status` per row says which result it is: 'success' completes the task, 'queued' is
-- a retry after `delay` seconds, 'failed' fails it for good.
UPDATE workflow_tasks t
SET execution_status = f.execution_status,
    status = CASE WHEN f.execution_status = 'success' THEN 'completed' ELSE t.status END,
    completed_at = CASE WHEN f.execution_status = 'success' THEN clock_timestamp()
                        ELSE t.completed_at END,
    executed_at = CASE WHEN f.execution_status = 'queued' THEN t.executed_at
                       ELSE clock_timestamp() END,
    run_after = CASE WHEN f.execution_status = 'queued'
                     THEN clock_timestamp() + make_interval(secs => f.delay)
                     ELSE t.run_after END,
    execution_result = f.result,
    last_error = f.error,
    lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
FROM unnest(%(ids)s::uuid[], %(tokens)s::uuid[], %(statuses)s::text[], %(results)s::jsonb[],
            %(errors)s::text[], %(delays)s::float8[])
     AS f(id, token, execution_status, result, error, delay)
WHERE t.id = f.id AND t.lease_token = f.token AND t.lease_expires_at > clock_timestamp()
RETURNING t.id;

-- name: defer
-- The task may not run yet (the tenant's LLM budget is spent): queued again until `run_after`,
-- the attempt not counted.
UPDATE workflow_tasks t
SET execution_status = 'queued', lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL,
    attempts = greatest(t.attempts - 1, 0), run_after = %(run_after)s
WHERE t.id = %(id)s AND t.lease_token = %(token)s AND t.execution_status = 'running'
RETURNING t.id;
