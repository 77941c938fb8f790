-- The workflows admin's reads that the workflows service does not offer, as the app role in the
-- signed-in user's tenant. Every write goes through renewflow.workflows.service.

-- name: workflow_details
-- For the list: each workflow the tenant uses (overrides resolved, as the service lists them),
-- with its trigger range and its draft, so the list can say whether the draft would publish.
SELECT t.id, t.config, t.config -> 'trigger' -> 'daysUntilRenewal' AS days, w.draft_config,
       w.draft_updated_at
FROM get_tenant_workflows(current_tenant_id()) t
JOIN workflows w ON w.id = t.id;

-- name: user_names
-- Who published a version, or saved a draft (users of this tenant only: row-level security).
SELECT id, coalesce(name, email) AS name FROM users WHERE id = ANY(%(ids)s);
