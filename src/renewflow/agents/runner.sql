-- Agent task steps as a job queue (the step runner). Each step is its own job: a step with
-- `run_after` set is queued; a claimed one runs under a lease whose token fences its finish.
-- All of it runs as the service role (the explicit cross-tenant path); the finish and the
-- reaper are functions of migration 0025, which lock the task before the step as every writer
-- of both does. `clock_timestamp()`, not `now()`: the fence is about the moment of the write.

-- name: claim
-- The steps leased, oldest first, each with all its run needs (migration 0025).
SELECT * FROM claim_agent_steps(%(worker)s, %(limit)s, %(lease_seconds)s, 'claimed');

-- name: heartbeat
UPDATE task_steps s
SET lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s)
FROM unnest(%(ids)s::uuid[], %(tokens)s::uuid[]) AS held(id, token)
WHERE s.id = held.id AND s.lease_token = held.token AND s.status = 'running'
  AND s.lease_expires_at > clock_timestamp()
RETURNING s.id;

-- name: release
-- Unstarted (or interrupted) steps go back to the queue; the retry is not counted.
UPDATE task_steps s
SET status = 'pending', run_after = clock_timestamp(), execution_started_at = NULL,
    lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
FROM unnest(%(ids)s::uuid[], %(tokens)s::uuid[]) AS held(id, token)
WHERE s.id = held.id AND s.lease_token = held.token AND s.status = 'running'
RETURNING s.id;

-- name: defer
-- The step may not run yet (the tenant's LLM budget is spent): back to the queue until
-- `run_after`, the retry not counted, the reason kept on the step.
UPDATE task_steps s
SET status = 'pending', run_after = %(run_after)s, execution_started_at = NULL,
    error_message = %(reason)s, lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
WHERE s.id = %(id)s AND s.lease_token = %(token)s AND s.status = 'running'
RETURNING s.id;

-- name: reap
SELECT reap_agent_steps() AS reaped;

-- name: finish
-- One row for each finish, in their order: its `state`, and the lease it took for `worker`
-- (NULL: none, or no `worker`).
SELECT * FROM finish_agent_steps(%(finishes)s, %(worker)s, %(lease_seconds)s);

-- name: record_calls
-- A network provider's calls, recorded as soon as they answered, before the finish: a worker
-- killed in between leaves its spend on the step all the same. (An in-process provider's calls
-- cost nothing and ride with the finish, saving the round trip.)
INSERT INTO llm_calls (tenant_id, task_step_id, provider, model, input_tokens, output_tokens,
                       cost_usd, latency_ms, attempts, prompt_sha256, status, error_kind)
SELECT s.tenant_id, s.id, c.provider, c.model, c.input_tokens, c.output_tokens, c.cost_usd,
       c.latency_ms, c.attempts, c.prompt_sha256, c.status, c.error_kind
FROM task_steps s,
     jsonb_to_recordset(%(calls)s) AS c(provider text, model text, input_tokens integer,
       output_tokens integer, cost_usd numeric, latency_ms integer, attempts integer,
       prompt_sha256 text, status text, error_kind text)
WHERE s.id = %(step_id)s;

-- name: depth
SELECT
  count(*) FILTER (WHERE status = 'pending' AND run_after <= now()) AS queued,
  count(*) FILTER (WHERE status = 'pending' AND run_after > now()) AS waiting,
  count(*) FILTER (WHERE status = 'running') AS running
FROM task_steps
WHERE (status = 'pending' AND run_after IS NOT NULL) OR status = 'running';
