-- Task mode and the executions screens: reads only, as the app role in the signed-in user's
-- tenant (row-level security scopes every table). Every write goes through renewflow.engine.

-- name: execution_list
-- The executions list, newest first, filtered by status, workflow and customer (by id, or by a
-- part of its name); an offset page with one row more than asked, to know whether one follows.
SELECT e.id, e.customer_id, c.name AS customer_name, w.workflow_id, w.name AS workflow_name,
       e.workflow_version, e.status, e.current_step_id, e.trigger_reason ->> 'rule' AS rule,
       e.started_at, e.completed_at,
       (SELECT count(*) FROM workflow_step_executions s
        WHERE s.workflow_execution_id = e.id AND s.status = 'failed') AS failures,
       (SELECT s.status FROM workflow_step_executions s
        WHERE s.workflow_execution_id = e.id AND s.status IN ('queued', 'running')
        LIMIT 1) AS live_status,
       count(*) OVER () AS total_count
FROM workflow_executions e
JOIN customers c ON c.id = e.customer_id
JOIN workflows w ON w.id = e.workflow_id
WHERE (%(status)s::text IS NULL OR e.status = %(status)s)
  AND (%(workflow_id)s::text IS NULL OR w.workflow_id = %(workflow_id)s)
  AND (%(customer_id)s::uuid IS NULL OR e.customer_id = %(customer_id)s)
  AND (%(search)s::text IS NULL OR c.name ILIKE '%%' || %(search)s || '%%')
ORDER BY e.started_at DESC, e.id DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- name: execution_workflows
SELECT workflow_id, name FROM get_tenant_workflows(current_tenant_id()) ORDER BY name;

-- name: execution_customer
SELECT id, name FROM customers WHERE id = %(customer_id)s;

-- name: step_tasks
-- The action-plan tasks each finished step created, or surfaced (an open task the customer
-- already had), as its response lists them; with their status now.
SELECT s.id AS step_execution_id, t.id, t.action, t.status, t.priority, t.due_date, t.task_type,
       coalesce((r.item ->> 'created')::boolean, true) AS created
FROM workflow_step_executions s
CROSS JOIN LATERAL jsonb_array_elements(
  CASE WHEN jsonb_typeof(s.response -> 'tasks') = 'array' THEN s.response -> 'tasks'
       ELSE '[]'::jsonb END) AS r(item)
JOIN workflow_tasks t ON t.id::text = r.item ->> 'id'
WHERE s.workflow_execution_id = %(execution_id)s
ORDER BY s.created_at, t.priority, t.created_at;

-- name: execution_notifications
-- The notifications of the execution (one row per channel and recipient); `notification_type`
-- is the config's notification id, which names the step that triggers it.
SELECT id, notification_type, channel, recipient, title, priority, status, attempts, last_error,
       created_at
FROM notifications
WHERE workflow_execution_id = %(execution_id)s
ORDER BY created_at, id;

-- name: timeline_steps
-- Every step execution of the execution, oldest first, with where it routed (`nextStep` of the
-- response it answered) and how long it took.
SELECT s.id, s.step_id, s.step_index, s.status, s.mode, s.attempt, s.outputs, s.artifacts,
       s.error_message, s.skip_reason, s.queued_at, s.started_at, s.completed_at, s.created_at,
       s.status_code, s.response -> 'nextStep' ->> 'stepId' AS next_step_id,
       s.response ->> 'executionStatus' AS execution_status,
       s.request ->> 'actorRole' AS actor_role,
       u.email AS actor_email,
       (extract(epoch FROM s.completed_at - coalesce(s.started_at, s.queued_at)) * 1000)::bigint
         AS duration_ms
FROM workflow_step_executions s
LEFT JOIN users u ON u.id::text = s.request ->> 'actorUserId'
WHERE s.workflow_execution_id = %(execution_id)s
ORDER BY s.created_at, s.id;

-- name: execution_llm_calls
SELECT id, step_execution_id, provider, model, input_tokens, output_tokens, cost_usd,
       latency_ms, attempts, status, error_kind, created_at
FROM llm_calls
WHERE workflow_execution_id = %(execution_id)s
ORDER BY created_at, id;

-- name: execution_marker
-- What changes when a run is claimed, finishes, or the execution moves. Each statement of a
-- READ COMMITTED transaction sees its own snapshot: a page whose reads began and ended on the
-- same marker saw one state (never a run "done" next to the step it has already left).
SELECT e.status, e.current_step_id,
       string_agg(s.id::text || ':' || s.status, ',' ORDER BY s.created_at, s.id) AS runs
FROM workflow_executions e
LEFT JOIN workflow_step_executions s ON s.workflow_execution_id = e.id
WHERE e.id = %(execution_id)s
GROUP BY e.id;
