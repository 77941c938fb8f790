-- name: drop_sweep_tables
-- A sweep may run twice in one transaction (tests, backfills): its temporary tables go first.
DROP TABLE IF EXISTS sweep_target, sweep_usable;

-- name: sweep_usable
-- The workflows each tenant uses, with their trigger ranges: a tenant's own workflow, and every
-- core workflow it has not overridden (same workflow_id). Tenants x workflows: small, resolved
-- once, so the per-customer work after it is one range join. Tenants in %(skip_tenants)s (whose
-- sweep failed before: they are swept alone, or wait for their next attempt) are left out here,
-- and so out of every statement after it.
CREATE TEMP TABLE sweep_usable ON COMMIT DROP AS
WITH local_today AS MATERIALIZED (
  SELECT t.id AS tenant_id, t.time_zone,
         (%(now)s::timestamptz AT TIME ZONE t.time_zone)::date AS today
  FROM tenants t
  WHERE t.id <> ALL(%(skip_tenants)s::uuid[])
),
triggered AS MATERIALIZED (
  SELECT w.id, w.workflow_id, w.tenant_id,
         (w.config #>> '{trigger,daysUntilRenewal,min}')::int AS min_days,
         (w.config #>> '{trigger,daysUntilRenewal,max}')::int AS max_days,
         w.config #>> '{steps,0,id}' AS first_step,
         coalesce(jsonb_array_length(w.config #> '{trigger,earlyTriggers}'), 0) > 0 AS has_early,
         (SELECT max(v.version) FROM workflow_versions v WHERE v.workflow_id = w.id) AS version
  FROM workflows w
  WHERE jsonb_typeof(w.config #> '{trigger,daysUntilRenewal,min}') = 'number'
    AND jsonb_typeof(w.config #> '{trigger,daysUntilRenewal,max}') = 'number'
)
SELECT d.tenant_id AS for_tenant, d.time_zone, d.today, w.*
FROM local_today d
JOIN triggered w
  ON w.tenant_id = d.tenant_id
  OR (w.tenant_id IS NULL AND NOT EXISTS (
        SELECT 1 FROM workflows o
        WHERE o.tenant_id = d.tenant_id AND o.workflow_id = w.workflow_id))
WHERE w.version IS NOT NULL;

-- name: sweep_targets
-- For every customer with an active contract (of every tenant the role can see), the workflow
-- whose trigger range holds its days until renewal, counted in its tenant's time zone.
-- A tenant's own workflow beats a core one; among several, the narrowest range wins, then the
-- workflow_id.
CREATE TEMP TABLE sweep_target ON COMMIT DROP AS
SELECT DISTINCT ON (k.customer_id)
       k.tenant_id, k.customer_id, k.renewal_date - u.today AS days, k.renewal_date, k.arr,
       u.time_zone, u.id AS workflow_pk, u.workflow_id, u.min_days, u.max_days, u.first_step,
       u.version
FROM contracts k
JOIN sweep_usable u
  ON u.for_tenant = k.tenant_id
 AND k.renewal_date - u.today BETWEEN u.min_days AND u.max_days
WHERE k.status = 'active'
ORDER BY k.customer_id, u.tenant_id IS NULL, u.max_days - u.min_days, u.workflow_id;

-- name: analyze_sweep_targets
ANALYZE sweep_target;

-- name: sweep_supersede
-- A customer that moved into another stage: its sweep-started execution ends as superseded.
-- Executions started by hand or by an early trigger are left to the people running them.
UPDATE workflow_executions e
SET status = 'superseded', completed_at = %(now)s
FROM sweep_target t
WHERE e.customer_id = t.customer_id
  AND e.status = 'active'
  AND e.workflow_id <> t.workflow_pk
  AND e.trigger_reason ->> 'rule' = 'daysUntilRenewal'
RETURNING e.id AS old_execution_id, e.customer_id;

-- name: sweep_drop_running
-- Customers that still run an execution get none, and neither do those that already finished
-- (completed or cancelled) this stage's workflow since the stage began for this renewal: a
-- finished playbook is not started again every hour. Dropped from the targets before the
-- insert, so the insert never reads the table it writes (a plan that scanned
-- workflow_executions for each new row, chosen when its statistics say it is empty, would be
-- quadratic).
DELETE FROM sweep_target t
USING workflow_executions e
WHERE e.customer_id = t.customer_id
  AND (e.status = 'active'
       OR (e.workflow_id = t.workflow_pk AND e.status IN ('completed', 'cancelled')
           AND e.completed_at >= ((t.renewal_date - t.max_days)::timestamp AT TIME ZONE t.time_zone)));

-- name: sweep_start
-- Returns how many started, and the new executions of the customers whose old one was just
-- superseded (%(moved)s), for continuity: one row, not one per execution.
WITH started AS (
INSERT INTO workflow_executions
  (tenant_id, customer_id, workflow_id, workflow_version, status, current_step_id,
   trigger_reason, started_at)
SELECT t.tenant_id, t.customer_id, t.workflow_pk, t.version, 'active', t.first_step,
       jsonb_build_object(
         'rule', 'daysUntilRenewal',
         'workflowId', t.workflow_id,
         'range', jsonb_build_object('min', t.min_days, 'max', t.max_days),
         'daysUntilRenewal', t.days,
         'renewalDate', t.renewal_date,
         'arr', t.arr,
         'timeZone', t.time_zone,
         'evaluatedAt', %(now)s::timestamptz),
       %(now)s
FROM sweep_target t
RETURNING id, customer_id
)
SELECT (SELECT count(*) FROM started) AS started,
       coalesce(array_agg(s.customer_id), '{}') AS moved_customers,
       coalesce(array_agg(s.id), '{}') AS moved_executions
FROM started s
JOIN unnest(%(moved)s::uuid[]) AS m(customer_id) ON m.customer_id = s.customer_id;

-- name: early_candidates
-- Customers up to %(window)s days before a workflow's range whose workflow has early triggers,
-- that do not run it yet, and whose current execution (if any) is the sweep's own: the early
-- trigger may pull the stage forward; executions started by people are left alone.
SELECT k.tenant_id, k.customer_id, k.renewal_date - u.today AS days, k.renewal_date, k.arr,
       u.time_zone, u.id AS workflow_pk, u.workflow_id, u.min_days, u.max_days, u.first_step,
       u.version, e.id AS current_execution_id
FROM sweep_usable u
JOIN contracts k
  ON k.tenant_id = u.for_tenant AND k.status = 'active'
 AND k.renewal_date - u.today BETWEEN u.max_days + 1 AND u.max_days + %(window)s
LEFT JOIN workflow_executions e ON e.customer_id = k.customer_id AND e.status = 'active'
WHERE u.has_early
  AND (e.id IS NULL OR (e.workflow_id <> u.id AND e.trigger_reason ->> 'rule' = 'daysUntilRenewal'))
ORDER BY k.customer_id, u.max_days;

-- name: supersede_executions
UPDATE workflow_executions SET status = 'superseded', completed_at = %(now)s
WHERE id = ANY(%(execution_ids)s::uuid[]) AND status = 'active';

-- name: start_early
INSERT INTO workflow_executions
  (tenant_id, customer_id, workflow_id, workflow_version, status, current_step_id,
   trigger_reason, started_at)
SELECT n.tenant_id, n.customer_id, n.workflow_pk, n.version, 'active', n.first_step, n.reason,
       %(now)s
FROM unnest(%(tenant_ids)s::uuid[], %(customer_ids)s::uuid[], %(workflow_pks)s::uuid[],
            %(versions)s::int[], %(first_steps)s::varchar[], %(reasons)s::jsonb[])
  AS n(tenant_id, customer_id, workflow_pk, version, first_step, reason)
RETURNING id, customer_id;

-- name: startable_workflows
-- The workflows the tenant can start, overrides resolved (get_tenant_workflows, migration 0007).
SELECT workflow_id, name, description, is_core, config -> 'trigger' AS trigger
FROM get_tenant_workflows(current_tenant_id())
ORDER BY workflow_id;

-- name: insert_execution
INSERT INTO workflow_executions
  (tenant_id, customer_id, workflow_id, workflow_version, status, current_step_id, trigger_reason,
   started_by)
VALUES (current_tenant_id(), %(customer_id)s, %(workflow_pk)s, %(version)s, 'active',
        %(first_step)s, %(reason)s, %(started_by)s)
RETURNING id;

-- name: active_execution_of_customer
SELECT id FROM workflow_executions WHERE customer_id = %(customer_id)s AND status = 'active';

-- name: list_executions
SELECT e.id, e.customer_id, c.name AS customer_name, w.workflow_id, w.name AS workflow_name,
       e.workflow_version, e.status, e.current_step_id, e.trigger_reason, e.started_at,
       e.completed_at, count(*) OVER () AS total_count
FROM workflow_executions e
JOIN customers c ON c.id = e.customer_id
JOIN workflows w ON w.id = e.workflow_id
WHERE (%(customer_id)s::uuid IS NULL OR e.customer_id = %(customer_id)s)
  AND (%(workflow_id)s::text IS NULL OR w.workflow_id = %(workflow_id)s)
  AND (%(status)s::text IS NULL OR e.status = %(status)s)
ORDER BY e.started_at DESC, e.id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: get_execution
-- An execution with the config of the version it runs.
SELECT e.id, e.tenant_id, e.customer_id, c.name AS customer_name, w.workflow_id, w.name AS workflow_name,
       e.workflow_id AS workflow_pk, e.workflow_version, e.status, e.current_step_id,
       e.trigger_reason, e.started_at, e.completed_at, v.config, t.settings AS tenant_settings
FROM workflow_executions e
JOIN tenants t ON t.id = e.tenant_id
JOIN customers c ON c.id = e.customer_id
JOIN workflows w ON w.id = e.workflow_id
JOIN workflow_versions v ON v.workflow_id = e.workflow_id AND v.version = e.workflow_version
WHERE e.id = %(execution_id)s;

-- name: get_execution_for_update
-- The same, locking the execution (only its row) so two requests cannot advance it at once, with
-- its live step run if any (`live_expired`: the run's lease has passed): one round trip for the
-- lock, the read and the check.
SELECT e.id, e.tenant_id, e.customer_id, c.name AS customer_name, w.workflow_id, w.name AS workflow_name,
       e.workflow_id AS workflow_pk, e.workflow_version, e.status, e.current_step_id,
       e.trigger_reason, e.started_at, e.completed_at, v.config, t.settings AS tenant_settings,
       live.id AS live_run_id, live.step_id AS live_step_id, live.status AS live_status,
       coalesce(live.started_at, live.queued_at) AS live_since,
       (live.status = 'running' AND live.lease_expires_at <= clock_timestamp()) AS live_expired
FROM workflow_executions e
JOIN tenants t ON t.id = e.tenant_id
JOIN customers c ON c.id = e.customer_id
JOIN workflows w ON w.id = e.workflow_id
JOIN workflow_versions v ON v.workflow_id = e.workflow_id AND v.version = e.workflow_version
LEFT JOIN LATERAL (
  SELECT s.id, s.step_id, s.status, s.started_at, s.queued_at, s.lease_expires_at
  FROM workflow_step_executions s
  WHERE s.workflow_execution_id = e.id AND s.status IN ('queued', 'running')
) live ON true
WHERE e.id = %(execution_id)s
FOR UPDATE OF e;

-- name: step_history
SELECT id, step_id, step_index, status, outputs, artifacts, error_message, skip_reason, attempt,
       raw_response, started_at, completed_at, created_at
FROM workflow_step_executions
WHERE workflow_execution_id = %(execution_id)s
ORDER BY created_at, id;

-- name: record_step_execution
-- A step execution is written once, finished (completed or failed), together with the move of its
-- execution to the next step (`advance`): one round trip at the end of a step.
WITH step AS (
  INSERT INTO workflow_step_executions
    (id, tenant_id, workflow_execution_id, step_id, step_index, status, outputs, artifacts,
     rendered_prompt, raw_response, error_message, attempt, started_at, completed_at,
     idempotency_key)
  VALUES (%(id)s, current_tenant_id(), %(execution_id)s, %(step_id)s::varchar, %(step_index)s,
          %(status)s::varchar, %(outputs)s, %(artifacts)s, %(prompt)s, %(raw)s, %(error)s,
          1 + (SELECT count(*) FROM workflow_step_executions
               WHERE workflow_execution_id = %(execution_id)s AND step_id = %(step_id)s::varchar),
          %(started_at)s, now(), %(idempotency_key)s)
  RETURNING id
)
UPDATE workflow_executions
SET current_step_id = %(next_step)s::varchar,
    status = CASE WHEN %(next_step)s::varchar IS NULL THEN 'completed' ELSE 'active' END,
    completed_at = CASE WHEN %(next_step)s::varchar IS NULL THEN now() END
WHERE id = %(execution_id)s AND %(advance)s AND EXISTS (SELECT 1 FROM step);

-- name: record_skipped_step
INSERT INTO workflow_step_executions
  (tenant_id, workflow_execution_id, step_id, step_index, status, skip_reason, started_at,
   completed_at, attempt)
VALUES (current_tenant_id(), %(execution_id)s, %(step_id)s::varchar, %(step_index)s, 'skipped',
        %(reason)s, now(), now(),
        1 + (SELECT count(*) FROM workflow_step_executions
             WHERE workflow_execution_id = %(execution_id)s AND step_id = %(step_id)s::varchar));

-- name: move_execution
UPDATE workflow_executions
SET current_step_id = %(step_id)s,
    status = %(status)s::varchar,
    completed_at = CASE WHEN %(status)s::varchar = 'active' THEN NULL ELSE now() END
WHERE id = %(execution_id)s;

-- name: claim_idempotency_key
-- Waits for a concurrent request holding the same key to finish, then finds its row.
INSERT INTO idempotency_keys (tenant_id, key, request_fingerprint)
VALUES (current_tenant_id(), %(key)s, %(fingerprint)s)
ON CONFLICT (tenant_id, key) DO NOTHING
RETURNING id;

-- name: get_idempotency_key
SELECT request_fingerprint, status_code, response FROM idempotency_keys WHERE key = %(key)s;

-- name: store_idempotent_response
UPDATE idempotency_keys SET status_code = %(status_code)s, response = %(response)s
WHERE key = %(key)s;

-- name: scheduled_candidates
-- Active executions whose workflow version has scheduled notifications, with their days until
-- renewal (in the tenant's time zone) and the dedupe keys they have already fired.
SELECT e.id, e.tenant_id, e.customer_id, e.workflow_id AS workflow_pk, e.workflow_version, v.config,
       k.renewal_date - (%(now)s::timestamptz AT TIME ZONE t.time_zone)::date AS days,
       (SELECT coalesce(array_agg(DISTINCT n.dedupe_key), '{}') FROM notifications n
         WHERE n.workflow_execution_id = e.id AND n.dedupe_key IS NOT NULL) AS fired
FROM workflow_executions e
JOIN workflow_versions v ON v.workflow_id = e.workflow_id AND v.version = e.workflow_version
JOIN contracts k ON k.customer_id = e.customer_id AND k.status = 'active'
JOIN tenants t ON t.id = e.tenant_id
WHERE e.status = 'active'
  AND jsonb_path_exists(v.config, '$.notifications[*].schedule');

-- name: tenant_ids
SELECT id FROM tenants ORDER BY id;

-- name: workflow_trigger
SELECT config -> 'trigger' AS trigger FROM workflows WHERE id = %(workflow_pk)s;

-- name: today
SELECT current_date AS today;
