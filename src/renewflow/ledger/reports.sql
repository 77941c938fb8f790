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
-- The spec's get_autonomous_task_summary, plus the median and 95th percentile of duration; one
-- pass over the summary index (autonomous_tasks_summary: index-only).
SELECT task_type,
       count(*) AS total_executions,
       count(*) FILTER (WHERE status = 'completed') AS completed_count,
       count(*) FILTER (WHERE status IN ('failed', 'partial_failure')) AS failed_count,
       round(avg(duration_ms), 2) AS avg_duration_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_duration_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_duration_ms,
       coalesce(sum(cost_estimate_usd), 0) AS total_cost_usd,
       max(executed_at) AS last_executed_at
FROM autonomous_tasks
WHERE tenant_id = current_tenant_id()
  AND (%(task_type)s::text IS NULL OR task_type = %(task_type)s)
  AND executed_at > now() - make_interval(hours => %(hours)s)
GROUP BY task_type
ORDER BY task_type;

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
