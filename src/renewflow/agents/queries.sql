-- Agent tasks and their steps, as their owner (the app role, in the owner's transaction: the
-- owner-only policies of migration 0025 decide what each statement sees). Every change to the
-- steps' order first locks the task's row (lock_task), so concurrent edits of one task take
-- turns and each sees the order the previous one left: 1..n, unique, gapless.

-- name: insert_task
INSERT INTO agent_tasks (tenant_id, user_id, name, instructions, context_budget_chars)
VALUES (current_tenant_id(), current_app_user_id(), %(name)s, %(instructions)s,
        %(context_budget_chars)s)
RETURNING id;

-- name: insert_steps
-- The steps of a new task, numbered in the order given.
INSERT INTO task_steps (tenant_id, task_id, step_order, step_name, instructions,
                        include_previous_context, max_retries, timeout_seconds, model,
                        requires_approval)
SELECT current_tenant_id(), %(task_id)s, s.ord, s.step_name, s.instructions,
       s.include_previous_context, s.max_retries, s.timeout_seconds, s.model, s.requires_approval
FROM ROWS FROM (jsonb_to_recordset(%(steps)s)
       AS (step_name text, instructions text, include_previous_context boolean,
           max_retries integer, timeout_seconds integer, model text, requires_approval boolean))
     WITH ORDINALITY AS s(step_name, instructions, include_previous_context, max_retries,
                          timeout_seconds, model, requires_approval, ord);

-- name: lock_task
-- FOR UPDATE needs the update policy too: a task its caller may only read (an admin reading
-- another user's) is not found here, as it is not there to change.
SELECT id, status FROM agent_tasks WHERE id = %(task_id)s FOR UPDATE;

-- name: count_steps
-- A statement of its own after lock_task: a statement that waited for the lock still reads with
-- the snapshot it started with, and would count the steps as they were before the edit it
-- waited for (READ COMMITTED re-reads only the locked row itself).
SELECT count(*) AS step_count FROM task_steps WHERE task_id = %(task_id)s;

-- name: get_task
SELECT t.id, t.tenant_id, t.user_id, t.name, t.instructions, t.status, t.context_budget_chars,
       t.started_at, t.completed_at, t.error_message, t.created_at, t.updated_at
FROM agent_tasks t WHERE t.id = %(task_id)s;

-- name: task_steps
-- A task's steps in order, each with what its LLM calls cost (every attempt's).
SELECT s.id, s.task_id, s.step_order, s.step_name, s.instructions, s.include_previous_context,
       s.status, s.max_retries, s.retry_count, s.timeout_seconds, s.model, s.requires_approval,
       s.approved_at, s.approved_by, (s.status = 'pending' AND s.run_after IS NOT NULL) AS queued,
       s.context_data, s.execution_result, s.error_message, s.execution_started_at,
       s.execution_completed_at,
       coalesce(u.calls, 0) AS calls, coalesce(u.input_tokens, 0) AS input_tokens,
       coalesce(u.output_tokens, 0) AS output_tokens, coalesce(u.cost_usd, 0) AS cost_usd
FROM task_steps s
LEFT JOIN LATERAL (
  SELECT count(*) AS calls, sum(c.input_tokens) AS input_tokens,
         sum(c.output_tokens) AS output_tokens, sum(c.cost_usd) AS cost_usd
  FROM llm_calls c WHERE c.tenant_id = s.tenant_id AND c.task_step_id = s.id
) u ON true
WHERE s.task_id = %(task_id)s
ORDER BY s.step_order;

-- name: list_tasks
-- `everyone`: all the tasks the caller may read (an admin: the tenant's); otherwise its own.
SELECT t.id, t.user_id, t.name, t.status, t.started_at, t.completed_at, t.created_at,
       count(*) OVER () AS total_count,
       (SELECT count(*) FROM task_steps s WHERE s.task_id = t.id) AS step_count,
       (SELECT count(*) FROM task_steps s WHERE s.task_id = t.id AND s.status = 'completed')
         AS completed_steps,
       coalesce(u.calls, 0) AS calls, coalesce(u.input_tokens, 0) AS input_tokens,
       coalesce(u.output_tokens, 0) AS output_tokens, coalesce(u.cost_usd, 0) AS cost_usd
FROM agent_tasks t
LEFT JOIN LATERAL (
  SELECT count(*) AS calls, sum(c.input_tokens) AS input_tokens,
         sum(c.output_tokens) AS output_tokens, sum(c.cost_usd) AS cost_usd
  FROM task_steps s JOIN llm_calls c ON c.tenant_id = s.tenant_id AND c.task_step_id = s.id
  WHERE s.task_id = t.id
) u ON true
WHERE (%(everyone)s OR t.user_id = current_app_user_id())
  AND (%(status)s::text IS NULL OR t.status = %(status)s)
ORDER BY t.created_at DESC, t.id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: update_task
UPDATE agent_tasks
SET name = coalesce(%(name)s, name),
    instructions = coalesce(%(instructions)s, instructions),
    context_budget_chars = coalesce(%(context_budget_chars)s, context_budget_chars)
WHERE id = %(task_id)s;

-- name: delete_task
DELETE FROM agent_tasks WHERE id = %(task_id)s RETURNING id;

-- name: step_ids
SELECT id FROM task_steps WHERE task_id = %(task_id)s ORDER BY step_order;

-- name: insert_step
-- The later steps move down one and the new one takes `position`, in one statement: the
-- deferrable uniqueness of (task, order) is checked at its end, when the order is whole again.
WITH shifted AS (
  UPDATE task_steps SET step_order = step_order + 1
  WHERE task_id = %(task_id)s AND step_order >= %(position)s
  RETURNING id
)
INSERT INTO task_steps (tenant_id, task_id, step_order, step_name, instructions,
                        include_previous_context, max_retries, timeout_seconds, model,
                        requires_approval)
VALUES (current_tenant_id(), %(task_id)s, %(position)s, %(step_name)s, %(instructions)s,
        %(include_previous_context)s, %(max_retries)s, %(timeout_seconds)s, %(model)s,
        %(requires_approval)s)
RETURNING id;

-- name: update_step
UPDATE task_steps
SET step_name = coalesce(%(step_name)s, step_name),
    instructions = coalesce(%(instructions)s, instructions),
    include_previous_context = coalesce(%(include_previous_context)s, include_previous_context),
    max_retries = coalesce(%(max_retries)s, max_retries),
    timeout_seconds = CASE WHEN %(set_timeout)s THEN %(timeout_seconds)s ELSE timeout_seconds END,
    model = CASE WHEN %(set_model)s THEN %(model)s ELSE model END,
    requires_approval = coalesce(%(requires_approval)s, requires_approval)
WHERE id = %(step_id)s AND task_id = %(task_id)s
RETURNING id;

-- name: delete_step
-- The step goes and the later ones move up one, in one statement.
WITH gone AS (
  DELETE FROM task_steps WHERE id = %(step_id)s AND task_id = %(task_id)s RETURNING step_order
), closed_up AS (
  UPDATE task_steps SET step_order = step_order - 1
  WHERE task_id = %(task_id)s AND step_order > (SELECT step_order FROM gone)
  RETURNING id
)
SELECT count(*) AS deleted FROM gone;

-- name: reorder_steps
-- Every step takes its position in `step_ids` (checked beforehand to name each step once).
UPDATE task_steps s SET step_order = o.ord
FROM unnest(%(step_ids)s::uuid[]) WITH ORDINALITY AS o(id, ord)
WHERE s.task_id = %(task_id)s AND s.id = o.id AND s.step_order <> o.ord;

-- name: reset_steps
-- A new run starts from the first step: what an earlier run left is cleared (its LLM calls
-- stay in llm_calls, still linked to their steps).
UPDATE task_steps
SET status = 'pending', execution_result = '{}'::jsonb, context_data = '{}'::jsonb,
    error_message = NULL, retry_count = 0, approved_at = NULL, approved_by = NULL,
    run_after = NULL, execution_started_at = NULL, execution_completed_at = NULL,
    lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
WHERE task_id = %(task_id)s;

-- name: reopen_unfinished_steps
-- A resumed run starts at its failed (or interrupted) step; completed and skipped ones stay.
UPDATE task_steps
SET status = 'pending', error_message = NULL, retry_count = 0, run_after = NULL,
    execution_started_at = NULL, execution_completed_at = NULL,
    lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
WHERE task_id = %(task_id)s AND status IN ('failed', 'running');

-- name: start_task
UPDATE agent_tasks
SET status = 'running', error_message = NULL, completed_at = NULL,
    started_at = CASE WHEN %(fresh)s THEN clock_timestamp() ELSE coalesce(started_at, clock_timestamp()) END
WHERE id = %(task_id)s;

-- name: advance
SELECT agent_task_advance(%(task_id)s) AS state;

-- name: cancel_task
-- A step in flight loses its lease: its worker's late finish is refused (and its call's cost
-- still recorded). Queued steps leave the queue.
WITH stopped AS (
  UPDATE task_steps
  SET status = CASE WHEN status = 'running' THEN 'pending' ELSE status END,
      run_after = NULL, lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
  WHERE task_id = %(task_id)s AND status IN ('pending', 'running')
  RETURNING id
)
UPDATE agent_tasks
SET status = 'cancelled', completed_at = clock_timestamp(),
    error_message = 'cancelled by its owner'
WHERE id = %(task_id)s;

-- name: next_step
-- The first step still to do: the one a paused or failed run waits on.
SELECT id, status, requires_approval, approved_at FROM task_steps
WHERE task_id = %(task_id)s AND status IN ('pending', 'failed')
ORDER BY step_order LIMIT 1;

-- name: approve_step
UPDATE task_steps SET approved_at = clock_timestamp(), approved_by = current_app_user_id()
WHERE id = %(step_id)s;

-- name: skip_step
UPDATE task_steps
SET status = 'skipped', run_after = NULL, execution_completed_at = clock_timestamp(),
    error_message = NULL
WHERE id = %(step_id)s;
