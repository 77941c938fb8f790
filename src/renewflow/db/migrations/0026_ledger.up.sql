-- The autonomous-run ledger (spec: autonomous-tasks-log.md) as renewflow writes it: the task types
-- of renewflow's own periodic jobs, one row per tenant and period for the frequent ones, the time
-- of the last success (health of scheduled work), and every LLM call linked to the run that made
-- it (its cost; budgets).

ALTER TABLE autonomous_tasks
  DROP CONSTRAINT autonomous_tasks_task_type_check,
  ADD CONSTRAINT autonomous_tasks_task_type_check CHECK (task_type IN (
    -- the spec's twelve
    'continuous_intelligence_update', 'daily_analytics_rollup', 'weekly_report_generation',
    'monthly_summary', 'email_sync', 'contact_enrichment', 'lead_scoring_batch',
    'campaign_optimization', 'content_calendar_sync', 'social_media_posting', 'data_cleanup',
    'system_health_check',
    -- renewflow's own scheduled work
    'renewal_sweep', 'ai_task_execution', 'notification_delivery',
    'notification_schedule', 'task_sweep', 'agent_task_step'
  )),
  -- a row that stands for every run of its job in one period (an hour): set for jobs running
  -- more often than that, so a job every 30 seconds writes 24 rows a day per tenant, not 2,880
  ADD COLUMN period_start timestamptz,
  -- when a run of this row last succeeded (completed or partial_failure): the health of the job
  ADD COLUMN last_succeeded_at timestamptz,
  ADD CONSTRAINT autonomous_tasks_tenant_id_id_key UNIQUE (tenant_id, id);

CREATE UNIQUE INDEX autonomous_tasks_period
  ON autonomous_tasks (tenant_id, task_type, period_start) WHERE period_start IS NOT NULL;
CREATE INDEX autonomous_tasks_last_success
  ON autonomous_tasks (tenant_id, task_type, last_succeeded_at DESC)
  WHERE last_succeeded_at IS NOT NULL;
-- the list and the costs read only this index over their window (index-only)
CREATE INDEX autonomous_tasks_summary
  ON autonomous_tasks (tenant_id, executed_at, task_type)
  INCLUDE (status, duration_ms, cost_estimate_usd);
-- the summary reads, task type by task type, only the window's entries of the spec's (tenant,
-- type, time) index, which carries what it aggregates (index-only, and already grouped: no sort
-- of the window's rows): see bench/ledger.py
DROP INDEX idx_autonomous_tasks_tenant_type_time;
CREATE INDEX idx_autonomous_tasks_tenant_type_time
  ON autonomous_tasks (tenant_id, task_type, executed_at DESC)
  INCLUDE (status, duration_ms, cost_estimate_usd);
-- retention deletes by age across tenants
CREATE INDEX autonomous_tasks_created ON autonomous_tasks (created_at);

ALTER TABLE llm_calls
  ADD COLUMN autonomous_task_id uuid,
  ADD CONSTRAINT llm_calls_tenant_id_autonomous_task_id_fkey
    FOREIGN KEY (tenant_id, autonomous_task_id) REFERENCES autonomous_tasks(tenant_id, id)
    ON DELETE SET NULL (autonomous_task_id);
CREATE INDEX llm_calls_autonomous_task ON llm_calls (tenant_id, autonomous_task_id)
  WHERE autonomous_task_id IS NOT NULL;

-- A call recorded in a transaction that named its run (`ledger.attach`) is linked to it: the
-- LLM layer records calls without knowing about the ledger.
CREATE FUNCTION llm_call_run() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF NEW.autonomous_task_id IS NULL THEN
    NEW.autonomous_task_id = nullif(current_setting('renewflow.autonomous_task_id', true), '')::uuid;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER llm_calls_run BEFORE INSERT ON llm_calls
  FOR EACH ROW EXECUTE FUNCTION llm_call_run();

-- The counters of two runs in one period row added up: numbers are summed, anything else is the
-- later run's.
CREATE FUNCTION ledger_merge_counts(p_old jsonb, p_new jsonb) RETURNS jsonb
  LANGUAGE sql IMMUTABLE
  AS $$
  SELECT coalesce(jsonb_object_agg(
           coalesce(a.key, b.key),
           CASE WHEN jsonb_typeof(a.value) = 'number' AND jsonb_typeof(b.value) = 'number'
                THEN to_jsonb(a.value::numeric + b.value::numeric)
                ELSE coalesce(b.value, a.value) END), '{}'::jsonb)
  FROM jsonb_each(coalesce(p_old, '{}'::jsonb)) a
  FULL JOIN jsonb_each(coalesce(p_new, '{}'::jsonb)) b ON a.key = b.key
$$;
GRANT EXECUTE ON FUNCTION ledger_merge_counts(jsonb, jsonb), llm_call_run()
  TO renewflow_app, renewflow_service;
