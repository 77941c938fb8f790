-- Deleting a tenant deletes all of it. Each table cascades from tenants, but a few references
-- between a tenant's own tables had no ON DELETE action, and whether their check ran before or
-- after the referencing rows' own cascade depended on the order PostgreSQL fired them: deleting a
-- tenant with tasks failed on workflow_tasks -> customers. Every such reference now says what
-- happens to the referencing row (gone with its parent, or the reference cleared), so the order
-- no longer matters, for a tenant's deletion as for a single row's.

ALTER TABLE workflow_tasks
  DROP CONSTRAINT workflow_tasks_tenant_id_customer_id_fkey,
  ADD CONSTRAINT workflow_tasks_tenant_id_customer_id_fkey
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers(tenant_id, id) ON DELETE CASCADE,
  DROP CONSTRAINT workflow_tasks_tenant_id_recommendation_id_fkey,
  ADD CONSTRAINT workflow_tasks_tenant_id_recommendation_id_fkey
    FOREIGN KEY (tenant_id, recommendation_id) REFERENCES recommendations(tenant_id, id)
    ON DELETE SET NULL (recommendation_id),
  DROP CONSTRAINT workflow_tasks_tenant_id_original_workflow_execution_id_fkey,
  ADD CONSTRAINT workflow_tasks_tenant_id_original_workflow_execution_id_fkey
    FOREIGN KEY (tenant_id, original_workflow_execution_id)
    REFERENCES workflow_executions(tenant_id, id) ON DELETE SET NULL (original_workflow_execution_id),
  DROP CONSTRAINT workflow_tasks_tenant_id_step_execution_id_fkey,
  ADD CONSTRAINT workflow_tasks_tenant_id_step_execution_id_fkey
    FOREIGN KEY (tenant_id, step_execution_id) REFERENCES workflow_step_executions(tenant_id, id)
    ON DELETE SET NULL (step_execution_id) DEFERRABLE INITIALLY DEFERRED;

-- A version that executions ran cannot go, unless they go in the same transaction (their tenant's
-- deletion): checked at commit, when every cascade has run. Deleting one workflow checks it at
-- once instead (SET CONSTRAINTS ... IMMEDIATE in delete_workflow), to answer 409.
ALTER TABLE workflow_executions
  DROP CONSTRAINT workflow_executions_workflow_id_workflow_version_fkey,
  ADD CONSTRAINT workflow_executions_workflow_id_workflow_version_fkey
    FOREIGN KEY (workflow_id, workflow_version) REFERENCES workflow_versions(workflow_id, version)
    DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE customers
  DROP CONSTRAINT customers_tenant_id_csm_id_fkey,
  ADD CONSTRAINT customers_tenant_id_csm_id_fkey
    FOREIGN KEY (tenant_id, csm_id) REFERENCES users(tenant_id, id) ON DELETE SET NULL (csm_id);

ALTER TABLE users
  DROP CONSTRAINT users_tenant_id_manager_id_fkey,
  ADD CONSTRAINT users_tenant_id_manager_id_fkey
    FOREIGN KEY (tenant_id, manager_id) REFERENCES users(tenant_id, id) ON DELETE SET NULL (manager_id);

ALTER TABLE workflow_chat_branches
  DROP CONSTRAINT workflow_chat_branches_saved_action_id_fkey,
  ADD CONSTRAINT workflow_chat_branches_saved_action_id_fkey
    FOREIGN KEY (saved_action_id) REFERENCES saved_actions(action_id)
    ON UPDATE CASCADE ON DELETE CASCADE;
