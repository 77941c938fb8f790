-- The tenant settings' statements. A change of settings and its record in the audit trail are
-- one statement (write_settings): there is no way to store one without the other.

-- name: tenant
SELECT id, name, time_zone, settings FROM tenants WHERE id = current_tenant_id();

-- name: tenant_for_update
-- Two changes at once apply one after the other: each merges into what the other stored.
SELECT id, name, time_zone, settings FROM tenants WHERE id = current_tenant_id() FOR UPDATE;

-- name: write_settings
WITH changed AS (
  UPDATE tenants SET name = %(name)s, time_zone = %(time_zone)s, settings = %(settings)s
  WHERE id = current_tenant_id()
  RETURNING id
)
INSERT INTO tenant_settings_changes (tenant_id, actor_user_id, actor, action, keys)
SELECT id, %(actor_user_id)s, %(actor)s, 'update', %(keys)s FROM changed
RETURNING id, changed_at;

-- name: list_changes
SELECT id, changed_at, actor_user_id, actor, action, keys, count(*) OVER () AS total_count
FROM tenant_settings_changes
ORDER BY changed_at DESC, id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: tenants_with_secrets
-- Every tenant that has secrets, locked: a rotation re-seals them all in one transaction.
SELECT id, settings -> 'secrets' AS secrets
FROM tenants
WHERE jsonb_typeof(settings -> 'secrets') = 'object' AND settings -> 'secrets' <> '{}'::jsonb
ORDER BY id
FOR UPDATE;

-- name: write_secrets
WITH changed AS (
  UPDATE tenants SET settings = jsonb_set(settings, '{secrets}', %(secrets)s)
  WHERE id = %(tenant_id)s
  RETURNING id
)
INSERT INTO tenant_settings_changes (tenant_id, actor_user_id, actor, action, keys)
SELECT id, NULL, %(actor)s, 'rotate-key', %(keys)s FROM changed;

-- name: undeliverable_for_want_of_recipients
-- Notifications of the last 30 days that went to nobody because an address was missing.
SELECT count(*) AS n FROM notifications
WHERE status = 'failed' AND attempts = 0 AND created_at > now() - interval '30 days'
  AND last_error LIKE 'permanent: undeliverable: %%.recipients: %%resolved to nobody%%';
