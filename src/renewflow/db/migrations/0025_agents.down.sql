DROP FUNCTION reap_agent_steps();
DROP FUNCTION finish_agent_step(uuid, uuid, text, jsonb, text, jsonb, double precision, jsonb, text,
                                double precision);
DROP FUNCTION claim_agent_steps(text, integer, double precision, text);
DROP FUNCTION agent_step_lease(uuid, text, double precision, text);
DROP TYPE agent_step_lease;
DROP FUNCTION agent_task_advance(uuid);

DROP INDEX llm_calls_task_step;
ALTER TABLE llm_calls
  DROP CONSTRAINT llm_calls_tenant_id_task_step_id_fkey,
  DROP COLUMN task_step_id;

DROP INDEX task_steps_leased;
DROP INDEX task_steps_queued;
ALTER TABLE task_steps
  DROP CONSTRAINT unique_task_step_order,
  ADD CONSTRAINT unique_task_step_order UNIQUE (tenant_id, task_id, step_order),
  DROP CONSTRAINT task_steps_tenant_id_id_key,
  DROP COLUMN lease_expires_at,
  DROP COLUMN claimed_by,
  DROP COLUMN lease_token,
  DROP COLUMN run_after,
  DROP COLUMN approved_by,
  DROP COLUMN approved_at,
  DROP COLUMN requires_approval,
  DROP COLUMN model,
  DROP COLUMN timeout_seconds,
  DROP COLUMN max_retries;

-- a paused run cannot be told apart from a running one in the old model
ALTER TABLE agent_tasks NO FORCE ROW LEVEL SECURITY;
UPDATE agent_tasks SET status = 'running' WHERE status = 'awaiting_approval';
ALTER TABLE agent_tasks FORCE ROW LEVEL SECURITY;
ALTER TABLE agent_tasks
  DROP COLUMN error_message,
  DROP COLUMN completed_at,
  DROP COLUMN started_at,
  DROP COLUMN context_budget_chars,
  DROP CONSTRAINT agent_tasks_status_check,
  ADD CONSTRAINT agent_tasks_status_check
    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled'));

DROP POLICY owner_delete ON task_steps;
DROP POLICY owner_update ON task_steps;
DROP POLICY owner_insert ON task_steps;
DROP POLICY owner_read ON task_steps;
DROP TRIGGER task_steps_owner ON task_steps;
DROP FUNCTION task_step_owner();
ALTER TABLE task_steps DROP CONSTRAINT task_steps_owner_fkey, DROP COLUMN user_id;
ALTER TABLE agent_tasks DROP CONSTRAINT agent_tasks_tenant_id_id_user_id_key;
DROP POLICY owner_delete ON agent_tasks;
DROP POLICY owner_update ON agent_tasks;
DROP POLICY owner_insert ON agent_tasks;
DROP POLICY owner_read ON agent_tasks;
DROP FUNCTION agent_task_writable(uuid);
DROP FUNCTION agent_task_visible(uuid);
