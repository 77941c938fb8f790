-- Step runs: claim, call, fenced finish. A step execution row is written when the step is claimed
-- (running, under a lease) or queued for a worker (an asynchronous run), and finished later by a
-- second short transaction fenced by the lease token. No transaction is held across the LLM call.
-- The row is also the run resource an asynchronous caller polls, and what the worker claims: the
-- domain row is the queue, with no second table to keep in step with it.

ALTER TABLE workflow_step_executions
  DROP CONSTRAINT workflow_step_executions_status_check,
  ADD CONSTRAINT workflow_step_executions_status_check
    CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed', 'skipped')),
  ADD COLUMN mode varchar(10) NOT NULL DEFAULT 'sync' CHECK (mode IN ('sync', 'async')),
  -- what the caller asked: context data, given outputs, the actor, the request's fingerprint
  ADD COLUMN request jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(request) = 'object'),
  -- the spec's response body and its HTTP status, once finished (replayed for an Idempotency-Key)
  ADD COLUMN response jsonb,
  ADD COLUMN status_code integer CHECK (status_code BETWEEN 100 AND 599),
  ADD COLUMN queued_at timestamptz,
  ADD COLUMN run_after timestamptz,
  ADD COLUMN lease_token uuid,
  ADD COLUMN claimed_by varchar(255),
  ADD COLUMN lease_expires_at timestamptz,
  ADD COLUMN run_attempts integer NOT NULL DEFAULT 0 CHECK (run_attempts >= 0),
  ADD CONSTRAINT step_live_rows_have_a_lease
    CHECK (status <> 'running' OR (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL));

-- One live run per execution: a second request for a running step is a conflict, never a second
-- LLM call. A row whose lease expired still counts until it is settled (by the next claim of
-- that execution, under the execution's lock, or by the reaper).
CREATE UNIQUE INDEX workflow_step_executions_one_live
  ON workflow_step_executions (tenant_id, workflow_execution_id)
  WHERE status IN ('queued', 'running');
-- The worker's claim (oldest queued first) and the reaper (running rows by lease expiry).
CREATE INDEX workflow_step_executions_queue
  ON workflow_step_executions (queued_at) WHERE status = 'queued';
CREATE INDEX workflow_step_executions_leases
  ON workflow_step_executions (lease_expires_at) WHERE status = 'running';
-- In-flight runs per tenant: the concurrency limit counts them.
CREATE INDEX workflow_step_executions_running_by_tenant
  ON workflow_step_executions (tenant_id) WHERE status = 'running';
-- A retried request finds the run of its Idempotency-Key.
CREATE INDEX workflow_step_executions_idempotency
  ON workflow_step_executions (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- A step finished inside its claim's transaction is written last, in one statement with the
-- response its caller gets (which lists the tasks the step created): the tasks' link to it is
-- checked at commit, as the LLM calls' already is (0012).
ALTER TABLE workflow_tasks
  ALTER CONSTRAINT workflow_tasks_tenant_id_step_execution_id_fkey DEFERRABLE INITIALLY DEFERRED;

-- Wakes listening workers when a step run is queued (the same channel as the task queue).
CREATE TRIGGER workflow_step_executions_notify_queued
  AFTER INSERT OR UPDATE OF status ON workflow_step_executions
  FOR EACH ROW WHEN (NEW.status = 'queued')
  EXECUTE FUNCTION notify_task_queued();

-- The workers' claim, as the service role. It picks the tenant of the oldest runnable queued run
-- among tenants below their limit, takes that tenant's advisory lock (the one synchronous claims
-- take: "count, then claim" is atomic against them), counts again with a fresh snapshot, and
-- claims up to the free slots. One tenant per call, so claims never wait on each other in a cycle.
CREATE FUNCTION claim_step_runs(worker text, max_runs integer, lease_seconds double precision,
                                tenant_limit integer)
  RETURNS SETOF workflow_step_executions
  LANGUAGE plpgsql
  AS $$
DECLARE
  chosen uuid;
  running integer;
BEGIN
  WITH busy AS (
    SELECT tenant_id, count(*) AS n FROM workflow_step_executions
    WHERE status = 'running' AND lease_expires_at > clock_timestamp()
    GROUP BY tenant_id
  )
  SELECT s.tenant_id INTO chosen
  FROM workflow_step_executions s
  LEFT JOIN busy b ON b.tenant_id = s.tenant_id
  WHERE s.status = 'queued' AND (s.run_after IS NULL OR s.run_after <= clock_timestamp())
    AND coalesce(b.n, 0) < tenant_limit
  ORDER BY s.queued_at, s.id
  LIMIT 1;
  IF chosen IS NULL THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(step_runs_lock_key(chosen));
  SELECT count(*) INTO running FROM workflow_step_executions
  WHERE tenant_id = chosen AND status = 'running' AND lease_expires_at > clock_timestamp();
  IF running >= tenant_limit THEN
    RETURN;
  END IF;
  RETURN QUERY
    WITH picked AS (
      SELECT id FROM workflow_step_executions
      WHERE tenant_id = chosen AND status = 'queued'
        AND (run_after IS NULL OR run_after <= clock_timestamp())
      ORDER BY queued_at, id
      LIMIT least(max_runs, tenant_limit - running)
      FOR UPDATE SKIP LOCKED
    )
    UPDATE workflow_step_executions s
    SET status = 'running', lease_token = gen_random_uuid(), claimed_by = worker,
        lease_expires_at = clock_timestamp() + make_interval(secs => lease_seconds),
        started_at = clock_timestamp(), run_attempts = s.run_attempts + 1
    FROM picked
    WHERE s.id = picked.id
    RETURNING s.*;
END
$$;

-- One key per tenant for the advisory lock of its step-run claims.
CREATE FUNCTION step_runs_lock_key(tenant uuid) RETURNS bigint
  LANGUAGE sql IMMUTABLE
  AS $$ SELECT hashtextextended('renewflow.step_runs:' || tenant::text, 0) $$;

GRANT EXECUTE ON FUNCTION claim_step_runs(text, integer, double precision, integer)
  TO renewflow_service;
GRANT EXECUTE ON FUNCTION step_runs_lock_key(uuid) TO renewflow_app, renewflow_service;
