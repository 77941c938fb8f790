-- The autonomous-run ledger (`autonomous_tasks`). Each state change is one statement; a row's
-- tenant is the transaction's (a tenant transaction) or named (the service role).

-- name: start_run
INSERT INTO autonomous_tasks (tenant_id, task_type, status, input_data, executed_at,
                              triggered_by, agent_name)
VALUES (%(tenant_id)s, %(task_type)s, 'running', %(input)s, clock_timestamp(), %(triggered_by)s,
        %(agent_name)s)
RETURNING id;

-- name: finish_run
-- Only a run still open is finished: a second finish (a retry after a lost answer) is a no-op.
-- The cost, unless given, is what the run's linked LLM calls cost.
UPDATE autonomous_tasks t
SET status = %(status)s,
    output_data = coalesce(%(output)s, t.output_data),
    error_message = %(error)s,
    completed_at = greatest(clock_timestamp(), t.executed_at),
    last_succeeded_at = CASE WHEN %(status)s IN ('completed', 'partial_failure')
                             THEN clock_timestamp() ELSE t.last_succeeded_at END,
    cost_estimate_usd = coalesce(%(cost)s, (
      SELECT sum(c.cost_usd) FROM llm_calls c
      WHERE c.tenant_id = t.tenant_id AND c.autonomous_task_id = t.id))
WHERE t.id = %(id)s AND t.status IN ('pending', 'running')
RETURNING t.*;

-- name: record_run
-- A run that is over as soon as it is written (a run cancelled before it started: the budget).
INSERT INTO autonomous_tasks (tenant_id, task_type, status, input_data, output_data,
                              error_message, executed_at, completed_at, triggered_by, agent_name,
                              last_succeeded_at)
VALUES (%(tenant_id)s, %(task_type)s, %(status)s, %(input)s, %(output)s, %(error)s,
        clock_timestamp(), clock_timestamp(), %(triggered_by)s, %(agent_name)s,
        CASE WHEN %(status)s IN ('completed', 'partial_failure') THEN clock_timestamp() END)
RETURNING id;

-- name: attach_run
-- The LLM calls recorded later in this transaction are linked to the run (trigger llm_calls_run).
SELECT set_config('renewflow.autonomous_task_id', %(id)s::text, true);

-- name: link_calls
UPDATE llm_calls SET autonomous_task_id = %(id)s
WHERE id = ANY(%(call_ids)s::uuid[]) AND autonomous_task_id IS NULL;

-- name: period_row
-- The row of one tenant's period (created running if it is the first run of the period), for a
-- job that links LLM calls to it before it finishes.
INSERT INTO autonomous_tasks AS t (tenant_id, task_type, status, input_data, executed_at,
                                   triggered_by, agent_name, period_start)
VALUES (%(tenant_id)s, %(task_type)s, 'running', %(input)s, clock_timestamp(), %(triggered_by)s,
        %(agent_name)s, %(period_start)s)
ON CONFLICT (tenant_id, task_type, period_start) WHERE period_start IS NOT NULL
  DO UPDATE SET updated_at = t.updated_at
RETURNING id;

-- name: record_tenants
-- One run of a job over many tenants: a row per tenant (`period_start` NULL), or each tenant's
-- period row updated (`period_start` set). In a period row the counters add up (`runs`,
-- `failed_runs`, the job's own), `executed_at`/`completed_at` (and so `duration_ms`) are the
-- latest run's, and the status says the worst that happened in the period while the latest run
-- went well (partial_failure), or the latest run's status if it did not. A tenant deleted while
-- the job ran is left out.
INSERT INTO autonomous_tasks AS t (tenant_id, task_type, status, input_data, output_data,
                                   error_message, executed_at, completed_at, triggered_by,
                                   agent_name, period_start, last_succeeded_at,
                                   cost_estimate_usd)
SELECT r.tenant_id, %(task_type)s, r.status, %(input)s,
       r.output || jsonb_build_object('runs', 1, 'failed_runs', (r.status = 'failed')::int),
       r.error, %(started)s, greatest(clock_timestamp(), %(started)s), %(triggered_by)s,
       %(agent_name)s, %(period_start)s,
       CASE WHEN r.status IN ('completed', 'partial_failure') THEN clock_timestamp() END,
       r.cost
FROM unnest(%(tenant_ids)s::uuid[], %(statuses)s::text[], %(outputs)s::jsonb[],
            %(errors)s::text[], %(costs)s::numeric[]) AS r(tenant_id, status, output, error, cost)
WHERE EXISTS (SELECT 1 FROM tenants WHERE tenants.id = r.tenant_id)
ON CONFLICT (tenant_id, task_type, period_start) WHERE period_start IS NOT NULL DO UPDATE SET
  status = CASE
    WHEN EXCLUDED.status IN ('failed', 'cancelled') THEN EXCLUDED.status
    WHEN t.status IN ('failed', 'partial_failure') AND t.output_data ? 'runs'
      THEN 'partial_failure'
    ELSE EXCLUDED.status END,
  output_data = ledger_merge_counts(t.output_data, EXCLUDED.output_data),
  error_message = coalesce(EXCLUDED.error_message, t.error_message),
  executed_at = EXCLUDED.executed_at,
  completed_at = EXCLUDED.completed_at,
  last_succeeded_at = coalesce(EXCLUDED.last_succeeded_at, t.last_succeeded_at),
  cost_estimate_usd = coalesce(
    (SELECT sum(c.cost_usd) FROM llm_calls c
     WHERE c.tenant_id = t.tenant_id AND c.autonomous_task_id = t.id),
    EXCLUDED.cost_estimate_usd)
RETURNING t.id, t.tenant_id, t.status;

-- name: tenant_ids
SELECT id FROM tenants ORDER BY id;

-- name: spend
-- A tenant's LLM spend since each period's start (every call, autonomous or not), and its
-- settings (the budget). As the tenant or the service role. A period without a budget is not
-- summed: every autonomous step asks, and most tenants set none.
SELECT t.settings,
       CASE WHEN coalesce(jsonb_typeof(t.settings -> 'budget' -> 'llm_daily_usd'), 'null') <> 'null' THEN
         coalesce((SELECT sum(c.cost_usd) FROM llm_calls c
                   WHERE c.tenant_id = t.id AND c.created_at >= %(day)s), 0)
       ELSE 0 END AS day_usd,
       CASE WHEN coalesce(jsonb_typeof(t.settings -> 'budget' -> 'llm_monthly_usd'), 'null') <> 'null' THEN
         coalesce((SELECT sum(c.cost_usd) FROM llm_calls c
                   WHERE c.tenant_id = t.id AND c.created_at >= %(month)s), 0)
       ELSE 0 END AS month_usd
FROM tenants t
WHERE t.id = %(tenant_id)s;

-- name: admins
SELECT id, email FROM users WHERE role = 'admin' AND active ORDER BY id;

-- name: open_job_failures
-- What of each tenant is failing for these jobs right now (`job_failures`, open): the tenant
-- as a whole, or some of its items.
SELECT tenant_id,
       bool_or(subject_type = 'tenant') AS whole,
       count(*) FILTER (WHERE subject_type <> 'tenant') AS items,
       (array_agg(CASE WHEN subject_type = 'tenant' THEN error
                       ELSE subject_type || ' ' || subject_id || ': ' || error END
                  ORDER BY (subject_type = 'tenant') DESC, last_seen_at DESC))[1] AS error
FROM job_failures
WHERE job = ANY(%(jobs)s::text[]) AND resolved_at IS NULL
GROUP BY tenant_id;

-- name: last_successes
-- Per job: when it last succeeded for the transaction's tenant (or the named one), and when the
-- tenant was created (a new tenant's jobs are measured from then).
SELECT j.task_type,
       (SELECT max(a.last_succeeded_at) FROM autonomous_tasks a
        WHERE a.tenant_id = t.id AND a.task_type = j.task_type
          AND a.last_succeeded_at IS NOT NULL) AS last_success,
       t.created_at AS tenant_created_at
FROM tenants t
CROSS JOIN unnest(%(types)s::text[]) AS j(task_type)
WHERE t.id = %(tenant_id)s;

-- name: all_last_successes
-- The same for every tenant (the service role: the metrics).
SELECT t.id AS tenant_id, j.task_type,
       (SELECT max(a.last_succeeded_at) FROM autonomous_tasks a
        WHERE a.tenant_id = t.id AND a.task_type = j.task_type
          AND a.last_succeeded_at IS NOT NULL) AS last_success,
       t.created_at AS tenant_created_at
FROM tenants t
CROSS JOIN unnest(%(types)s::text[]) AS j(task_type);
