-- No existence oracle across tenants. A unique key is checked before a foreign key: with a key
-- on (customer_id) alone, inserting a row for another tenant's customer id collided with that
-- tenant's row ("already has an active execution") where a missing id failed its foreign key,
-- which told the two apart. Keys now lead with tenant_id, so another tenant's rows can never
-- collide with ours, and the row fails its (tenant_id, ...) foreign key exactly like a missing one.

DROP INDEX workflow_executions_one_active;
CREATE UNIQUE INDEX workflow_executions_one_active
  ON workflow_executions (tenant_id, customer_id) WHERE status = 'active';

DROP INDEX contracts_one_active_per_customer;
CREATE UNIQUE INDEX contracts_one_active_per_customer
  ON contracts (tenant_id, customer_id) WHERE status = 'active';

DROP INDEX contacts_one_primary;
CREATE UNIQUE INDEX contacts_one_primary ON contacts (tenant_id, customer_id) WHERE is_primary;

ALTER TABLE usage_metrics
  DROP CONSTRAINT usage_metrics_customer_id_metric_name_metric_date_key,
  ADD CONSTRAINT usage_metrics_one_value_per_day
    UNIQUE (tenant_id, customer_id, metric_name, metric_date);

ALTER TABLE customer_intelligence
  DROP CONSTRAINT customer_intelligence_customer_id_key,
  ADD CONSTRAINT customer_intelligence_one_per_customer UNIQUE (tenant_id, customer_id);

ALTER TABLE workflow_chat_messages
  DROP CONSTRAINT workflow_chat_messages_thread_id_sequence_number_key,
  ADD CONSTRAINT workflow_chat_messages_sequence UNIQUE (tenant_id, thread_id, sequence_number);

ALTER TABLE workflow_llm_context
  DROP CONSTRAINT workflow_llm_context_thread_id_key,
  ADD CONSTRAINT workflow_llm_context_one_per_thread UNIQUE (tenant_id, thread_id);

ALTER TABLE task_steps
  DROP CONSTRAINT unique_task_step_order,
  ADD CONSTRAINT unique_task_step_order UNIQUE (tenant_id, task_id, step_order);

-- workflow_versions keeps its (workflow_id, version) key: executions of core workflows point at
-- it, and core rows have no tenant. Instead the version's own workflow is checked first, as the
-- writer sees it (row-level security: its own workflows and the core ones), so a version for
-- another tenant's workflow fails like one for a missing workflow, before any key is looked at.
CREATE FUNCTION workflow_version_needs_its_workflow() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM workflows w
                 WHERE w.id = NEW.workflow_id AND w.tenant_id IS NOT DISTINCT FROM NEW.tenant_id) THEN
    RAISE EXCEPTION 'workflow % not found', NEW.workflow_id
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'workflow_versions_workflow_id_fkey';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER workflow_versions_need_their_workflow
  BEFORE INSERT OR UPDATE OF workflow_id, tenant_id ON workflow_versions
  FOR EACH ROW EXECUTE FUNCTION workflow_version_needs_its_workflow();
