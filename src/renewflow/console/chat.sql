-- The step chat in task mode: the threads of a step, a chart message of an execution.

-- name: step_threads
SELECT t.id, t.step_id, t.thread_type, t.status, t.started_at, t.ended_at, t.return_to_step,
       t.total_messages, c.context_data
FROM workflow_chat_threads t
JOIN workflow_llm_context c ON c.thread_id = t.id
WHERE t.workflow_execution_id = %(execution_id)s AND t.step_id = %(step_id)s
ORDER BY t.started_at, t.id;

-- name: execution_chart
SELECT m.metadata
FROM workflow_chat_messages m
JOIN workflow_chat_threads t ON t.id = m.thread_id
WHERE m.id = %(message_id)s AND t.workflow_execution_id = %(execution_id)s
  AND m.message_type = 'chart';
