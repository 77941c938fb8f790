-- A step's LLM call is recorded before the step's own row is written (the row is written once,
-- finished, in the same transaction): the link to the step execution is checked at commit.
ALTER TABLE llm_calls
  ALTER CONSTRAINT llm_calls_tenant_id_step_execution_id_fkey DEFERRABLE INITIALLY DEFERRED;
