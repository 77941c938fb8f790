-- name: now
SELECT now() AS now;

-- name: open_tasks_of_execution
-- The open tasks of an execution (its own, and those surfaced in it), locked in id order so two
-- snoozes of one execution cannot deadlock.
SELECT id, snooze_deadline
FROM workflow_tasks
WHERE (workflow_execution_id = %(execution_id)s
       OR %(execution_id)s = ANY(surfaced_in_workflow_ids))
  AND status IN ('pending', 'in_progress', 'snoozed')
ORDER BY id
FOR UPDATE;

-- name: list_actions
-- The actions the tenant sees: its own, and the core ones it has not shadowed with its own id.
SELECT DISTINCT ON (action_id)
       id, tenant_id, action_id, action_name, action_type, handler, config, available_globally,
       created_by, created_at, tenant_id IS NULL AS is_core
FROM saved_actions
ORDER BY action_id, tenant_id IS NULL;

-- name: get_action
SELECT id, tenant_id, action_id, action_name, action_type, handler, config, available_globally,
       created_by, created_at, tenant_id IS NULL AS is_core
FROM saved_actions
WHERE action_id = %(action_id)s
ORDER BY tenant_id IS NULL
LIMIT 1;

-- name: action_ids
SELECT DISTINCT action_id FROM saved_actions;

-- name: insert_action
INSERT INTO saved_actions
  (tenant_id, action_id, action_name, action_type, handler, config, available_globally, created_by)
VALUES (current_tenant_id(), %(action_id)s, %(action_name)s, %(action_type)s, %(handler)s,
        %(config)s, %(available_globally)s, current_app_user_id())
RETURNING id, tenant_id, action_id, action_name, action_type, handler, config, available_globally,
          created_by, created_at, false AS is_core;

-- name: update_action
-- Only the tenant's own row: a core action is changed by shadowing it (create one of its id).
UPDATE saved_actions
SET action_name = coalesce(%(action_name)s, action_name),
    handler = CASE WHEN %(set_handler)s THEN %(handler)s ELSE handler END,
    config = coalesce(%(config)s, config),
    available_globally = coalesce(%(available_globally)s, available_globally)
WHERE action_id = %(action_id)s AND tenant_id = current_tenant_id()
RETURNING id, tenant_id, action_id, action_name, action_type, handler, config, available_globally,
          created_by, created_at, false AS is_core;

-- name: step_branches
SELECT id, branch_id, branch_label, branch_type, user_prompts, response_text, next_step_id,
       saved_action_id, llm_handler, allow_off_script, return_to_step, source
FROM get_step_chat_branches(%(workflow_id)s, %(step_id)s);

-- name: record_chat_step
-- A fixed branch completes its step: one finished row in the step history (its outputs say
-- which branch), and the execution's move, in one statement.
WITH step AS (
  INSERT INTO workflow_step_executions
    (tenant_id, workflow_execution_id, step_id, step_index, status, mode, outputs, attempt,
     started_at, completed_at)
  VALUES (current_tenant_id(), %(execution_id)s, %(step_id)s::varchar, %(step_index)s,
          'completed', 'sync', %(outputs)s,
          1 + (SELECT count(*) FROM workflow_step_executions
               WHERE workflow_execution_id = %(execution_id)s AND step_id = %(step_id)s::varchar),
          clock_timestamp(), clock_timestamp())
  RETURNING id
)
UPDATE workflow_executions
SET current_step_id = %(next_step)s::varchar,
    status = CASE WHEN %(next_step)s::varchar IS NULL THEN 'completed' ELSE 'active' END,
    completed_at = CASE WHEN %(next_step)s::varchar IS NULL THEN now() END
WHERE id = %(execution_id)s AND EXISTS (SELECT 1 FROM step)
RETURNING (SELECT id FROM step) AS step_execution_id;

-- name: insert_thread
WITH thread AS (
  INSERT INTO workflow_chat_threads
    (tenant_id, workflow_execution_id, step_id, thread_type, started_by, return_to_step)
  VALUES (current_tenant_id(), %(execution_id)s, %(step_id)s, %(thread_type)s,
          current_app_user_id(), %(return_to_step)s)
  RETURNING id
), context AS (
  INSERT INTO workflow_llm_context
    (tenant_id, thread_id, system_prompt, tools_available, context_data, model_used, temperature,
     max_tokens)
  SELECT current_tenant_id(), thread.id, %(system_prompt)s, %(tools)s, %(context_data)s,
         %(model)s, %(temperature)s, %(max_tokens)s
  FROM thread
  RETURNING thread_id
)
SELECT thread_id AS id FROM context;

-- name: get_thread
SELECT t.id, t.workflow_execution_id, t.step_id, t.thread_type, t.started_by, t.started_at,
       t.ended_at, t.status, t.return_to_step, t.total_messages, t.total_tokens,
       c.system_prompt, c.tools_available, c.context_data, c.model_used, c.temperature,
       c.max_tokens, c.total_tokens_used
FROM workflow_chat_threads t
JOIN workflow_llm_context c ON c.thread_id = t.id
WHERE t.id = %(thread_id)s;

-- name: lock_thread
SELECT id, status, workflow_execution_id, step_id, return_to_step
FROM workflow_chat_threads WHERE id = %(thread_id)s FOR UPDATE;

-- name: active_thread_of_step
SELECT id FROM workflow_chat_threads
WHERE workflow_execution_id = %(execution_id)s AND step_id = %(step_id)s
  AND thread_type = %(thread_type)s AND status = 'active'
ORDER BY started_at DESC
LIMIT 1;

-- name: messages
SELECT id, role, content, message_type, metadata, tokens_used, created_at, sequence_number
FROM workflow_chat_messages
WHERE thread_id = %(thread_id)s
ORDER BY sequence_number;

-- name: add_message
-- A message and its thread's counters in one statement: the thread's row lock orders concurrent
-- writers, its new total_messages is the message's sequence number (gapless), and total_tokens
-- with the context's total_tokens_used move by the message's tokens. Nothing is written for a
-- thread that is not active (no row comes back).
WITH thread AS (
  UPDATE workflow_chat_threads
  SET total_messages = total_messages + 1,
      total_tokens = total_tokens + coalesce(%(tokens)s::int, 0)
  WHERE id = %(thread_id)s AND status = 'active'
  RETURNING id, total_messages
), message AS (
  INSERT INTO workflow_chat_messages
    (tenant_id, thread_id, role, content, message_type, metadata, tokens_used, sequence_number)
  SELECT current_tenant_id(), thread.id, %(role)s, %(content)s, %(message_type)s, %(metadata)s,
         %(tokens)s::int, thread.total_messages
  FROM thread
  RETURNING id, role, content, message_type, metadata, tokens_used, created_at, sequence_number
), context AS (
  UPDATE workflow_llm_context
  SET total_tokens_used = total_tokens_used + coalesce(%(tokens)s::int, 0)
  WHERE thread_id = (SELECT id FROM thread) AND coalesce(%(tokens)s::int, 0) > 0
)
SELECT * FROM message;

-- name: insert_tool_call
INSERT INTO workflow_llm_tool_calls
  (tenant_id, thread_id, message_id, tool_name, tool_input, tool_output, success, error_message)
VALUES (current_tenant_id(), %(thread_id)s, %(message_id)s, %(tool_name)s, %(tool_input)s,
        %(tool_output)s, %(success)s, %(error)s)
RETURNING id;

-- name: tool_calls
SELECT id, message_id, tool_name, tool_input, tool_output, success, error_message, created_at
FROM workflow_llm_tool_calls
WHERE thread_id = %(thread_id)s
ORDER BY created_at, id;

-- name: end_thread
UPDATE workflow_chat_threads
SET status = %(status)s, ended_at = now()
WHERE id = %(thread_id)s AND status = 'active'
RETURNING id, workflow_execution_id, step_id, return_to_step;

-- name: query_contracts
-- database_query "contracts": the customer's contracts, newest renewal first.
SELECT external_id, start_date, renewal_date, arr, currency, status, auto_renew
FROM contracts WHERE customer_id = %(customer_id)s
ORDER BY renewal_date DESC LIMIT %(limit)s;

-- name: query_usage
-- database_query "usage": the customer's usage metrics, one metric or all, newest first.
SELECT metric_date, metric_name, value
FROM usage_metrics
WHERE customer_id = %(customer_id)s
  AND (%(metric)s::text IS NULL OR metric_name = %(metric)s)
  AND (%(since)s::date IS NULL OR metric_date >= %(since)s)
ORDER BY metric_date DESC, metric_name LIMIT %(limit)s;

-- name: query_tasks
-- database_query "tasks": the customer's action-plan tasks, open ones first.
SELECT action, description, task_type, owner, status, priority, snoozed_until, completed_at
FROM workflow_tasks
WHERE customer_id = %(customer_id)s
  AND (%(status)s::text IS NULL OR status = %(status)s)
ORDER BY status IN ('completed', 'skipped', 'cancelled'), priority, created_at
LIMIT %(limit)s;

-- name: query_renewals
-- database_query "renewals_history": past contracts and the workflows run for the customer.
SELECT 'contract' AS kind, renewal_date AS on_date, status, arr AS amount, NULL::text AS workflow
FROM contracts
WHERE customer_id = %(customer_id)s AND status <> 'active'
UNION ALL
SELECT 'workflow', e.started_at::date, e.status, NULL, w.workflow_id
FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id
WHERE e.customer_id = %(customer_id)s
ORDER BY on_date DESC NULLS LAST
LIMIT %(limit)s;

-- name: chart_message
SELECT metadata FROM workflow_chat_messages WHERE id = %(id)s AND message_type = 'chart';
