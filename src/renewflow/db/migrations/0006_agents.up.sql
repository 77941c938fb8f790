-- Multi-step agent tasks (spec: agent-task-steps.md) and the log of autonomous agent runs
-- (spec: autonomous-tasks-log.md; its "workspace" is a tenant).

CREATE TABLE agent_tasks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  name text NOT NULL CHECK (btrim(name) <> ''),
  instructions text,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX agent_tasks_user ON agent_tasks (tenant_id, user_id);
CREATE TRIGGER agent_tasks_updated_at BEFORE UPDATE ON agent_tasks
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('agent_tasks');

CREATE TABLE task_steps (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  task_id uuid NOT NULL,
  step_order integer NOT NULL,
  step_name text NOT NULL,
  instructions text NOT NULL,
  include_previous_context boolean NOT NULL DEFAULT false,
  context_data jsonb DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped')),
  execution_result jsonb DEFAULT '{}'::jsonb,
  execution_started_at timestamptz,
  execution_completed_at timestamptz,
  error_message text,
  retry_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT task_steps_step_order_positive CHECK (step_order > 0),
  CONSTRAINT task_steps_retry_count_non_negative CHECK (retry_count >= 0),
  CONSTRAINT unique_task_step_order UNIQUE (task_id, step_order),
  FOREIGN KEY (tenant_id, task_id) REFERENCES agent_tasks(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_task_steps_task_id ON task_steps (task_id);
CREATE INDEX idx_task_steps_task_order ON task_steps (task_id, step_order);
CREATE INDEX idx_task_steps_status ON task_steps (status);
CREATE INDEX idx_task_steps_execution_time ON task_steps (execution_started_at, execution_completed_at);
CREATE INDEX idx_task_steps_pending ON task_steps (task_id, step_order) WHERE status = 'pending';
CREATE INDEX idx_task_steps_context_gin ON task_steps USING GIN (context_data);
CREATE INDEX idx_task_steps_result_gin ON task_steps USING GIN (execution_result);
CREATE TRIGGER task_steps_updated_at_trigger BEFORE UPDATE ON task_steps
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('task_steps');

CREATE TABLE autonomous_tasks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  task_type text NOT NULL CHECK (task_type IN (
    -- the spec's twelve
    'continuous_intelligence_update', 'daily_analytics_rollup', 'weekly_report_generation',
    'monthly_summary', 'email_sync', 'contact_enrichment', 'lead_scoring_batch',
    'campaign_optimization', 'content_calendar_sync', 'social_media_posting', 'data_cleanup',
    'system_health_check',
    -- renewflow's own scheduled work
    'renewal_sweep', 'ai_task_execution', 'notification_delivery'
  )),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN (
    'pending', 'running', 'completed', 'failed', 'partial_failure', 'cancelled'
  )),
  input_data jsonb DEFAULT '{}'::jsonb,
  output_data jsonb DEFAULT '{}'::jsonb,
  error_message text,
  executed_at timestamptz,
  completed_at timestamptz,
  duration_ms integer,
  triggered_by text NOT NULL DEFAULT 'system' CHECK (triggered_by IN ('cron', 'user', 'api', 'system')),
  agent_name text,
  cost_estimate_usd numeric(10, 4) CHECK (cost_estimate_usd >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (completed_at IS NULL OR executed_at IS NULL OR completed_at >= executed_at)
);
-- the spec's eight indexes
CREATE INDEX idx_autonomous_tasks_tenant ON autonomous_tasks (tenant_id);
CREATE INDEX idx_autonomous_tasks_type ON autonomous_tasks (task_type);
CREATE INDEX idx_autonomous_tasks_status ON autonomous_tasks (status);
CREATE INDEX idx_autonomous_tasks_executed_at ON autonomous_tasks (executed_at DESC);
CREATE INDEX idx_autonomous_tasks_tenant_type_time
  ON autonomous_tasks (tenant_id, task_type, executed_at DESC);
CREATE INDEX idx_autonomous_tasks_tenant_status ON autonomous_tasks (tenant_id, status);
CREATE INDEX idx_autonomous_tasks_failures ON autonomous_tasks (tenant_id, executed_at DESC)
  WHERE status IN ('failed', 'partial_failure');
CREATE INDEX idx_autonomous_tasks_agent ON autonomous_tasks (agent_name, executed_at DESC);

-- duration_ms follows executed_at and completed_at (a trigger: a generated column cannot use
-- the non-immutable interval arithmetic the spec's first attempt needed).
CREATE FUNCTION set_autonomous_task_duration() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF NEW.executed_at IS NOT NULL AND NEW.completed_at IS NOT NULL THEN
    NEW.duration_ms = round(extract(epoch FROM (NEW.completed_at - NEW.executed_at)) * 1000)::integer;
  ELSE
    NEW.duration_ms = NULL;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER trigger_autonomous_tasks_duration BEFORE INSERT OR UPDATE ON autonomous_tasks
  FOR EACH ROW EXECUTE FUNCTION set_autonomous_task_duration();
CREATE TRIGGER trigger_autonomous_tasks_updated_at BEFORE UPDATE ON autonomous_tasks
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('autonomous_tasks');

-- Per task type over the last p_hours: counts, average duration, total cost. Runs with the
-- caller's rights, so a tenant asking about another tenant's id gets no rows.
CREATE FUNCTION get_autonomous_task_summary(
  p_workspace_id uuid, p_task_type text DEFAULT NULL, p_hours integer DEFAULT 24
) RETURNS TABLE (
  task_type text,
  total_executions bigint,
  completed_count bigint,
  failed_count bigint,
  avg_duration_ms numeric,
  total_cost_usd numeric,
  last_executed_at timestamptz
)
  LANGUAGE sql STABLE
  AS $$
  SELECT t.task_type,
         count(*),
         count(*) FILTER (WHERE t.status = 'completed'),
         count(*) FILTER (WHERE t.status IN ('failed', 'partial_failure')),
         round(avg(t.duration_ms), 2),
         coalesce(sum(t.cost_estimate_usd), 0),
         max(t.executed_at)
  FROM autonomous_tasks t
  WHERE t.tenant_id = p_workspace_id
    AND (p_task_type IS NULL OR t.task_type = p_task_type)
    AND t.executed_at > now() - make_interval(hours => p_hours)
  GROUP BY t.task_type
  ORDER BY t.task_type
$$;
GRANT EXECUTE ON FUNCTION get_autonomous_task_summary(uuid, text, integer)
  TO renewflow_app, renewflow_service;
