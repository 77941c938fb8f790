-- workflow_tasks as a job queue. Claims, heartbeats, releases and the reaper run as the service
-- role (the explicit cross-tenant path); a run and its fenced finish run as the app role inside
-- the task's tenant. The fence compares the lease token and the clock: `clock_timestamp()`, not
-- `now()`, because `now()` is the start of a transaction that may have run a long processor.

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
RETURNING t.id, t.tenant_id, t.lease_token, t.attempts, t.max_attempts, t.processor,
          t.queued_at, t.claimed_at, t.priority, t.created_at;

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
-- The task, if this lease still holds it.
SELECT * FROM workflow_tasks WHERE id = %(id)s AND lease_token = %(token)s;

-- name: finish_success
UPDATE workflow_tasks
SET status = 'completed', execution_status = 'success', executed_at = clock_timestamp(),
    completed_at = clock_timestamp(), execution_result = %(result)s, last_error = NULL,
    lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND lease_expires_at > clock_timestamp()
RETURNING id;

-- name: finish_retry
UPDATE workflow_tasks
SET execution_status = 'queued', execution_result = %(result)s, last_error = %(error)s,
    run_after = clock_timestamp() + make_interval(secs => %(delay_seconds)s),
    lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND lease_expires_at > clock_timestamp()
RETURNING id;

-- name: finish_failed
UPDATE workflow_tasks
SET execution_status = 'failed', execution_result = %(result)s, last_error = %(error)s,
    executed_at = clock_timestamp(),
    lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND lease_expires_at > clock_timestamp()
RETURNING id;
