-- name: insert_tenant
INSERT INTO tenants (name, time_zone) VALUES (%(name)s, %(time_zone)s)
RETURNING id, name, time_zone, created_at;

-- name: get_tenant
SELECT id, name, time_zone, created_at FROM tenants WHERE id = %(tenant_id)s;

-- name: insert_user
INSERT INTO users (tenant_id, email, name, role, manager_id, time_zone)
VALUES (current_tenant_id(), %(email)s, %(name)s, %(role)s, %(manager_id)s, %(time_zone)s)
RETURNING id, tenant_id, email, name, role, active, created_at;

-- name: get_user
SELECT u.id, u.tenant_id, u.email, u.name, u.title, u.role, u.manager_id, m.email AS manager_email,
       u.time_zone, u.active, u.created_at, u.updated_at
FROM users u LEFT JOIN users m ON m.id = u.manager_id
WHERE u.id = %(user_id)s;

-- name: get_user_by_email
SELECT u.id, u.tenant_id, u.email, u.name, u.title, u.role, u.manager_id, m.email AS manager_email,
       u.time_zone, u.active, u.created_at, u.updated_at
FROM users u LEFT JOIN users m ON m.id = u.manager_id
WHERE lower(u.email) = lower(%(email)s);

-- name: list_users
SELECT u.id, u.tenant_id, u.email, u.name, u.title, u.role, u.manager_id, m.email AS manager_email,
       u.time_zone, u.active, u.created_at, u.updated_at
FROM users u LEFT JOIN users m ON m.id = u.manager_id
WHERE (%(active)s::boolean IS NULL OR u.active = %(active)s)
  AND (%(role)s::text IS NULL OR u.role = %(role)s)
ORDER BY lower(u.email) LIMIT %(limit)s OFFSET %(offset)s;

-- name: update_user
-- One statement: every field of a change lands together or not at all. The triggers of migration
-- 0021 refuse a cycle of managers or an unknown time zone, demote the user's keys with them and
-- end their sessions when they are deactivated.
UPDATE users SET
  name = CASE WHEN %(set_name)s THEN %(name)s ELSE name END,
  role = coalesce(%(role)s, role),
  manager_id = CASE WHEN %(set_manager)s THEN %(manager_id)s::uuid ELSE manager_id END,
  time_zone = CASE WHEN %(set_time_zone)s THEN %(time_zone)s ELSE time_zone END,
  active = coalesce(%(active)s, active)
WHERE id = %(user_id)s
RETURNING id;

-- name: work_of_user
-- What a user has to hand over: their open tasks, the customers they are the CSM of, and the
-- customers whose escalations go to them (the account team's manager override).
SELECT (SELECT count(*) FROM workflow_tasks
        WHERE assigned_to = %(user_id)s AND status IN ('pending', 'in_progress', 'snoozed'))
         AS open_tasks,
       (SELECT count(*) FROM customers WHERE csm_id = %(user_id)s) AS customers,
       (SELECT count(*) FROM customers WHERE manager_override_id = %(user_id)s) AS escalations,
       (SELECT count(*) FROM users WHERE manager_id = %(user_id)s) AS reports;

-- name: reassign_work
-- Hands a user's open tasks, customers and manager overrides to another user, in one statement.
-- Closed tasks keep who did them. The target is checked first (an active user of the tenant);
-- the statement checks it again, so a target deactivated meanwhile moves nothing.
WITH target AS (
  SELECT id FROM users WHERE id = %(to_user_id)s AND active FOR KEY SHARE
), tasks AS (
  UPDATE workflow_tasks SET assigned_to = (SELECT id FROM target)
  WHERE assigned_to = %(from_user_id)s AND status IN ('pending', 'in_progress', 'snoozed')
    AND EXISTS (SELECT 1 FROM target)
  RETURNING 1
), affected AS (
  -- one UPDATE of customers below, not two: a row can be both (CSM and override)
  SELECT id, csm_id = %(from_user_id)s AS as_csm,
         manager_override_id IS NOT DISTINCT FROM %(from_user_id)s AS as_override
  FROM customers WHERE csm_id = %(from_user_id)s OR manager_override_id = %(from_user_id)s
), owned AS (
  UPDATE customers c SET
    csm_id = CASE WHEN a.as_csm THEN t.id ELSE c.csm_id END,
    manager_override_id = CASE WHEN a.as_override THEN t.id ELSE c.manager_override_id END
  FROM affected a, target t
  WHERE c.id = a.id
  RETURNING a.as_csm, a.as_override
)
SELECT EXISTS (SELECT 1 FROM target) AS moved,
       (SELECT count(*) FROM tasks) AS tasks,
       (SELECT count(*) FROM owned WHERE as_csm) AS customers,
       (SELECT count(*) FROM owned WHERE as_override) AS escalations;

-- name: insert_api_key
INSERT INTO api_keys (tenant_id, user_id, role, name, key_hash, key_prefix)
VALUES (current_tenant_id(), %(user_id)s, %(role)s, %(name)s, %(key_hash)s, %(key_prefix)s)
RETURNING id;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = now() WHERE id = %(key_id)s AND revoked_at IS NULL
RETURNING id;

-- name: authenticate
SELECT key_id, tenant_id, user_id, role, email FROM authenticate_api_key(%(key_hash)s);

-- name: current_tenant_settings
SELECT settings FROM tenants WHERE id = current_tenant_id();
