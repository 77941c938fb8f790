-- name: sweep_targets
-- For every customer with an active contract (of every tenant the role can see), the workflow
-- whose trigger range holds its days until renewal, counted in its tenant's time zone.
-- A tenant's own workflow beats a core one (an override hides the core workflow of the same
-- workflow_id); among several, the narrowest range wins, then the workflow_id.
-- The workflows each tenant can use are resolved first (tenants x workflows: small), so the
-- per-customer work is one range join.
CREATE TEMP TABLE sweep_target ON COMMIT DROP AS
WITH local_today AS MATERIALIZED (
  SELECT t.id AS tenant_id, t.time_zone,
         (%(now)s::timestamptz AT TIME ZONE t.time_zone)::date AS today
  FROM tenants t
),
triggered AS MATERIALIZED (
  SELECT w.id, w.workflow_id, w.tenant_id,
         (w.config #>> '{trigger,daysUntilRenewal,min}')::int AS min_days,
         (w.config #>> '{trigger,daysUntilRenewal,max}')::int AS max_days,
         w.config #>> '{steps,0,id}' AS first_step,
         (SELECT max(v.version) FROM workflow_versions v WHERE v.workflow_id = w.id) AS version
  FROM workflows w
  WHERE jsonb_typeof(w.config #> '{trigger,daysUntilRenewal,min}') = 'number'
    AND jsonb_typeof(w.config #> '{trigger,daysUntilRenewal,max}') = 'number'
),
usable AS MATERIALIZED (
  SELECT d.tenant_id AS for_tenant, d.time_zone, d.today, w.*
  FROM local_today d
  JOIN triggered w
    ON w.tenant_id = d.tenant_id
    OR (w.tenant_id IS NULL AND NOT EXISTS (
          SELECT 1 FROM workflows o
          WHERE o.tenant_id = d.tenant_id AND o.workflow_id = w.workflow_id))
  WHERE w.version IS NOT NULL
)
SELECT DISTINCT ON (k.customer_id)
       k.tenant_id, k.customer_id, k.renewal_date - u.today AS days, k.renewal_date, k.arr,
       u.time_zone, u.id AS workflow_pk, u.workflow_id, u.min_days, u.max_days, u.first_step,
       u.version
FROM contracts k
JOIN usable u
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

-- name: sweep_start
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
WHERE NOT EXISTS (
  SELECT 1 FROM workflow_executions e WHERE e.customer_id = t.customer_id AND e.status = 'active'
)
RETURNING id AS execution_id, customer_id;

-- name: carry_open_tasks
-- Open tasks of each superseded execution surface in the customer's new execution, once,
-- keeping the execution they were first created in.
UPDATE workflow_tasks k
SET original_workflow_execution_id = coalesce(k.original_workflow_execution_id, k.workflow_execution_id),
    surfaced_in_workflow_ids = array_append(coalesce(k.surfaced_in_workflow_ids, '{}'), n.execution_id)
FROM unnest(%(old_ids)s::uuid[], %(new_ids)s::uuid[]) AS n(old_id, execution_id)
WHERE k.workflow_execution_id = n.old_id
  AND k.status IN ('pending', 'in_progress', 'snoozed')
  AND NOT (n.execution_id = ANY(coalesce(k.surfaced_in_workflow_ids, '{}')));
