DROP FUNCTION ledger_merge_counts(jsonb, jsonb);
DROP TRIGGER llm_calls_run ON llm_calls;
DROP FUNCTION llm_call_run();
DROP INDEX llm_calls_autonomous_task;
ALTER TABLE llm_calls
  DROP CONSTRAINT llm_calls_tenant_id_autonomous_task_id_fkey,
  DROP COLUMN autonomous_task_id;

DROP INDEX autonomous_tasks_created;
DROP INDEX autonomous_tasks_summary;
DROP INDEX idx_autonomous_tasks_tenant_type_time;
CREATE INDEX idx_autonomous_tasks_tenant_type_time
  ON autonomous_tasks (tenant_id, task_type, executed_at DESC);
DROP INDEX autonomous_tasks_last_success;
DROP INDEX autonomous_tasks_period;
DELETE FROM autonomous_tasks WHERE task_type IN ('notification_schedule', 'task_sweep', 'agent_task_step');
ALTER TABLE autonomous_tasks
  DROP CONSTRAINT autonomous_tasks_tenant_id_id_key,
  DROP COLUMN last_succeeded_at,
  DROP COLUMN period_start,
  DROP CONSTRAINT autonomous_tasks_task_type_check,
  ADD CONSTRAINT autonomous_tasks_task_type_check CHECK (task_type IN (
    'continuous_intelligence_update', 'daily_analytics_rollup', 'weekly_report_generation',
    'monthly_summary', 'email_sync', 'contact_enrichment', 'lead_scoring_batch',
    'campaign_optimization', 'content_calendar_sync', 'social_media_posting', 'data_cleanup',
    'system_health_check',
    'renewal_sweep', 'ai_task_execution', 'notification_delivery'
  ));
