-- The customer page's reads, as the app role in the signed-in user's tenant (row-level security
-- scopes each one: another tenant's customer is simply not found). Writes go through the domain
-- packages, never through here.

-- name: customer
-- The customer, its active contract (days left on the tenant's calendar), its stage (the workflow
-- of its active execution), owner and intelligence; `in_book` says whether it is in the given
-- user's book (their customer, or one with a task assigned to them).
SELECT c.id, c.name, c.domain, c.industry, c.tier, c.segment, c.health_score, c.has_account_plan,
       c.csm_id, coalesce(u.name, u.email) AS owner, u.email AS owner_email,
       k.arr, k.currency, k.start_date, k.renewal_date, k.auto_renew,
       l.today, k.renewal_date - l.today AS days,
       w.name AS stage, e.id AS execution_id, e.current_step_id,
       i.risk_score, i.sentiment, i.ai_summary, coalesce(i.insights, '[]'::jsonb) AS insights,
       coalesce(i.generated_at, i.updated_at) AS intelligence_at,
       (c.csm_id = %(user_id)s
        OR EXISTS (SELECT 1 FROM workflow_tasks t
                   WHERE t.customer_id = c.id AND t.assigned_to = %(user_id)s)) AS in_book
FROM customers c
LEFT JOIN LATERAL (
  SELECT (now() AT TIME ZONE t.time_zone)::date AS today FROM tenants t WHERE t.id = c.tenant_id
) l ON true
LEFT JOIN users u ON u.id = c.csm_id
LEFT JOIN contracts k ON k.customer_id = c.id AND k.status = 'active'
LEFT JOIN customer_intelligence i ON i.customer_id = c.id
LEFT JOIN workflow_executions e ON e.customer_id = c.id AND e.status = 'active'
LEFT JOIN workflows w ON w.id = e.workflow_id
WHERE c.id = %(customer_id)s;

-- name: customer_contacts
-- The primary contact first, then by name.
SELECT id, name, email, title, role, is_primary
FROM contacts
WHERE customer_id = %(customer_id)s
ORDER BY is_primary DESC, lower(name), id
LIMIT 100;

-- name: customer_usage
-- Every reading since a day (the first of the month five months back: six calendar months), a
-- handful of metrics at most.
WITH metrics AS (
  SELECT metric_name FROM usage_metrics
  WHERE customer_id = %(customer_id)s AND metric_date >= %(since)s
  GROUP BY metric_name
  ORDER BY max(metric_date) DESC, metric_name
  LIMIT 8
)
SELECT m.metric_name, m.metric_date, m.value
FROM usage_metrics m
JOIN metrics USING (metric_name)
WHERE m.customer_id = %(customer_id)s AND m.metric_date >= %(since)s
ORDER BY m.metric_name, m.metric_date;

-- name: customer_tasks
-- The customer's action plan: top-level tasks, open ones first (most urgent first), then the
-- closed ones, most recently closed first; with their sub-task progress.
SELECT t.id, t.action, t.task_type, t.status, t.priority, t.due_date, t.snoozed_until,
       t.execution_status, t.completed_at, t.skipped_at,
       t.status IN ('pending', 'in_progress', 'snoozed')
         AND (t.requires_decision OR coalesce(t.snooze_deadline <= now(), false)) AS needs_decision,
       coalesce(a.name, a.email) AS assignee,
       s.total AS subtasks, s.done AS subtasks_done
FROM workflow_tasks t
LEFT JOIN users a ON a.id = t.assigned_to
LEFT JOIN LATERAL (
  SELECT count(*) AS total,
         count(*) FILTER (WHERE k.status IN ('completed', 'skipped', 'cancelled')) AS done
  FROM workflow_tasks k WHERE k.parent_task_id = t.id
) s ON true
WHERE t.customer_id = %(customer_id)s AND t.parent_task_id IS NULL
ORDER BY t.status IN ('completed', 'skipped', 'cancelled'),
         CASE WHEN t.status IN ('completed', 'skipped', 'cancelled')
              THEN coalesce(t.completed_at, t.skipped_at, t.updated_at) END DESC,
         t.priority, t.due_date NULLS LAST, t.created_at, t.id
LIMIT 100;

-- name: customer_executions
-- The customer's most recent executions, the active one first.
SELECT e.id, w.workflow_id, w.name AS workflow_name, e.workflow_version, e.status,
       e.current_step_id, e.started_at, e.completed_at
FROM workflow_executions e
JOIN workflows w ON w.id = e.workflow_id
WHERE e.customer_id = %(customer_id)s
ORDER BY e.status = 'active' DESC, e.started_at DESC, e.id
LIMIT 10;

-- name: execution_timelines
-- Each step of each execution (in the order of the version it runs) with its latest step
-- execution, if any: the timeline of the customer page, in one round trip.
SELECT e.id AS execution_id, s.ord AS position, s.step->>'id' AS step_id,
       coalesce(s.step->>'name', s.step->>'id') AS step_name,
       h.status, h.started_at, h.completed_at, h.skip_reason, h.error_message
FROM workflow_executions e
JOIN workflow_versions v ON v.workflow_id = e.workflow_id AND v.version = e.workflow_version
CROSS JOIN LATERAL jsonb_array_elements(v.config->'steps') WITH ORDINALITY AS s(step, ord)
LEFT JOIN LATERAL (
  SELECT x.status, x.started_at, x.completed_at, x.skip_reason, x.error_message
  FROM workflow_step_executions x
  WHERE x.workflow_execution_id = e.id AND x.step_id = s.step->>'id'
  ORDER BY x.created_at DESC, x.id DESC
  LIMIT 1
) h ON true
WHERE e.id = ANY(%(execution_ids)s::uuid[])
ORDER BY e.id, s.ord;

-- name: customer_notifications
SELECT n.id, n.title, n.channel, n.recipient, n.priority, n.status, n.attempts, n.last_error,
       n.sent_at, n.acknowledged_at, n.created_at
FROM notifications n
WHERE n.customer_id = %(customer_id)s
ORDER BY n.created_at DESC, n.id
LIMIT 20;
