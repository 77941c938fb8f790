-- Running workflows: executions, step executions (with their outputs), the action-plan tasks
-- (spec: action-plan-tasks.md, the full schema with its extensions) and notifications.

CREATE TABLE workflow_executions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  customer_id uuid NOT NULL,
  workflow_id uuid NOT NULL,
  -- the version the execution started with; later edits of the workflow do not change it
  workflow_version integer NOT NULL,
  status varchar(20) NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'completed', 'superseded', 'cancelled', 'failed')),
  current_step_id varchar(100),
  -- why it started: the trigger rule and the values it saw
  trigger_reason jsonb NOT NULL DEFAULT '{}'::jsonb,
  started_by uuid,
  started_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (status = 'active' OR completed_at IS NOT NULL),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers(tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, started_by) REFERENCES users(tenant_id, id) ON DELETE SET NULL (started_by),
  FOREIGN KEY (workflow_id, workflow_version) REFERENCES workflow_versions(workflow_id, version)
);
-- at most one active execution per customer
CREATE UNIQUE INDEX workflow_executions_one_active ON workflow_executions (customer_id)
  WHERE status = 'active';
CREATE INDEX workflow_executions_tenant_status ON workflow_executions (tenant_id, status, started_at DESC);
CREATE INDEX workflow_executions_workflow ON workflow_executions (workflow_id);
CREATE TRIGGER workflow_executions_updated_at BEFORE UPDATE ON workflow_executions
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('workflow_executions');

-- The workflow may be core (tenant_id NULL), so a composite foreign key cannot say "core or mine";
-- this check does, and it runs with the caller's rights, so it sees only what the caller may see.
CREATE FUNCTION check_execution_workflow() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM workflows w
    WHERE w.id = NEW.workflow_id AND (w.tenant_id IS NULL OR w.tenant_id = NEW.tenant_id)
  ) THEN
    RAISE EXCEPTION 'workflow % is not available to tenant %', NEW.workflow_id, NEW.tenant_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER workflow_executions_workflow_visible
  BEFORE INSERT OR UPDATE OF workflow_id, tenant_id ON workflow_executions
  FOR EACH ROW EXECUTE FUNCTION check_execution_workflow();

CREATE TABLE workflow_step_executions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  workflow_execution_id uuid NOT NULL,
  step_id varchar(100) NOT NULL,
  step_index integer NOT NULL CHECK (step_index >= 0),
  status varchar(20) NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped')),
  outputs jsonb,
  rendered_prompt text,
  raw_response text,
  error_message text,
  skip_reason text,
  attempt integer NOT NULL DEFAULT 1 CHECK (attempt > 0),
  started_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT step_skip_needs_reason CHECK (status <> 'skipped' OR btrim(coalesce(skip_reason, '')) <> ''),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, workflow_execution_id)
    REFERENCES workflow_executions(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX workflow_step_executions_execution
  ON workflow_step_executions (workflow_execution_id, step_index);
CREATE TRIGGER workflow_step_executions_updated_at BEFORE UPDATE ON workflow_step_executions
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('workflow_step_executions');

CREATE TABLE workflow_tasks (
  -- core fields
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  workflow_execution_id uuid NOT NULL,
  step_execution_id uuid,
  customer_id uuid NOT NULL,

  -- task type and ownership
  task_type varchar(50) NOT NULL CHECK (task_type IN ('AI_TASK', 'CSM_TASK')),
  owner varchar(50) NOT NULL CHECK (owner IN ('AI', 'CSM')),

  -- task details
  action varchar(255) NOT NULL,
  description text NOT NULL,
  recommendation_id uuid,

  -- status tracking
  status varchar(50) NOT NULL
    CHECK (status IN ('pending', 'in_progress', 'snoozed', 'completed', 'skipped', 'cancelled')),
  priority integer NOT NULL CHECK (priority BETWEEN 1 AND 5),

  -- snooze system
  requires_decision boolean NOT NULL DEFAULT false,
  snooze_count integer NOT NULL DEFAULT 0 CHECK (snooze_count >= 0),
  first_snoozed_at timestamptz,
  snooze_deadline timestamptz,
  snoozed_until timestamptz,

  -- completion tracking
  completed_at timestamptz,
  skipped_at timestamptz,
  skip_reason text,

  -- cross-workflow continuity
  original_workflow_execution_id uuid,
  surfaced_in_workflow_ids uuid[],

  metadata jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),

  -- auto-execution of AI tasks
  auto_execute boolean NOT NULL DEFAULT false,
  processor varchar(255),
  execution_status varchar(50) CHECK (execution_status IN ('queued', 'running', 'success', 'failed')),
  execution_result jsonb,
  executed_at timestamptz,

  -- sub-tasks
  parent_task_id uuid,

  -- task metadata
  estimated_completion_time varchar(50),
  complexity varchar(50) CHECK (complexity IN ('simple', 'moderate', 'complex')),

  CONSTRAINT task_not_its_own_parent CHECK (parent_task_id IS DISTINCT FROM id),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, workflow_execution_id)
    REFERENCES workflow_executions(tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, step_execution_id) REFERENCES workflow_step_executions(tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers(tenant_id, id),
  FOREIGN KEY (tenant_id, recommendation_id) REFERENCES recommendations(tenant_id, id),
  FOREIGN KEY (tenant_id, original_workflow_execution_id) REFERENCES workflow_executions(tenant_id, id),
  FOREIGN KEY (tenant_id, parent_task_id) REFERENCES workflow_tasks(tenant_id, id) ON DELETE CASCADE
);
-- the spec's three indexes
CREATE INDEX idx_tasks_parent ON workflow_tasks (parent_task_id)
  WHERE parent_task_id IS NOT NULL;
CREATE INDEX idx_tasks_auto_execute ON workflow_tasks (auto_execute, execution_status)
  WHERE auto_execute = true;
CREATE INDEX idx_tasks_execution_status ON workflow_tasks (execution_status)
  WHERE execution_status IN ('queued', 'running');
-- tenant-leading indexes for the task list and the continuity lookup
CREATE INDEX workflow_tasks_execution ON workflow_tasks (tenant_id, workflow_execution_id);
CREATE INDEX workflow_tasks_customer_status ON workflow_tasks (tenant_id, customer_id, status);
CREATE TRIGGER workflow_tasks_updated_at BEFORE UPDATE ON workflow_tasks
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('workflow_tasks');

CREATE TABLE notifications (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  workflow_execution_id uuid,
  customer_id uuid,
  recipient_user_id uuid,
  -- where it goes, as resolved: an email address, a user's id, a webhook's name
  recipient varchar(320) NOT NULL,
  channel varchar(20) NOT NULL DEFAULT 'in_app' CHECK (channel IN ('in_app', 'email', 'webhook')),
  notification_type varchar(100) NOT NULL,
  title varchar(500) NOT NULL,
  message text NOT NULL,
  priority varchar(20) NOT NULL DEFAULT 'medium'
    CHECK (priority IN ('low', 'medium', 'high', 'urgent', 'critical')),
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- "this notification of this execution": makes each one fire once, however many processes try
  dedupe_key varchar(255),
  status varchar(20) NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'sent', 'failed', 'acknowledged')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_error text,
  sent_at timestamptz,
  acknowledged_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT notifications_once UNIQUE (tenant_id, dedupe_key, channel, recipient),
  FOREIGN KEY (tenant_id, workflow_execution_id)
    REFERENCES workflow_executions(tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers(tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, recipient_user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX notifications_recipient_open ON notifications (tenant_id, recipient_user_id, created_at DESC)
  WHERE acknowledged_at IS NULL;
CREATE INDEX notifications_pending_delivery ON notifications (created_at)
  WHERE status IN ('pending', 'failed') AND channel <> 'in_app';
CREATE TRIGGER notifications_updated_at BEFORE UPDATE ON notifications
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('notifications');
