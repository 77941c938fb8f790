-- The demo book's own statements. Everything else goes through the domain packages' functions.

-- name: lock_tenant_name
-- Serialises loads and removals of one demo name: checking that no tenant has it and creating
-- the tenant happen under this lock, so two loads cannot both create it.
SELECT pg_advisory_xact_lock(hashtextextended('renewflow.demo:' || %(name)s, 0));

-- name: tenants_named
SELECT id, name, settings ? 'demo' AS is_demo, settings #> '{demo,seed}' AS seed
FROM tenants WHERE name = %(name)s ORDER BY created_at;

-- name: delete_tenants
-- Every tenant-owned row references its tenant, directly or through its parent, ON DELETE
-- CASCADE; but some child rows also reference a sibling with NO ACTION (workflow_tasks ->
-- customers, customers -> users, workflow_executions -> workflow_versions, chat branches ->
-- saved_actions), and whether such a check runs before or after the cascade has removed the
-- child depends on the order the cascades fire in. Deleting those children in the statement
-- itself, before any cascade runs, makes the checks find nothing, whatever the order.
WITH tasks AS (
  DELETE FROM workflow_tasks WHERE tenant_id = ANY(%(ids)s::uuid[]) RETURNING 1
), branches AS (
  DELETE FROM workflow_chat_branches WHERE tenant_id = ANY(%(ids)s::uuid[]) RETURNING 1
), executions AS (
  DELETE FROM workflow_executions WHERE tenant_id = ANY(%(ids)s::uuid[]) RETURNING 1
), customers AS (
  DELETE FROM customers WHERE tenant_id = ANY(%(ids)s::uuid[]) RETURNING 1
)
DELETE FROM tenants WHERE id = ANY(%(ids)s::uuid[]) RETURNING id;

-- name: set_tenant_settings
UPDATE tenants SET settings = settings || %(settings)s WHERE id = %(tenant_id)s;

-- name: tenant_today
SELECT (now() AT TIME ZONE time_zone)::date AS today, now() AS now
FROM tenants WHERE id = current_tenant_id();

-- name: set_user_profile
UPDATE users SET title = %(title)s, manager_id = %(manager_id)s WHERE id = %(user_id)s;

-- name: demo_users
SELECT id, email, name, role FROM users ORDER BY role, email;

-- name: active_executions
-- The customers' active executions with where they stand, in the book's order.
SELECT e.id, e.customer_id, c.external_id, w.workflow_id, e.current_step_id, c.csm_id
FROM workflow_executions e
JOIN customers c ON c.id = e.customer_id
JOIN workflows w ON w.id = e.workflow_id
WHERE e.status = 'active'
ORDER BY c.external_id;

-- name: demo_counts
SELECT
  (SELECT count(*) FROM customers) AS customers,
  (SELECT count(*) FROM contacts) AS contacts,
  (SELECT count(*) FROM usage_metrics) AS usage_metrics,
  (SELECT count(*) FROM users) AS users,
  (SELECT count(*) FROM workflow_executions WHERE status = 'active') AS active_executions,
  (SELECT count(*) FROM workflow_step_executions WHERE status = 'completed') AS completed_steps,
  (SELECT count(*) FROM workflow_tasks) AS tasks,
  (SELECT count(*) FROM notifications) AS notifications,
  (SELECT count(*) FROM customer_intelligence WHERE risk_score >= 75) AS high_risk;

-- name: core_workflow_ids
SELECT workflow_id FROM workflows WHERE is_core ORDER BY workflow_id;
