-- name: insert_tenant
INSERT INTO tenants (name, time_zone) VALUES (%(name)s, %(time_zone)s)
RETURNING id, name, time_zone, created_at;

-- name: get_tenant
SELECT id, name, time_zone, created_at FROM tenants WHERE id = %(tenant_id)s;

-- name: insert_user
INSERT INTO users (tenant_id, email, name, role)
VALUES (current_tenant_id(), %(email)s, %(name)s, %(role)s)
RETURNING id, tenant_id, email, name, role, active, created_at;

-- name: get_user
SELECT id, tenant_id, email, name, title, role, manager_id, active, created_at
FROM users WHERE id = %(user_id)s;

-- name: list_users
SELECT id, tenant_id, email, name, title, role, manager_id, active, created_at
FROM users ORDER BY lower(email) LIMIT %(limit)s OFFSET %(offset)s;

-- name: insert_api_key
INSERT INTO api_keys (tenant_id, user_id, role, name, key_hash, key_prefix)
VALUES (current_tenant_id(), %(user_id)s, %(role)s, %(name)s, %(key_hash)s, %(key_prefix)s)
RETURNING id;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = now() WHERE id = %(key_id)s AND revoked_at IS NULL
RETURNING id;

-- name: authenticate
SELECT key_id, tenant_id, user_id, role, email FROM authenticate_api_key(%(key_hash)s);

-- name: current_tenant_settings
SELECT settings FROM tenants WHERE id = current_tenant_id();
