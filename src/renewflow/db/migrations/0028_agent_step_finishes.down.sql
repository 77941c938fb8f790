DROP FUNCTION finish_agent_steps(jsonb, text, double precision);
CREATE INDEX idx_task_steps_task_id ON task_steps (task_id);
CREATE INDEX idx_task_steps_status ON task_steps (status);
CREATE INDEX idx_task_steps_execution_time
  ON task_steps (execution_started_at, execution_completed_at);
CREATE INDEX idx_task_steps_context_gin ON task_steps USING GIN (context_data);
CREATE INDEX idx_task_steps_result_gin ON task_steps USING GIN (execution_result);
