-- The action plan inbox's reads, as the app role in the signed-in user's tenant. Every change of a
-- task goes through renewflow.tasks; nothing here writes. `%(mine)s` narrows to the user's book:
-- tasks assigned to them, or of customers they own.

-- name: inbox
-- Top-level tasks by bucket (overdue, today, upcoming on the tenant's calendar; snoozed; done in
-- the last 14 days), at most `per_bucket` of each with each bucket's total; or one task's row
-- (`task_id`), for a row swapped in place.
WITH local AS (
  SELECT (now() AT TIME ZONE t.time_zone)::date AS today FROM tenants t WHERE t.id = current_tenant_id()
),
picked AS (
  SELECT t.id, t.action, t.task_type, t.status, t.priority, t.due_date, t.snoozed_until,
         t.snooze_deadline, t.snooze_count, t.execution_status, t.processor, t.assigned_to,
         t.skip_reason, t.created_at, t.customer_id, c.name AS customer_name,
         coalesce(t.completed_at, t.skipped_at, t.updated_at) AS closed_at,
         t.status IN ('pending', 'in_progress', 'snoozed')
           AND (t.requires_decision OR coalesce(t.snooze_deadline <= now(), false)) AS needs_decision,
         CASE
           WHEN t.status IN ('completed', 'skipped', 'cancelled') THEN 'done'
           WHEN t.status = 'snoozed' THEN 'snoozed'
           WHEN t.due_date < l.today THEN 'overdue'
           WHEN t.due_date = l.today THEN 'today'
           ELSE 'upcoming'
         END AS bucket
  FROM workflow_tasks t
  CROSS JOIN local l
  JOIN customers c ON c.id = t.customer_id
  WHERE t.parent_task_id IS NULL
    AND (NOT %(mine)s OR t.assigned_to = %(user_id)s OR c.csm_id = %(user_id)s)
    AND (%(customer_id)s::uuid IS NULL OR t.customer_id = %(customer_id)s)
    AND (%(task_type)s::text IS NULL OR t.task_type = %(task_type)s)
    AND (%(task_id)s::uuid IS NULL OR t.id = %(task_id)s)
    AND (t.status NOT IN ('completed', 'skipped', 'cancelled')
         OR %(task_id)s::uuid IS NOT NULL
         OR coalesce(t.completed_at, t.skipped_at, t.updated_at) > now() - interval '14 days')
),
ranked AS (
  SELECT p.*,
         row_number() OVER (
           PARTITION BY p.bucket
           ORDER BY CASE WHEN p.bucket = 'done' THEN p.closed_at END DESC NULLS LAST,
                    CASE WHEN p.bucket = 'snoozed' THEN p.snoozed_until END NULLS LAST,
                    p.due_date NULLS LAST, p.priority, p.created_at, p.id
         ) AS position,
         count(*) OVER (PARTITION BY p.bucket) AS bucket_total
  FROM picked p
)
SELECT r.*, coalesce(a.name, a.email) AS assignee, s.total AS subtasks, s.done AS subtasks_done
FROM ranked r
LEFT JOIN users a ON a.id = r.assigned_to
LEFT JOIN LATERAL (
  SELECT count(*) AS total,
         count(*) FILTER (WHERE k.status IN ('completed', 'skipped', 'cancelled')) AS done
  FROM workflow_tasks k WHERE k.parent_task_id = r.id
) s ON true
WHERE r.position <= %(per_bucket)s
ORDER BY r.bucket, r.position;

-- name: inbox_customers
-- The customers with a task in the user's view, for the customer filter.
SELECT c.id, c.name
FROM customers c
WHERE EXISTS (
  SELECT 1 FROM workflow_tasks t
  WHERE t.customer_id = c.id AND t.parent_task_id IS NULL
    AND (NOT %(mine)s OR t.assigned_to = %(user_id)s OR c.csm_id = %(user_id)s)
)
ORDER BY lower(c.name), c.id
LIMIT 500;

-- name: task_scope
-- Whether a task is in the user's book (assigned to them, or of a customer they own); no row: no
-- such task in this tenant.
SELECT (t.assigned_to IS NOT DISTINCT FROM %(user_id)s OR c.csm_id IS NOT DISTINCT FROM %(user_id)s)
         AS in_book
FROM workflow_tasks t
JOIN customers c ON c.id = t.customer_id
WHERE t.id = %(task_id)s;

-- name: task_context
-- What the task page shows around a task: its customer, assignee, execution and parent, the
-- tenant's clock.
SELECT c.id AS customer_id, c.name AS customer_name, coalesce(a.name, a.email) AS assignee,
       w.name AS workflow_name, e.status AS execution_state, p.id AS parent_id,
       p.action AS parent_action, now() AS now
FROM workflow_tasks t
JOIN customers c ON c.id = t.customer_id
LEFT JOIN users a ON a.id = t.assigned_to
LEFT JOIN workflow_executions e ON e.id = t.workflow_execution_id
LEFT JOIN workflows w ON w.id = e.workflow_id
LEFT JOIN workflow_tasks p ON p.id = t.parent_task_id
WHERE t.id = %(task_id)s;

-- name: now
SELECT now() AS now;
