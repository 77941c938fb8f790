DROP TABLE IF EXISTS periodic_runs;
DROP TRIGGER IF EXISTS workflow_tasks_roll_up ON workflow_tasks;
DROP TRIGGER IF EXISTS workflow_tasks_stamp_queued ON workflow_tasks;
DROP TRIGGER IF EXISTS workflow_tasks_notify_queued ON workflow_tasks;
DROP FUNCTION IF EXISTS roll_up_task_status();
DROP FUNCTION IF EXISTS stamp_task_queued();
DROP FUNCTION IF EXISTS notify_task_queued();
DROP INDEX IF EXISTS workflow_tasks_assignee;
DROP INDEX IF EXISTS workflow_tasks_snoozed;
DROP INDEX IF EXISTS workflow_tasks_leases;
DROP INDEX IF EXISTS workflow_tasks_queue;
ALTER TABLE workflow_tasks
  DROP CONSTRAINT IF EXISTS task_assignee_in_tenant,
  DROP CONSTRAINT IF EXISTS task_skip_needs_reason,
  DROP CONSTRAINT IF EXISTS task_running_has_lease,
  DROP CONSTRAINT IF EXISTS task_lease_whole,
  DROP COLUMN IF EXISTS due_date,
  DROP COLUMN IF EXISTS assigned_to,
  DROP COLUMN IF EXISTS last_error,
  DROP COLUMN IF EXISTS lease_expires_at,
  DROP COLUMN IF EXISTS claimed_at,
  DROP COLUMN IF EXISTS claimed_by,
  DROP COLUMN IF EXISTS lease_token,
  DROP COLUMN IF EXISTS queued_at,
  DROP COLUMN IF EXISTS run_after,
  DROP COLUMN IF EXISTS max_attempts,
  DROP COLUMN IF EXISTS attempts;
