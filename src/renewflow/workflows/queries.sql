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
