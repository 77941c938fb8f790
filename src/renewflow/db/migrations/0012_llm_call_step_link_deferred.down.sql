ALTER TABLE llm_calls
  ALTER CONSTRAINT llm_calls_tenant_id_step_execution_id_fkey NOT DEFERRABLE;
