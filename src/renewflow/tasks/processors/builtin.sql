-- The built-in processors' queries, run as the app role in short transactions of the task's tenant
-- (ProcessorContext.transaction).

-- name: find_contact
SELECT * FROM contacts
WHERE customer_id = %(customer_id)s
  AND ((%(id)s::uuid IS NOT NULL AND id = %(id)s)
       OR (%(external_id)s::text IS NOT NULL AND external_id = %(external_id)s)
       OR (%(id)s::uuid IS NULL AND %(external_id)s::text IS NULL
           AND %(email)s::text IS NOT NULL AND lower(email) = lower(%(email)s)))
ORDER BY id
LIMIT 1;

-- name: update_contact
UPDATE contacts SET
  name = coalesce(%(name)s, name),
  email = coalesce(%(email)s, email),
  title = coalesce(%(title)s, title),
  role = coalesce(%(role)s, role),
  external_id = coalesce(%(external_id)s, external_id)
WHERE id = %(id)s
RETURNING id;

-- name: insert_contact
INSERT INTO contacts (tenant_id, customer_id, external_id, name, email, title, role)
VALUES (current_tenant_id(), %(customer_id)s, %(external_id)s, %(name)s, %(email)s, %(title)s, %(role)s)
RETURNING id;

-- name: clear_primary
UPDATE contacts SET is_primary = false
WHERE customer_id = %(customer_id)s AND is_primary AND id <> %(id)s
RETURNING id;

-- name: set_primary
UPDATE contacts SET is_primary = true WHERE id = %(id)s AND NOT is_primary RETURNING id;

-- name: tenant_webhooks
-- The endpoints and the secrets they may name (renewflow.settings reads them).
SELECT jsonb_build_object('webhooks', settings -> 'webhooks', 'secrets', settings -> 'secrets')
         AS settings
FROM tenants WHERE id = current_tenant_id();

-- name: put_step_artifact
-- The step's artifacts with this one in place of any earlier one of the same id (a re-run of the
-- task), appended at the end.
UPDATE workflow_step_executions
SET artifacts = coalesce(
      (SELECT jsonb_agg(a.value ORDER BY a.ordinality)
       FROM jsonb_array_elements(artifacts) WITH ORDINALITY AS a
       WHERE a.value ->> 'id' IS DISTINCT FROM %(artifact_id)s),
      '[]'::jsonb) || %(artifact)s
WHERE id = %(step_execution_id)s;
