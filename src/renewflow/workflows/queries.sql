-- name: set_change_description
SELECT set_config('renewflow.change_description', %(description)s, true);

-- name: upsert_core_workflow
-- Writes only when something changed, so re-seeding an unchanged library writes no version
-- (the versioning trigger fires on UPDATE OF config, and skips unchanged configs itself).
INSERT INTO workflows AS w (workflow_id, name, description, version, config, is_core, tenant_id)
VALUES (%(workflow_id)s, %(name)s, %(description)s, %(version)s, %(config)s, true, NULL)
ON CONFLICT ON CONSTRAINT workflows_workflow_id_key DO UPDATE
  SET name = EXCLUDED.name,
      description = EXCLUDED.description,
      version = EXCLUDED.version,
      config = EXCLUDED.config
  WHERE (w.name, w.description, w.version, w.config)
    IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.description, EXCLUDED.version, EXCLUDED.config)
RETURNING w.id, (w.xmax = 0) AS inserted;

-- name: list_workflows
-- The caller's tenant's workflows with overrides resolved (get_tenant_workflows, migration 0007).
SELECT t.id, t.workflow_id, t.name, t.description, t.version, t.is_core, t.tenant_id,
       t.overrides_core, w.revision, w.draft_config IS NOT NULL AS has_draft,
       w.created_at, w.updated_at,
       (SELECT max(v.version) FROM workflow_versions v WHERE v.workflow_id = t.id)
         AS current_version
FROM get_tenant_workflows(%(tenant_id)s) t
JOIN workflows w ON w.id = t.id
ORDER BY t.workflow_id;

-- name: get_workflow
SELECT t.id, t.workflow_id, t.name, t.description, t.version, t.config, t.is_core, t.tenant_id,
       t.overrides_core, w.revision, w.draft_config, w.draft_updated_at, w.draft_updated_by,
       w.created_by, w.created_at, w.updated_at,
       (SELECT max(v.version) FROM workflow_versions v WHERE v.workflow_id = t.id)
         AS current_version
FROM get_workflow(%(workflow_id)s, %(tenant_id)s) t
JOIN workflows w ON w.id = t.id;

-- name: lock_own_workflow
-- The tenant's own row of a workflow, locked until the transaction ends: publish, rollback and
-- delete read, check and write it without a concurrent edit slipping in between.
SELECT id, workflow_id, config, draft_config, revision
FROM workflows
WHERE tenant_id = %(tenant_id)s AND workflow_id = %(workflow_id)s
FOR UPDATE;

-- name: insert_workflow
INSERT INTO workflows (workflow_id, name, description, version, config, is_core, tenant_id,
                       created_by)
VALUES (%(workflow_id)s, %(name)s, %(description)s, %(version)s, %(config)s, false,
        %(tenant_id)s, %(user_id)s)
ON CONFLICT ON CONSTRAINT workflows_workflow_id_key DO NOTHING
RETURNING id;

-- name: save_draft
-- Optimistic concurrency in one statement: the row is written only at the revision the client
-- saw. A concurrent writer holding the row lock makes this wait, then re-check the WHERE clause
-- against the new row, which no longer matches: no lost update.
UPDATE workflows
SET draft_config = %(draft)s, draft_updated_at = now(), draft_updated_by = %(user_id)s
WHERE id = %(id)s AND tenant_id = %(tenant_id)s AND revision = %(revision)s
RETURNING id;

-- name: publish_config
-- Writing config fires record_workflow_version (0003): the next version, by the transaction's user
-- and with its change description.
UPDATE workflows
SET config = %(config)s, name = %(name)s, description = %(description)s, version = %(version)s,
    draft_config = NULL, draft_updated_at = NULL, draft_updated_by = NULL
WHERE id = %(id)s
RETURNING id;

-- name: set_config
UPDATE workflows
SET config = %(config)s, name = %(name)s, description = %(description)s, version = %(version)s
WHERE id = %(id)s
RETURNING id;

-- name: delete_workflow
DELETE FROM workflows WHERE id = %(id)s;

-- name: list_versions
SELECT version, changed_by, changed_at, change_description
FROM workflow_versions
WHERE workflow_id = %(id)s
ORDER BY version;

-- name: get_version
SELECT version, config, changed_by, changed_at, change_description
FROM workflow_versions
WHERE workflow_id = %(id)s AND version = %(version)s;

-- name: export_workflows
SELECT t.workflow_id, t.config, t.is_core
FROM get_tenant_workflows(%(tenant_id)s) t
ORDER BY t.workflow_id;
