-- The console's reads, as the app role in the signed-in user's tenant. `%(mine)s` narrows a CSM's
-- views to their own book (customers whose CSM they are, tasks assigned to them); managers and
-- admins see the whole tenant.

-- name: tenant_time_zone
SELECT time_zone FROM tenants WHERE id = current_tenant_id();

-- name: tenant_today
SELECT (now() AT TIME ZONE time_zone)::date AS today FROM tenants WHERE id = current_tenant_id();

-- name: today_tasks
-- Open CSM tasks due by tomorrow (tenant's calendar), snoozes waking within a day, and tasks past
-- their snooze deadline (a decision is due); with the customer for each.
WITH local AS (
  SELECT (now() AT TIME ZONE t.time_zone)::date AS today FROM tenants t WHERE t.id = current_tenant_id()
)
SELECT t.id, t.action, t.status, t.priority, t.due_date, t.snoozed_until, t.snooze_deadline,
       t.requires_decision OR (t.snooze_deadline IS NOT NULL AND t.snooze_deadline <= now())
         AS needs_decision,
       t.task_type, c.id AS customer_id, c.name AS customer_name,
       CASE
         WHEN t.requires_decision OR (t.snooze_deadline IS NOT NULL AND t.snooze_deadline <= now())
           THEN 'decision'
         WHEN t.status = 'snoozed' THEN 'waking'
         WHEN t.due_date < l.today THEN 'overdue'
         ELSE 'today'
       END AS bucket
FROM workflow_tasks t
CROSS JOIN local l
JOIN customers c ON c.id = t.customer_id
WHERE t.task_type = 'CSM_TASK' AND t.parent_task_id IS NULL
  AND (NOT %(mine)s OR t.assigned_to = %(user_id)s OR c.csm_id = %(user_id)s)
  AND (
    (t.status IN ('pending', 'in_progress') AND t.due_date <= l.today)
    OR (t.status = 'snoozed' AND t.snoozed_until <= now() + interval '1 day')
    OR (t.status IN ('pending', 'in_progress', 'snoozed')
        AND (t.requires_decision OR t.snooze_deadline <= now()))
  )
ORDER BY t.priority, t.due_date NULLS LAST, t.created_at
LIMIT 200;

-- name: today_escalations
-- High and urgent notifications of the last week, each once (a notification goes out once per
-- recipient and channel: the newest of each title and customer is shown).
SELECT * FROM (
  SELECT DISTINCT ON (n.title, n.customer_id)
         n.id, n.title, n.priority, n.created_at, n.channel, n.status, c.id AS customer_id,
         c.name AS customer_name
  FROM notifications n
  LEFT JOIN customers c ON c.id = n.customer_id
  WHERE n.created_at > now() - interval '7 days'
    AND n.priority IN ('high', 'urgent', 'critical')
    AND (NOT %(mine)s OR n.recipient_user_id = %(user_id)s OR c.csm_id = %(user_id)s)
  ORDER BY n.title, n.customer_id, n.created_at DESC
) latest
ORDER BY created_at DESC
LIMIT 20;

-- name: renewals_ahead
-- Active contracts renewing in the next 120 days (and the overdue ones), by window.
WITH local AS (
  SELECT (now() AT TIME ZONE t.time_zone)::date AS today FROM tenants t WHERE t.id = current_tenant_id()
)
SELECT c.id, c.name, k.arr, k.currency, k.renewal_date, k.renewal_date - l.today AS days,
       i.risk_score, w.name AS workflow_name
FROM contracts k
CROSS JOIN local l
JOIN customers c ON c.id = k.customer_id
LEFT JOIN customer_intelligence i ON i.customer_id = c.id
LEFT JOIN workflow_executions e ON e.customer_id = c.id AND e.status = 'active'
LEFT JOIN workflows w ON w.id = e.workflow_id
WHERE k.status = 'active' AND k.renewal_date - l.today <= 120
  AND (NOT %(mine)s OR c.csm_id = %(user_id)s)
ORDER BY k.renewal_date, c.name
LIMIT 500;

-- name: book_by_renewal
-- The renewal book (renewal_book_filtered, migration 0019), soonest renewal first; keyset
-- pagination on (renewal_date, id).
SELECT b.* FROM renewal_book_filtered(%(mine)s, %(user_id)s, %(search)s, %(stage)s, %(owner)s,
                           %(risk_min)s, %(risk_max)s, %(within)s) b
WHERE %(after_id)s::uuid IS NULL
   OR (b.renewal_date, b.id) > (%(after_date)s::date, %(after_id)s::uuid)
ORDER BY b.renewal_date, b.id
LIMIT %(limit)s;

-- name: book_by_arr
-- Largest ARR first; keyset on (arr DESC, id DESC).
SELECT b.* FROM renewal_book_filtered(%(mine)s, %(user_id)s, %(search)s, %(stage)s, %(owner)s,
                           %(risk_min)s, %(risk_max)s, %(within)s) b
WHERE %(after_id)s::uuid IS NULL OR (b.arr, b.id) < (%(after_arr)s::numeric, %(after_id)s::uuid)
ORDER BY b.arr DESC, b.id DESC
LIMIT %(limit)s;

-- name: book_by_risk
-- Riskiest first, unscored last; keyset on (risk_key DESC, id DESC).
SELECT b.* FROM renewal_book_filtered(%(mine)s, %(user_id)s, %(search)s, %(stage)s, %(owner)s,
                           %(risk_min)s, %(risk_max)s, %(within)s) b
WHERE %(after_id)s::uuid IS NULL
   OR (b.risk_key, b.id) < (%(after_risk)s::int, %(after_id)s::uuid)
ORDER BY b.risk_key DESC, b.id DESC
LIMIT %(limit)s;

-- name: book_stages
SELECT workflow_id, name FROM get_tenant_workflows(current_tenant_id()) ORDER BY name;

-- name: book_owners
SELECT id, coalesce(name, email) AS name FROM users
WHERE active AND role IN ('csm', 'manager', 'admin') ORDER BY 2;

-- name: book_by_month
-- ARR renewing per month over the next 12 months (overdue counted in this month), by risk band.
SELECT greatest(date_trunc('month', b.renewal_date), date_trunc('month', b.today))::date AS month,
       CASE WHEN b.risk_score >= 70 THEN 'high' WHEN b.risk_score >= 40 THEN 'medium'
            ELSE 'low' END AS band,
       sum(b.arr) AS arr, count(*) AS customers
FROM renewal_book b
WHERE b.days < 366 AND (NOT %(mine)s OR b.owner_id = %(user_id)s)
GROUP BY 1, 2
ORDER BY 1, 2;
