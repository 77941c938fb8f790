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

-- name: summary_days
-- The same over a window longer than two days (with fewer the ends would overlap), with the window's whole UTC days read from the
-- daily roll-up (autonomous_task_days, migration 0029) and only its two ends (the part of its
-- first day, and today) from the ledger. Counts, costs, the average and the last run are exact;
-- the percentiles come from the durations' histogram, interpolated inside their bucket (each
-- bucket 10% wide), not from every duration.
WITH w AS (
  SELECT since, first_day, today, first_day::timestamp AT TIME ZONE 'UTC' AS first_day_start,
         today::timestamp AT TIME ZONE 'UTC' AS today_start
  FROM (SELECT now() - make_interval(hours => %(hours)s) AS since,
               ((now() - make_interval(hours => %(hours)s)) AT TIME ZONE 'UTC')::date + 1
                 AS first_day,
               (now() AT TIME ZONE 'UTC')::date AS today) b
),
days AS (
  SELECT d.task_type, d.executions, d.completed_count, d.failed_count, d.duration_count,
         d.duration_sum_ms, d.cost_usd, d.last_executed_at, d.durations
  FROM autonomous_task_days d, w
  WHERE d.tenant_id = current_tenant_id() AND d.day >= w.first_day AND d.day < w.today
    AND (%(task_type)s::text IS NULL OR d.task_type = %(task_type)s)
),
-- two range scans of the (tenant, executed_at) index, not one over the window and a filter
ends AS (
  SELECT a.task_type, a.status, a.duration_ms, a.cost_estimate_usd, a.executed_at
  FROM autonomous_tasks a, w
  WHERE a.tenant_id = current_tenant_id() AND a.executed_at > w.since
    AND a.executed_at < w.first_day_start
    AND (%(task_type)s::text IS NULL OR a.task_type = %(task_type)s)
  UNION ALL
  SELECT a.task_type, a.status, a.duration_ms, a.cost_estimate_usd, a.executed_at
  FROM autonomous_tasks a, w
  WHERE a.tenant_id = current_tenant_id()
    AND a.executed_at >= w.today_start
    AND (%(task_type)s::text IS NULL OR a.task_type = %(task_type)s)
),
totals AS (
  SELECT task_type, sum(executions) AS total_executions, sum(completed_count) AS completed_count,
         sum(failed_count) AS failed_count, sum(duration_count) AS duration_count,
         sum(duration_sum_ms) AS duration_sum_ms, sum(cost_usd) AS total_cost_usd,
         max(last_executed_at) AS last_executed_at
  FROM (
    SELECT task_type, executions, completed_count, failed_count, duration_count,
           duration_sum_ms, cost_usd, last_executed_at
    FROM days
    UNION ALL
    SELECT task_type, 1, (status = 'completed')::integer,
           (status IN ('failed', 'partial_failure'))::integer, (duration_ms IS NOT NULL)::integer,
           coalesce(duration_ms, 0), coalesce(cost_estimate_usd, 0), executed_at
    FROM ends
  ) x
  GROUP BY task_type
),
buckets AS (
  SELECT task_type, k, sum(n) AS n
  FROM (
    SELECT d.task_type, h.k::integer AS k, h.n
    FROM days d, unnest(d.durations) WITH ORDINALITY AS h(n, k)
    WHERE h.n <> 0
    UNION ALL
    SELECT task_type, ledger_duration_bucket(duration_ms), 1
    FROM ends
    WHERE duration_ms IS NOT NULL
  ) y
  GROUP BY task_type, k
),
cumulative AS (
  SELECT task_type, k, n, sum(n) OVER (PARTITION BY task_type ORDER BY k) - n AS before,
         sum(n) OVER (PARTITION BY task_type) AS total
  FROM buckets
),
-- percentile_cont's answer, from the histogram: the durations of the runs of ranks floor(r) and
-- floor(r) + 1 (counted from 0), where r = q x (runs - 1), each read in its bucket as far in as
-- the rank is among the bucket's runs, then interpolated between them as percentile_cont does
ranks AS (
  SELECT c.task_type, p.q, p.q * (c.total - 1) AS r, floor(p.q * (c.total - 1)) AS lo,
         least(floor(p.q * (c.total - 1)) + 1, c.total - 1) AS hi
  FROM (SELECT DISTINCT task_type, total FROM cumulative) c
  CROSS JOIN (VALUES (0.5), (0.95)) AS p(q)
),
at_ranks AS (
  SELECT r.task_type, r.q, r.r, r.lo,
         max(ledger_bucket_duration(c.k, (r.lo - c.before + 0.5) / c.n))
           FILTER (WHERE r.lo >= c.before AND r.lo < c.before + c.n) AS at_lo,
         max(ledger_bucket_duration(c.k, (r.hi - c.before + 0.5) / c.n))
           FILTER (WHERE r.hi >= c.before AND r.hi < c.before + c.n) AS at_hi
  FROM ranks r
  JOIN cumulative c USING (task_type)
  GROUP BY r.task_type, r.q, r.r, r.lo
),
percentiles AS (
  SELECT task_type,
         max(at_lo + (r - lo) * (at_hi - at_lo)) FILTER (WHERE q = 0.5) AS p50_duration_ms,
         max(at_lo + (r - lo) * (at_hi - at_lo)) FILTER (WHERE q = 0.95) AS p95_duration_ms
  FROM at_ranks
  GROUP BY task_type
)
SELECT t.task_type, t.total_executions::bigint AS total_executions,
       t.completed_count::bigint AS completed_count, t.failed_count::bigint AS failed_count,
       round(t.duration_sum_ms::numeric / nullif(t.duration_count, 0), 2) AS avg_duration_ms,
       p.p50_duration_ms, p.p95_duration_ms,
       coalesce(t.total_cost_usd, 0) AS total_cost_usd, t.last_executed_at
FROM totals t
LEFT JOIN percentiles p USING (task_type)
WHERE t.total_executions > 0
ORDER BY t.task_type;

-- name: runs_at_most
-- How many runs a window holds at most: those of every day it touches, from the roll-up.
SELECT coalesce(sum(executions), 0) AS runs
FROM autonomous_task_days
WHERE tenant_id = current_tenant_id()
  AND day >= ((now() - make_interval(hours => %(hours)s)) AT TIME ZONE 'UTC')::date
  AND (%(task_type)s::text IS NULL OR task_type = %(task_type)s);

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
