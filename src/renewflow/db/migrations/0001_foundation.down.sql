DROP FUNCTION IF EXISTS authenticate_api_key(bytea);
DROP TABLE IF EXISTS api_keys;
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS tenants;
DROP PROCEDURE IF EXISTS enable_shared_rls(regclass);
DROP PROCEDURE IF EXISTS enable_tenant_rls(regclass);
DROP FUNCTION IF EXISTS set_updated_at();
DROP FUNCTION IF EXISTS current_app_user_id();
DROP FUNCTION IF EXISTS current_tenant_id();
REVOKE USAGE ON SCHEMA public FROM renewflow_app, renewflow_service;
-- The roles are cluster-wide and may serve other databases: they are left in place.
