-- The periodic task sweep's statements over every tenant but %(skip_tenants)s (those whose sweep
-- failed before: they run alone, in their own transaction). The same changes as wake_snoozed
-- and flag_decisions in queries.sql, which the API runs inside one tenant's transaction.

-- name: wake_snoozed
UPDATE workflow_tasks
SET status = 'pending', snoozed_until = NULL
WHERE status = 'snoozed' AND snoozed_until <= now()
  AND tenant_id <> ALL(%(skip_tenants)s::uuid[])
RETURNING id;

-- name: flag_decisions
UPDATE workflow_tasks
SET requires_decision = true
WHERE snooze_deadline <= now() AND NOT requires_decision
  AND status IN ('pending', 'in_progress', 'snoozed')
  AND tenant_id <> ALL(%(skip_tenants)s::uuid[])
RETURNING id;
