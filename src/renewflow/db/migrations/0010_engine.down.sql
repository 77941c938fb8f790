DROP TABLE IF EXISTS idempotency_keys;
ALTER TABLE workflow_step_executions DROP COLUMN IF EXISTS idempotency_key;
ALTER TABLE workflow_step_executions DROP COLUMN IF EXISTS artifacts;
