DROP TRIGGER workflow_versions_need_their_workflow ON workflow_versions;
DROP FUNCTION workflow_version_needs_its_workflow();

ALTER TABLE task_steps
  DROP CONSTRAINT unique_task_step_order,
  ADD CONSTRAINT unique_task_step_order UNIQUE (task_id, step_order);
ALTER TABLE workflow_llm_context
  DROP CONSTRAINT workflow_llm_context_one_per_thread,
  ADD CONSTRAINT workflow_llm_context_thread_id_key UNIQUE (thread_id);
ALTER TABLE workflow_chat_messages
  DROP CONSTRAINT workflow_chat_messages_sequence,
  ADD CONSTRAINT workflow_chat_messages_thread_id_sequence_number_key
    UNIQUE (thread_id, sequence_number);
ALTER TABLE customer_intelligence
  DROP CONSTRAINT customer_intelligence_one_per_customer,
  ADD CONSTRAINT customer_intelligence_customer_id_key UNIQUE (customer_id);
ALTER TABLE usage_metrics
  DROP CONSTRAINT usage_metrics_one_value_per_day,
  ADD CONSTRAINT usage_metrics_customer_id_metric_name_metric_date_key
    UNIQUE (customer_id, metric_name, metric_date);

DROP INDEX contacts_one_primary;
CREATE UNIQUE INDEX contacts_one_primary ON contacts (customer_id) WHERE is_primary;
DROP INDEX contracts_one_active_per_customer;
CREATE UNIQUE INDEX contracts_one_active_per_customer ON contracts (customer_id)
  WHERE status = 'active';
DROP INDEX workflow_executions_one_active;
CREATE UNIQUE INDEX workflow_executions_one_active ON workflow_executions (customer_id)
  WHERE status = 'active';
