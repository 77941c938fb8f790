DROP FUNCTION claim_step_runs(text, integer, double precision, integer);
DROP FUNCTION step_runs_lock_key(uuid);
DROP TRIGGER workflow_step_executions_notify_queued ON workflow_step_executions;
ALTER TABLE workflow_tasks
  ALTER CONSTRAINT workflow_tasks_tenant_id_step_execution_id_fkey NOT DEFERRABLE;
DROP INDEX workflow_step_executions_idempotency;
DROP INDEX workflow_step_executions_running_by_tenant;
DROP INDEX workflow_step_executions_leases;
DROP INDEX workflow_step_executions_queue;
DROP INDEX workflow_step_executions_one_live;
DELETE FROM workflow_step_executions WHERE status IN ('queued', 'running');
ALTER TABLE workflow_step_executions
  DROP CONSTRAINT step_live_rows_have_a_lease,
  DROP COLUMN run_attempts,
  DROP COLUMN lease_expires_at,
  DROP COLUMN claimed_by,
  DROP COLUMN lease_token,
  DROP COLUMN run_after,
  DROP COLUMN queued_at,
  DROP COLUMN status_code,
  DROP COLUMN response,
  DROP COLUMN request,
  DROP COLUMN mode,
  DROP CONSTRAINT workflow_step_executions_status_check,
  ADD CONSTRAINT workflow_step_executions_status_check
    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped'));
