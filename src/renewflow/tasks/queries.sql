-- The action plan's tasks, as the app role inside one tenant's transaction (row-level security
-- scopes every statement below to that tenant), except where a query says it is the sweep's.
-- Every status move is one UPDATE guarded by the statuses it may leave from, so a concurrent move
-- makes it match no row instead of overwriting.

-- name: tenant_settings
SELECT settings FROM tenants WHERE id = current_tenant_id();

-- name: insert_task
INSERT INTO workflow_tasks (
  tenant_id, workflow_execution_id, step_execution_id, customer_id, task_type, owner, action,
  description, recommendation_id, status, priority, auto_execute, processor, execution_status,
  parent_task_id, estimated_completion_time, complexity, metadata, assigned_to, due_date,
  max_attempts, original_workflow_execution_id, surfaced_in_workflow_ids
) VALUES (
  current_tenant_id(), %(workflow_execution_id)s, %(step_execution_id)s, %(customer_id)s,
  %(task_type)s, %(owner)s, %(action)s, %(description)s, %(recommendation_id)s, %(status)s,
  %(priority)s, %(auto_execute)s, %(processor)s, %(execution_status)s, %(parent_task_id)s,
  %(estimated_completion_time)s, %(complexity)s, %(metadata)s, %(assigned_to)s, %(due_date)s,
  %(max_attempts)s, %(workflow_execution_id)s, ARRAY[%(workflow_execution_id)s]::uuid[]
)
RETURNING *;

-- name: get_task
SELECT * FROM workflow_tasks WHERE id = %(id)s;

-- name: lock_task
SELECT * FROM workflow_tasks WHERE id = %(id)s FOR UPDATE;

-- name: lock_continuity
-- Serialises "find the open task or create it" for one customer and action.
SELECT pg_advisory_xact_lock(hashtextextended(%(customer_id)s::text || '/' || lower(%(action)s), 7));

-- name: find_open_task
-- Continuity: the customer's open top-level task doing the same thing, from any workflow.
SELECT * FROM workflow_tasks
WHERE customer_id = %(customer_id)s AND task_type = %(task_type)s
  AND lower(action) = lower(%(action)s) AND parent_task_id IS NULL
  AND status IN ('pending', 'in_progress', 'snoozed')
ORDER BY created_at
LIMIT 1;

-- name: surface_task
UPDATE workflow_tasks
SET surfaced_in_workflow_ids = array_append(coalesce(surfaced_in_workflow_ids, '{}'), %(execution_id)s),
    original_workflow_execution_id = coalesce(original_workflow_execution_id, workflow_execution_id)
WHERE id = %(id)s AND NOT (%(execution_id)s = ANY(coalesce(surfaced_in_workflow_ids, '{}')))
RETURNING *;

-- name: surface_open_tasks
-- Continuity: every open top-level task of each customer appears in the customer's new workflow
-- execution (once), keeping the execution it was first created in. Pairs of arrays, so the sweep
-- surfaces the tasks of thousands of customers in one statement.
UPDATE workflow_tasks k
SET surfaced_in_workflow_ids = array_append(coalesce(k.surfaced_in_workflow_ids, '{}'), n.execution_id),
    original_workflow_execution_id = coalesce(k.original_workflow_execution_id, k.workflow_execution_id)
FROM unnest(%(customer_ids)s::uuid[], %(execution_ids)s::uuid[]) AS n(customer_id, execution_id)
WHERE k.customer_id = n.customer_id AND k.parent_task_id IS NULL
  AND k.status IN ('pending', 'in_progress', 'snoozed')
  AND k.workflow_execution_id <> n.execution_id
  AND NOT (n.execution_id = ANY(coalesce(k.surfaced_in_workflow_ids, '{}')))
RETURNING k.*;

-- name: list_tasks
-- One page of the filtered tasks, and their total: the total rides on a row of its own side of
-- the join, so a page past the end still says how many there are (a single row of NULL task).
WITH filtered AS (
  SELECT t.* FROM workflow_tasks t
  WHERE (%(auto_execute)s::boolean IS NULL OR t.auto_execute = %(auto_execute)s)
    AND (%(execution_status)s::text IS NULL OR t.execution_status = %(execution_status)s)
    AND (%(status)s::text IS NULL OR t.status = %(status)s)
    AND (%(owner)s::text IS NULL OR t.owner = %(owner)s)
    AND (%(task_type)s::text IS NULL OR t.task_type = %(task_type)s)
    AND (%(customer_id)s::uuid IS NULL OR t.customer_id = %(customer_id)s)
    AND (%(assigned_to)s::uuid IS NULL OR t.assigned_to = %(assigned_to)s)
    AND (%(priority)s::integer IS NULL OR t.priority = %(priority)s)
    AND (%(due_before)s::date IS NULL OR t.due_date <= %(due_before)s)
    AND (%(due_after)s::date IS NULL OR t.due_date >= %(due_after)s)
    AND (%(parent_task_id)s::uuid IS NULL OR t.parent_task_id = %(parent_task_id)s)
    AND (%(workflow_execution_id)s::uuid IS NULL
         OR t.workflow_execution_id = %(workflow_execution_id)s
         OR %(workflow_execution_id)s = ANY(coalesce(t.surfaced_in_workflow_ids, '{}')))
)
SELECT page.*, total.n AS total_count
FROM (SELECT count(*) AS n FROM filtered) total
LEFT JOIN LATERAL (
  SELECT f.* FROM filtered f
  ORDER BY
    CASE WHEN %(sort)s = 'priority' AND NOT %(descending)s THEN f.priority END ASC,
    CASE WHEN %(sort)s = 'priority' AND %(descending)s THEN f.priority END DESC,
    CASE WHEN %(sort)s = 'created_at' AND NOT %(descending)s THEN f.created_at END ASC,
    CASE WHEN %(sort)s = 'created_at' AND %(descending)s THEN f.created_at END DESC,
    CASE WHEN %(sort)s = 'updated_at' AND NOT %(descending)s THEN f.updated_at END ASC,
    CASE WHEN %(sort)s = 'updated_at' AND %(descending)s THEN f.updated_at END DESC,
    CASE WHEN %(sort)s = 'due_date' AND NOT %(descending)s THEN f.due_date END ASC NULLS LAST,
    CASE WHEN %(sort)s = 'due_date' AND %(descending)s THEN f.due_date END DESC NULLS LAST,
    f.created_at, f.id
  LIMIT %(limit)s OFFSET %(offset)s
) page ON true;

-- name: task_tree
-- The spec's recursive hierarchy, rooted at one task; `path` orders siblings under their parent.
WITH RECURSIVE task_hierarchy AS (
  SELECT t.*, 0 AS depth, ARRAY[t.created_at::text || t.id::text] AS path
  FROM workflow_tasks t
  WHERE t.id = %(id)s
  UNION ALL
  SELECT t.*, th.depth + 1, th.path || (t.created_at::text || t.id::text)
  FROM workflow_tasks t
  JOIN task_hierarchy th ON t.parent_task_id = th.id AND t.tenant_id = th.tenant_id
  WHERE th.depth < 50
)
SELECT * FROM task_hierarchy ORDER BY path;

-- name: update_task
UPDATE workflow_tasks SET
  action = CASE WHEN %(set_action)s THEN %(action)s ELSE action END,
  description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END,
  priority = CASE WHEN %(set_priority)s THEN %(priority)s ELSE priority END,
  status = CASE WHEN %(set_status)s THEN %(status)s ELSE status END,
  assigned_to = CASE WHEN %(set_assigned_to)s THEN %(assigned_to)s ELSE assigned_to END,
  due_date = CASE WHEN %(set_due_date)s THEN %(due_date)s ELSE due_date END,
  metadata = CASE WHEN %(set_metadata)s THEN %(metadata)s ELSE metadata END,
  estimated_completion_time = CASE WHEN %(set_estimated_completion_time)s
    THEN %(estimated_completion_time)s ELSE estimated_completion_time END,
  complexity = CASE WHEN %(set_complexity)s THEN %(complexity)s ELSE complexity END,
  processor = CASE WHEN %(set_processor)s THEN %(processor)s ELSE processor END,
  max_attempts = CASE WHEN %(set_max_attempts)s THEN %(max_attempts)s ELSE max_attempts END,
  snoozed_until = CASE WHEN %(set_status)s THEN NULL ELSE snoozed_until END
WHERE id = %(id)s
RETURNING *;

-- name: complete_task
UPDATE workflow_tasks
SET status = 'completed', completed_at = now(), snoozed_until = NULL
WHERE id = %(id)s AND status IN ('pending', 'in_progress', 'snoozed')
  AND execution_status IS DISTINCT FROM 'running'
RETURNING *;

-- name: cancel_task
UPDATE workflow_tasks
SET status = 'cancelled', snoozed_until = NULL
WHERE id = %(id)s AND status IN ('pending', 'in_progress', 'snoozed')
  AND execution_status IS DISTINCT FROM 'running'
RETURNING *;

-- name: skip_task
UPDATE workflow_tasks
SET status = 'skipped', skipped_at = now(), skip_reason = %(reason)s, snoozed_until = NULL
WHERE id = %(id)s AND status IN ('pending', 'in_progress', 'snoozed')
  AND execution_status IS DISTINCT FROM 'running'
RETURNING *;

-- name: reopen_task
UPDATE workflow_tasks
SET status = 'pending', completed_at = NULL, skipped_at = NULL, skip_reason = NULL
WHERE id = %(id)s AND status IN ('completed', 'skipped', 'cancelled')
RETURNING *;

-- name: snooze_task
-- The deadline is set by the first snooze and never moves; past it no snooze matches.
UPDATE workflow_tasks
SET status = 'snoozed', snoozed_until = %(until)s, snooze_count = snooze_count + 1,
    first_snoozed_at = coalesce(first_snoozed_at, now()),
    snooze_deadline = coalesce(snooze_deadline, %(deadline)s)
WHERE id = %(id)s AND status IN ('pending', 'in_progress', 'snoozed')
  AND execution_status IS DISTINCT FROM 'running'
  AND NOT requires_decision
  AND (snooze_deadline IS NULL OR snooze_deadline > now())
RETURNING *;

-- name: execute_task
-- Run or retry now: queued with a fresh retry budget, claimable at once (the NOTIFY trigger
-- wakes a worker).
UPDATE workflow_tasks
SET auto_execute = true, execution_status = 'queued', run_after = now(), attempts = 0,
    last_error = NULL
WHERE id = %(id)s AND task_type = 'AI_TASK' AND processor IS NOT NULL AND status = 'pending'
  AND execution_status IS DISTINCT FROM 'running'
RETURNING *;

-- name: wake_snoozed
-- Snoozed tasks come back at snoozed_until. Inside a tenant transaction this wakes that tenant's
-- tasks; the periodic sweep runs it as the service role for every tenant.
UPDATE workflow_tasks
SET status = 'pending', snoozed_until = NULL
WHERE status = 'snoozed' AND snoozed_until <= now()
RETURNING id;

-- name: flag_decisions
-- Past the snooze deadline an open task requires a decision.
UPDATE workflow_tasks
SET requires_decision = true
WHERE snooze_deadline <= now() AND NOT requires_decision
  AND status IN ('pending', 'in_progress', 'snoozed')
RETURNING id;
