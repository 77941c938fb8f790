ALTER POLICY read_core_and_own ON workflows
  USING (tenant_id IS NULL OR tenant_id = current_tenant_id());
ALTER POLICY read_core_and_own ON workflow_versions
  USING (tenant_id IS NULL OR tenant_id = current_tenant_id());
ALTER POLICY read_core_and_own ON saved_actions
  USING (tenant_id IS NULL OR tenant_id = current_tenant_id());
ALTER POLICY read_core_and_own ON workflow_chat_branches
  USING (tenant_id IS NULL OR tenant_id = current_tenant_id());
