-- The ledger's daily roll-up: per tenant, task type and UTC day, what the summary aggregates
-- (runs, completed, failed, durations, cost, the last run) and a histogram of the durations.
-- A summary over more than two days reads the window's whole days from here and only its two
-- ends from the ledger (renewflow.ledger.reports): 90 days of a busy tenant are some nine
-- hundred rows instead of half a million. Kept by statement triggers on autonomous_tasks, in the
-- writing transaction: it is never behind the ledger.
CREATE TABLE autonomous_task_days (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  task_type text NOT NULL,
  day date NOT NULL,
  executions integer NOT NULL DEFAULT 0,
  completed_count integer NOT NULL DEFAULT 0,
  failed_count integer NOT NULL DEFAULT 0,
  duration_count integer NOT NULL DEFAULT 0,
  duration_sum_ms bigint NOT NULL DEFAULT 0,
  cost_usd numeric NOT NULL DEFAULT 0,
  last_executed_at timestamptz,
  -- durations[k]: how many runs took a duration of bucket k (ledger_duration_bucket), up to the
  -- highest bucket used
  durations integer[] NOT NULL DEFAULT '{}',
  UNIQUE (tenant_id, task_type, day)
);
CALL enable_tenant_rls('autonomous_task_days');

-- Duration buckets 10% wide: bucket 1 is under 1 ms, bucket k >= 2 is [1.1^(k-2), 1.1^(k-1)) ms,
-- the last (200) everything from about 1.7 days up. A percentile read from them is within 10%
-- of the exact one (5% once interpolated inside its bucket, for durations spread evenly).
CREATE FUNCTION ledger_duration_bucket(p_ms integer) RETURNS integer
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE WHEN p_ms < 1 THEN 1
              ELSE least(200, floor(ln(p_ms) / ln(1.1))::integer + 2) END;

-- The duration at fraction p_fraction (0..1) of bucket p_bucket: linear under 1 ms, geometric
-- above (the buckets grow geometrically).
CREATE FUNCTION ledger_bucket_duration(p_bucket integer, p_fraction double precision)
  RETURNS double precision
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE WHEN p_bucket <= 1 THEN p_fraction
              ELSE power(1.1::double precision, p_bucket - 2 + p_fraction) END;

-- Two histograms added bucket by bucket.
CREATE FUNCTION ledger_histogram_add(p_a integer[], p_b integer[]) RETURNS integer[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN (SELECT coalesce(array_agg(coalesce(p_a[k], 0) + coalesce(p_b[k], 0) ORDER BY k), '{}')
          FROM generate_series(1, greatest(cardinality(p_a), cardinality(p_b))) AS k);

-- The histogram with p_counts[i] runs in bucket p_buckets[i].
CREATE FUNCTION ledger_histogram(p_buckets integer[], p_counts integer[]) RETURNS integer[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN (SELECT coalesce(array_agg(coalesce(u.n, 0) ORDER BY g), '{}')
          FROM generate_series(1, (SELECT max(b) FROM unnest(p_buckets) AS b)) AS g
          LEFT JOIN unnest(p_buckets, p_counts) AS u(k, n) ON u.k = g);

-- One ledger row's contribution, counted once (+1) or taken back (-1).
CREATE TYPE ledger_day_change AS (
  tenant_id uuid, task_type text, executed_at timestamptz, status text, duration_ms integer,
  cost_usd numeric, sign integer
);

-- Applies the changes of one statement to the roll-up. Days are locked in one order
-- (tenant, type, day), so two writers never deadlock on them. The rows of a tenant being
-- deleted are skipped: its roll-up goes with it.
CREATE FUNCTION ledger_days_apply(p_changes ledger_day_change[]) RETURNS void
  LANGUAGE plpgsql
  AS $$
BEGIN
  WITH c AS (
    SELECT x.*, (x.executed_at AT TIME ZONE 'UTC')::date AS day
    FROM unnest(p_changes) x
    WHERE x.executed_at IS NOT NULL
  ),
  totals AS (
    SELECT tenant_id, task_type, day,
           sum(sign)::integer AS executions,
           coalesce(sum(sign) FILTER (WHERE status = 'completed'), 0)::integer AS completed_count,
           coalesce(sum(sign) FILTER (WHERE status IN ('failed', 'partial_failure')), 0)::integer
             AS failed_count,
           coalesce(sum(sign) FILTER (WHERE duration_ms IS NOT NULL), 0)::integer AS duration_count,
           coalesce(sum(sign * duration_ms::bigint), 0)::bigint AS duration_sum_ms,
           coalesce(sum(sign * cost_usd), 0) AS cost_usd,
           max(executed_at) FILTER (WHERE sign > 0) AS last_executed_at
    FROM c
    GROUP BY tenant_id, task_type, day
  ),
  buckets AS (
    SELECT tenant_id, task_type, day, ledger_duration_bucket(duration_ms) AS k,
           sum(sign)::integer AS n
    FROM c
    WHERE duration_ms IS NOT NULL
    GROUP BY 1, 2, 3, 4
  ),
  histograms AS (
    SELECT tenant_id, task_type, day, ledger_histogram(array_agg(k), array_agg(n)) AS durations
    FROM buckets
    GROUP BY tenant_id, task_type, day
  )
  INSERT INTO autonomous_task_days AS d
    (tenant_id, task_type, day, executions, completed_count, failed_count, duration_count,
     duration_sum_ms, cost_usd, last_executed_at, durations)
  SELECT t.tenant_id, t.task_type, t.day, t.executions, t.completed_count, t.failed_count,
         t.duration_count, t.duration_sum_ms, t.cost_usd, t.last_executed_at,
         coalesce(h.durations, '{}')
  FROM totals t
  LEFT JOIN histograms h USING (tenant_id, task_type, day)
  WHERE EXISTS (SELECT 1 FROM tenants n WHERE n.id = t.tenant_id)
  ORDER BY t.tenant_id, t.task_type, t.day
  ON CONFLICT (tenant_id, task_type, day) DO UPDATE SET
    executions = d.executions + excluded.executions,
    completed_count = d.completed_count + excluded.completed_count,
    failed_count = d.failed_count + excluded.failed_count,
    duration_count = d.duration_count + excluded.duration_count,
    duration_sum_ms = d.duration_sum_ms + excluded.duration_sum_ms,
    cost_usd = d.cost_usd + excluded.cost_usd,
    last_executed_at = greatest(d.last_executed_at, excluded.last_executed_at),
    durations = ledger_histogram_add(d.durations, excluded.durations);

  -- the days that lost runs: gone when they have none left, else their last run found again
  WITH lost AS (
    SELECT DISTINCT x.tenant_id, x.task_type, (x.executed_at AT TIME ZONE 'UTC')::date AS day
    FROM unnest(p_changes) x
    WHERE x.sign < 0 AND x.executed_at IS NOT NULL
  ),
  gone AS (
    DELETE FROM autonomous_task_days d USING lost l
    WHERE d.tenant_id = l.tenant_id AND d.task_type = l.task_type AND d.day = l.day
      AND d.executions <= 0
    RETURNING d.id
  )
  UPDATE autonomous_task_days d
  SET last_executed_at = (
    SELECT max(a.executed_at) FROM autonomous_tasks a
    WHERE a.tenant_id = d.tenant_id AND a.task_type = d.task_type
      AND a.executed_at >= d.day::timestamp AT TIME ZONE 'UTC'
      AND a.executed_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC')
  FROM lost l
  WHERE d.tenant_id = l.tenant_id AND d.task_type = l.task_type AND d.day = l.day
    AND d.id NOT IN (SELECT id FROM gone);
END
$$;

CREATE FUNCTION autonomous_task_days_track() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
DECLARE
  changes ledger_day_change[];
BEGIN
  -- (a transition table is only in scope in the statements of its own event's branch)
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(ROW(n.tenant_id, n.task_type, n.executed_at, n.status, n.duration_ms,
                         n.cost_estimate_usd, 1)::ledger_day_change)
    INTO changes FROM new_rows n WHERE n.executed_at IS NOT NULL;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(ROW(o.tenant_id, o.task_type, o.executed_at, o.status, o.duration_ms,
                         o.cost_estimate_usd, -1)::ledger_day_change)
    INTO changes FROM old_rows o WHERE o.executed_at IS NOT NULL;
  ELSE
    SELECT array_agg(c) INTO changes FROM (
      SELECT ROW(n.tenant_id, n.task_type, n.executed_at, n.status, n.duration_ms,
                 n.cost_estimate_usd, 1)::ledger_day_change AS c
      FROM new_rows n WHERE n.executed_at IS NOT NULL
      UNION ALL
      SELECT ROW(o.tenant_id, o.task_type, o.executed_at, o.status, o.duration_ms,
                 o.cost_estimate_usd, -1)::ledger_day_change
      FROM old_rows o WHERE o.executed_at IS NOT NULL
    ) s;
  END IF;
  IF changes IS NOT NULL THEN
    PERFORM ledger_days_apply(changes);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER autonomous_task_days_insert AFTER INSERT ON autonomous_tasks
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION autonomous_task_days_track();
CREATE TRIGGER autonomous_task_days_update AFTER UPDATE ON autonomous_tasks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION autonomous_task_days_track();
CREATE TRIGGER autonomous_task_days_delete AFTER DELETE ON autonomous_tasks
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION autonomous_task_days_track();

GRANT EXECUTE ON FUNCTION ledger_duration_bucket(integer),
  ledger_bucket_duration(integer, double precision), ledger_histogram_add(integer[], integer[]),
  ledger_histogram(integer[], integer[]),
  ledger_days_apply(ledger_day_change[]), autonomous_task_days_track()
  TO renewflow_app, renewflow_service;

-- the ledger so far
ALTER TABLE autonomous_task_days NO FORCE ROW LEVEL SECURITY;
ALTER TABLE autonomous_tasks NO FORCE ROW LEVEL SECURITY;
SELECT ledger_days_apply(array_agg(ROW(a.tenant_id, a.task_type, a.executed_at, a.status,
                                       a.duration_ms, a.cost_estimate_usd, 1)::ledger_day_change))
FROM autonomous_tasks a
WHERE a.executed_at IS NOT NULL
HAVING count(*) > 0;
ALTER TABLE autonomous_task_days FORCE ROW LEVEL SECURITY;
ALTER TABLE autonomous_tasks FORCE ROW LEVEL SECURITY;
