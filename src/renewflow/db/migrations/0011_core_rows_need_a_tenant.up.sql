-- Core rows (tenant_id NULL) are readable by every tenant, but only by a tenant: a transaction
-- that names no tenant sees no row of any table, shared ones included.
ALTER POLICY read_core_and_own ON workflows
  USING (current_tenant_id() IS NOT NULL AND (tenant_id IS NULL OR tenant_id = current_tenant_id()));
ALTER POLICY read_core_and_own ON workflow_versions
  USING (current_tenant_id() IS NOT NULL AND (tenant_id IS NULL OR tenant_id = current_tenant_id()));
ALTER POLICY read_core_and_own ON saved_actions
  USING (current_tenant_id() IS NOT NULL AND (tenant_id IS NULL OR tenant_id = current_tenant_id()));
ALTER POLICY read_core_and_own ON workflow_chat_branches
  USING (current_tenant_id() IS NOT NULL AND (tenant_id IS NULL OR tenant_id = current_tenant_id()));
