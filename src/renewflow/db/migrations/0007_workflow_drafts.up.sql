-- Drafts, optimistic concurrency and the spec's helper functions for workflows.
--
-- A tenant edits a workflow as a draft (draft_config), which only publishing copies into config;
-- the versioning trigger of 0003 then writes the next workflow_versions row, so a version is
-- always a published config and an execution started on it keeps it. `revision` counts every
-- change of the row (draft saves included): it is the ETag that If-Match must carry, so the second
-- of two concurrent edits finds a newer revision and is refused instead of overwriting the first.

ALTER TABLE workflows
  ADD COLUMN draft_config jsonb
    CONSTRAINT workflows_draft_is_object
    CHECK (draft_config IS NULL OR jsonb_typeof(draft_config) = 'object'),
  ADD COLUMN draft_updated_at timestamptz,
  ADD COLUMN draft_updated_by uuid,
  ADD COLUMN revision integer NOT NULL DEFAULT 1 CONSTRAINT workflows_revision_positive
    CHECK (revision > 0),
  -- core workflows change only by seeding the shipped library: they never hold a draft
  ADD CONSTRAINT workflows_core_has_no_draft CHECK (NOT is_core OR draft_config IS NULL),
  ADD CONSTRAINT workflows_draft_updated_by_fkey FOREIGN KEY (tenant_id, draft_updated_by)
    REFERENCES users(tenant_id, id) ON DELETE SET NULL (draft_updated_by);

-- Every update of a workflow row is a new revision, whoever writes it (API, CLI, seeding).
CREATE FUNCTION bump_workflow_revision() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  NEW.revision = OLD.revision + 1;
  RETURN NEW;
END
$$;
CREATE TRIGGER workflows_bump_revision BEFORE UPDATE ON workflows
  FOR EACH ROW EXECUTE FUNCTION bump_workflow_revision();

-- The workflows a tenant uses: every core workflow, except where the tenant has its own workflow
-- of the same workflow_id (an override), plus the tenant's own. SECURITY INVOKER (the default,
-- stated here on purpose): row-level security applies, so the app role passing another tenant's id
-- gets the core workflows only.
CREATE FUNCTION get_tenant_workflows(p_tenant_id uuid)
  RETURNS TABLE (
    id uuid,
    workflow_id varchar,
    name varchar,
    description text,
    version varchar,
    config jsonb,
    is_core boolean,
    tenant_id uuid,
    overrides_core boolean
  )
  LANGUAGE sql STABLE SECURITY INVOKER
  AS $$
  SELECT DISTINCT ON (w.workflow_id)
    w.id, w.workflow_id, w.name, w.description, w.version, w.config, w.is_core, w.tenant_id,
    (w.tenant_id IS NOT NULL AND EXISTS (
      SELECT 1 FROM workflows c WHERE c.tenant_id IS NULL AND c.workflow_id = w.workflow_id
    ))
  FROM workflows w
  WHERE w.tenant_id IS NULL OR w.tenant_id = p_tenant_id
  ORDER BY w.workflow_id, w.tenant_id IS NULL
$$;

-- One workflow as `p_tenant_id` sees it (its override if it has one); no row if none is visible.
CREATE FUNCTION get_workflow(p_workflow_id varchar, p_tenant_id uuid)
  RETURNS TABLE (
    id uuid,
    workflow_id varchar,
    name varchar,
    description text,
    version varchar,
    config jsonb,
    is_core boolean,
    tenant_id uuid,
    overrides_core boolean
  )
  LANGUAGE sql STABLE SECURITY INVOKER
  AS $$
  SELECT t.* FROM get_tenant_workflows(p_tenant_id) t WHERE t.workflow_id = p_workflow_id
$$;

-- The chat branches of one step of the workflow the current tenant sees. The workflow's config
-- (steps[].chatBranches) is the source of truth; rows of workflow_chat_branches for the same
-- workflow and step (the spec's table) are added when they name a branch the config does not
-- define, the tenant's rows before the core ones.
CREATE FUNCTION get_step_chat_branches(p_workflow_id varchar, p_step_id varchar)
  RETURNS TABLE (
    id uuid,
    branch_id varchar,
    branch_label varchar,
    branch_type varchar,
    user_prompts text[],
    response_text text,
    next_step_id varchar,
    saved_action_id varchar,
    llm_handler varchar,
    allow_off_script boolean,
    return_to_step varchar,
    source text
  )
  LANGUAGE sql STABLE SECURITY INVOKER
  AS $$
  WITH workflow AS (
    SELECT g.config FROM get_workflow(p_workflow_id, current_tenant_id()) g
  ),
  from_config AS (
    SELECT
      NULL::uuid AS id,
      (b.value ->> 'id')::varchar AS branch_id,
      (b.value ->> 'label')::varchar AS branch_label,
      (b.value ->> 'type')::varchar AS branch_type,
      ARRAY(SELECT jsonb_array_elements_text(coalesce(b.value -> 'userPrompts', '[]'::jsonb)))
        AS user_prompts,
      b.value ->> 'responseText' AS response_text,
      (b.value ->> 'nextStep')::varchar AS next_step_id,
      (b.value ->> 'savedActionId')::varchar AS saved_action_id,
      (b.value ->> 'llmHandler')::varchar AS llm_handler,
      coalesce((b.value ->> 'allowOffScript')::boolean, false) AS allow_off_script,
      (b.value ->> 'returnToStep')::varchar AS return_to_step,
      'config'::text AS source,
      b.ordinality AS position
    FROM workflow,
      jsonb_array_elements(workflow.config -> 'steps') AS s(value),
      jsonb_array_elements(coalesce(s.value -> 'chatBranches', '[]'::jsonb))
        WITH ORDINALITY AS b(value, ordinality)
    WHERE s.value ->> 'id' = p_step_id
  ),
  from_table AS (
    SELECT DISTINCT ON (cb.branch_id)
      cb.id, cb.branch_id, cb.branch_label, cb.branch_type, cb.user_prompts, cb.response_text,
      cb.next_step_id, cb.saved_action_id, cb.llm_handler, cb.allow_off_script,
      cb.return_to_step, 'table'::text AS source, NULL::bigint AS position
    FROM workflow_chat_branches cb
    WHERE cb.workflow_id = p_workflow_id
      AND cb.from_step_id = p_step_id
      AND NOT EXISTS (SELECT 1 FROM from_config f WHERE f.branch_id = cb.branch_id)
    ORDER BY cb.branch_id, cb.tenant_id IS NULL
  )
  SELECT u.id, u.branch_id, u.branch_label, u.branch_type, u.user_prompts, u.response_text,
         u.next_step_id, u.saved_action_id, u.llm_handler, u.allow_off_script, u.return_to_step,
         u.source
  FROM (SELECT * FROM from_config UNION ALL SELECT * FROM from_table) u
  ORDER BY u.source, u.position, u.branch_id
$$;

GRANT EXECUTE ON FUNCTION get_tenant_workflows(uuid), get_workflow(varchar, uuid),
  get_step_chat_branches(varchar, varchar) TO renewflow_app, renewflow_service;
