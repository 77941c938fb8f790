DROP FUNCTION IF EXISTS get_step_chat_branches(varchar, varchar);
DROP FUNCTION IF EXISTS get_workflow(varchar, uuid);
DROP FUNCTION IF EXISTS get_tenant_workflows(uuid);
DROP TRIGGER IF EXISTS workflows_bump_revision ON workflows;
DROP FUNCTION IF EXISTS bump_workflow_revision();
ALTER TABLE workflows
  DROP CONSTRAINT IF EXISTS workflows_draft_updated_by_fkey,
  DROP CONSTRAINT IF EXISTS workflows_core_has_no_draft,
  DROP COLUMN IF EXISTS revision,
  DROP COLUMN IF EXISTS draft_updated_by,
  DROP COLUMN IF EXISTS draft_updated_at,
  DROP COLUMN IF EXISTS draft_config;
