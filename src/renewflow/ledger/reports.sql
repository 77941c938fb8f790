-- Reading the ledger, as the transaction's tenant (row-level security).

-- name: list_runs
SELECT id, task_type, status, input_data, output_data, error_message, executed_at, completed_at,
       duration_ms, triggered_by, agent_name, cost_estimate_usd, period_start, created_at,
       count(*) OVER () AS total_count
FROM autonomous_tasks
WHERE tenant_id = current_tenant_id()
  AND (%(task_type)s::text IS NULL OR task_type = %(task_type)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(since)s::timestamptz IS NULL OR executed_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR executed_at < %(until)s)
ORDER BY executed_at DESC NULLS LAST, id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: summary
-- The spec's get_autonomous_task_summary, plus the median and 95th percentile of duration. Task
-- type by task type (the tenant's types found by a skip scan of the index), each one a range scan
-- of its window in idx_autonomous_tasks_tenant_type_time (index-only): the window's rows are
-- never sorted to be grouped, and only the percentiles sort, each type's durations apart.
WITH RECURSIVE types AS (
  (SELECT task_type FROM autonomous_tasks
   WHERE tenant_id = current_tenant_id()
   ORDER BY task_type LIMIT 1)
  UNION ALL
  SELECT (SELECT a.task_type FROM autonomous_tasks a
          WHERE a.tenant_id = current_tenant_id() AND a.task_type > types.task_type
          ORDER BY a.task_type LIMIT 1)
  FROM types
  WHERE types.task_type IS NOT NULL
)
SELECT t.task_type, s.*
FROM types t
CROSS JOIN LATERAL (
  SELECT count(*) AS total_executions,
         count(*) FILTER (WHERE a.status = 'completed') AS completed_count,
         count(*) FILTER (WHERE a.status IN ('failed', 'partial_failure')) AS failed_count,
         round(avg(a.duration_ms), 2) AS avg_duration_ms,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_ms) AS p50_duration_ms,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY a.duration_ms) AS p95_duration_ms,
         coalesce(sum(a.cost_estimate_usd), 0) AS total_cost_usd,
         max(a.executed_at) AS last_executed_at
  FROM autonomous_tasks a
  WHERE a.tenant_id = current_tenant_id() AND a.task_type = t.task_type
    AND a.executed_at > now() - make_interval(hours => %(hours)s)
) s
WHERE t.task_type IS NOT NULL
  AND (%(task_type)s::text IS NULL OR t.task_type = %(task_type)s)
  AND s.total_executions > 0
ORDER BY t.task_type;

-- name: failures
SELECT id, task_type, status, error_message, output_data, executed_at, agent_name
FROM autonomous_tasks
WHERE tenant_id = current_tenant_id() AND status IN ('failed', 'partial_failure')
  AND executed_at > now() - make_interval(hours => %(hours)s)
ORDER BY executed_at DESC
LIMIT %(limit)s;

-- name: costs
-- Spend by UTC day and task type: the ledger's runs' costs.
SELECT (date_trunc('day', executed_at AT TIME ZONE 'UTC'))::date AS day, task_type,
       count(*) AS executions,
       coalesce(sum(cost_estimate_usd), 0) AS total_cost_usd
FROM autonomous_tasks
WHERE tenant_id = current_tenant_id()
  AND executed_at > now() - make_interval(hours => %(hours)s)
GROUP BY 1, 2
ORDER BY 1 DESC, 2;
