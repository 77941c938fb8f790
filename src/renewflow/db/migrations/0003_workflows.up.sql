-- Workflows as versioned data (spec: workflow-database-schema.md, tables 1-4).
--
-- Departures from the spec's text, each for tenancy:
-- * workflows.workflow_id is unique per tenant (NULLS NOT DISTINCT: once among core workflows),
--   not globally, because a tenant overrides a core workflow by reusing its workflow_id.
-- * every table carries tenant_id; NULL marks a core row, readable by all tenants, writable by none.

CREATE TABLE workflows (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  workflow_id varchar(50) NOT NULL CHECK (btrim(workflow_id) <> ''),
  name varchar(255) NOT NULL,
  description text,
  version varchar(20) NOT NULL DEFAULT '1.0.0',
  config jsonb NOT NULL CHECK (jsonb_typeof(config) = 'object'),
  is_core boolean NOT NULL DEFAULT false,
  tenant_id uuid REFERENCES tenants(id) ON DELETE CASCADE,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT workflows_core_has_no_tenant CHECK (is_core = (tenant_id IS NULL)),
  CONSTRAINT workflows_workflow_id_key UNIQUE NULLS NOT DISTINCT (tenant_id, workflow_id),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, created_by) REFERENCES users(tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX workflows_workflow_id ON workflows (workflow_id);
CREATE INDEX workflows_tenant ON workflows (tenant_id);
CREATE TRIGGER workflows_updated_at BEFORE UPDATE ON workflows
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_shared_rls('workflows');

CREATE TABLE workflow_versions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  tenant_id uuid REFERENCES tenants(id) ON DELETE CASCADE,
  version integer NOT NULL CHECK (version > 0),
  config jsonb NOT NULL,
  changed_by uuid REFERENCES users(id) ON DELETE SET NULL,
  changed_at timestamptz NOT NULL DEFAULT now(),
  change_description text,
  UNIQUE (workflow_id, version),
  -- a tenant's version row must belong to that tenant's workflow (checked when tenant_id is set)
  FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflows(tenant_id, id) ON DELETE CASCADE
);
CALL enable_shared_rls('workflow_versions');

-- Every change of a workflow's config writes its next version, in the same transaction. The
-- author and reason come from the transaction's settings (renewflow.user_id,
-- renewflow.change_description). Concurrent edits of one workflow serialise on its row lock, so
-- max(version) + 1 cannot collide.
CREATE FUNCTION record_workflow_version() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.config IS NOT DISTINCT FROM OLD.config THEN
    RETURN NEW;
  END IF;
  INSERT INTO workflow_versions (workflow_id, tenant_id, version, config, changed_by, change_description)
  VALUES (
    NEW.id,
    NEW.tenant_id,
    COALESCE((SELECT max(v.version) FROM workflow_versions v WHERE v.workflow_id = NEW.id), 0) + 1,
    NEW.config,
    COALESCE(current_app_user_id(), NEW.created_by),
    nullif(current_setting('renewflow.change_description', true), '')
  );
  RETURN NEW;
END
$$;
CREATE TRIGGER workflows_record_version AFTER INSERT OR UPDATE OF config ON workflows
  FOR EACH ROW EXECUTE FUNCTION record_workflow_version();

CREATE TABLE saved_actions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid REFERENCES tenants(id) ON DELETE CASCADE,
  action_id varchar(100) UNIQUE NOT NULL,
  action_name varchar NOT NULL,
  action_type varchar NOT NULL CHECK (action_type IN ('snooze', 'skip', 'escalation', 'script')),
  -- 'code:GlobalActions.snooze' or 'file:handlers/custom'; both name a handler registered in
  -- Python, never a file loaded from tenant input.
  handler varchar CHECK (
    handler IS NULL
    OR (handler ~ '^(code|file):[A-Za-z0-9_][A-Za-z0-9_./-]*$' AND position('..' IN handler) = 0)
  ),
  config jsonb,
  available_globally boolean NOT NULL DEFAULT true,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, created_by) REFERENCES users(tenant_id, id) ON DELETE SET NULL (created_by)
);
CALL enable_shared_rls('saved_actions');

CREATE TABLE workflow_chat_branches (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid REFERENCES tenants(id) ON DELETE CASCADE,
  workflow_id varchar(50) NOT NULL,
  from_step_id varchar NOT NULL,
  branch_id varchar NOT NULL,
  branch_label varchar NOT NULL,
  branch_type varchar NOT NULL CHECK (branch_type IN ('fixed', 'llm', 'saved_action', 'rag')),
  user_prompts text[],
  response_text text,
  next_step_id varchar,
  saved_action_id varchar REFERENCES saved_actions(action_id) ON UPDATE CASCADE,
  llm_handler varchar CHECK (
    llm_handler IS NULL
    OR (llm_handler ~ '^[A-Za-z0-9_][A-Za-z0-9_./:-]*$' AND position('..' IN llm_handler) = 0)
  ),
  allow_off_script boolean NOT NULL DEFAULT false,
  return_to_step varchar,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT chat_branch_saved_action_named
    CHECK (branch_type <> 'saved_action' OR saved_action_id IS NOT NULL),
  CONSTRAINT workflow_chat_branches_key UNIQUE NULLS NOT DISTINCT
    (tenant_id, workflow_id, from_step_id, branch_id)
);
CREATE INDEX workflow_chat_branches_step ON workflow_chat_branches (workflow_id, from_step_id);
CALL enable_shared_rls('workflow_chat_branches');
