ALTER TABLE workflow_chat_branches
  DROP CONSTRAINT workflow_chat_branches_saved_action_id_fkey,
  ADD CONSTRAINT workflow_chat_branches_saved_action_id_fkey
    FOREIGN KEY (saved_action_id) REFERENCES saved_actions(action_id) ON UPDATE CASCADE;
ALTER TABLE users
  DROP CONSTRAINT users_tenant_id_manager_id_fkey,
  ADD CONSTRAINT users_tenant_id_manager_id_fkey
    FOREIGN KEY (tenant_id, manager_id) REFERENCES users(tenant_id, id);
ALTER TABLE customers
  DROP CONSTRAINT customers_tenant_id_csm_id_fkey,
  ADD CONSTRAINT customers_tenant_id_csm_id_fkey
    FOREIGN KEY (tenant_id, csm_id) REFERENCES users(tenant_id, id);
ALTER TABLE workflow_executions
  DROP CONSTRAINT workflow_executions_workflow_id_workflow_version_fkey,
  ADD CONSTRAINT workflow_executions_workflow_id_workflow_version_fkey
    FOREIGN KEY (workflow_id, workflow_version) REFERENCES workflow_versions(workflow_id, version);
ALTER TABLE workflow_tasks
  DROP CONSTRAINT workflow_tasks_tenant_id_step_execution_id_fkey,
  ADD CONSTRAINT workflow_tasks_tenant_id_step_execution_id_fkey
    FOREIGN KEY (tenant_id, step_execution_id) REFERENCES workflow_step_executions(tenant_id, id)
    DEFERRABLE INITIALLY DEFERRED,
  DROP CONSTRAINT workflow_tasks_tenant_id_original_workflow_execution_id_fkey,
  ADD CONSTRAINT workflow_tasks_tenant_id_original_workflow_execution_id_fkey
    FOREIGN KEY (tenant_id, original_workflow_execution_id) REFERENCES workflow_executions(tenant_id, id),
  DROP CONSTRAINT workflow_tasks_tenant_id_recommendation_id_fkey,
  ADD CONSTRAINT workflow_tasks_tenant_id_recommendation_id_fkey
    FOREIGN KEY (tenant_id, recommendation_id) REFERENCES recommendations(tenant_id, id),
  DROP CONSTRAINT workflow_tasks_tenant_id_customer_id_fkey,
  ADD CONSTRAINT workflow_tasks_tenant_id_customer_id_fkey
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers(tenant_id, id);
