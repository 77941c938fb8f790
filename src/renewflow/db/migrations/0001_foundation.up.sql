-- Roles, tenancy helpers, and the accounts tables (tenants, users, API keys).
--
-- Two login roles (cluster-wide, so created only if missing):
--   renewflow_app      serves requests; owns nothing; no BYPASSRLS; sees one tenant per transaction.
--   renewflow_service  the explicit cross-tenant path (provisioning, sweeps, workers).
-- The migration owner needs CREATEROLE the first time (or an administrator creates the roles).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'renewflow_app') THEN
    CREATE ROLE renewflow_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'renewflow_service') THEN
    CREATE ROLE renewflow_service LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
  END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO renewflow_app, renewflow_service;

-- The tenant and user of the current transaction, set by the application with
-- set_config('renewflow.tenant_id', ..., true). Unset or empty means "nobody": policies then match
-- no row at all.
CREATE FUNCTION current_tenant_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('renewflow.tenant_id', true), '')::uuid $$;

CREATE FUNCTION current_app_user_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('renewflow.user_id', true), '')::uuid $$;

CREATE FUNCTION set_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  NEW.updated_at = now();
  RETURN NEW;
END
$$;

-- Row-level security for a table whose every row belongs to one tenant.
CREATE PROCEDURE enable_tenant_rls(tbl regclass)
  LANGUAGE plpgsql
  AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format(
    'CREATE POLICY tenant_isolation ON %s TO renewflow_app '
    'USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id())', tbl);
  EXECUTE format(
    'CREATE POLICY service_all_tenants ON %s TO renewflow_service USING (true) WITH CHECK (true)', tbl);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO renewflow_app, renewflow_service', tbl);
END
$$;

-- Row-level security for a table mixing shared core rows (tenant_id NULL, readable by every tenant,
-- writable by none) with tenant rows.
CREATE PROCEDURE enable_shared_rls(tbl regclass)
  LANGUAGE plpgsql
  AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format(
    'CREATE POLICY read_core_and_own ON %s FOR SELECT TO renewflow_app '
    'USING (tenant_id IS NULL OR tenant_id = current_tenant_id())', tbl);
  EXECUTE format(
    'CREATE POLICY write_own_insert ON %s FOR INSERT TO renewflow_app '
    'WITH CHECK (tenant_id = current_tenant_id())', tbl);
  EXECUTE format(
    'CREATE POLICY write_own_update ON %s FOR UPDATE TO renewflow_app '
    'USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id())', tbl);
  EXECUTE format(
    'CREATE POLICY write_own_delete ON %s FOR DELETE TO renewflow_app '
    'USING (tenant_id = current_tenant_id())', tbl);
  EXECUTE format(
    'CREATE POLICY service_all_tenants ON %s TO renewflow_service USING (true) WITH CHECK (true)', tbl);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO renewflow_app, renewflow_service', tbl);
END
$$;

CREATE TABLE tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name varchar(255) NOT NULL CHECK (btrim(name) <> ''),
  time_zone text NOT NULL DEFAULT 'UTC',
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER tenants_updated_at BEFORE UPDATE ON tenants
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
-- A tenant sees and edits its own row; creating and deleting tenants is provisioning (service role).
CREATE POLICY own_tenant_read ON tenants FOR SELECT TO renewflow_app
  USING (id = current_tenant_id());
CREATE POLICY own_tenant_update ON tenants FOR UPDATE TO renewflow_app
  USING (id = current_tenant_id()) WITH CHECK (id = current_tenant_id());
CREATE POLICY service_all_tenants ON tenants TO renewflow_service USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE ON tenants TO renewflow_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO renewflow_service;

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  email varchar(320) NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
  name varchar(255),
  title varchar(255),
  role varchar(20) NOT NULL CHECK (role IN ('admin', 'manager', 'csm', 'service')),
  manager_id uuid,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- (tenant_id, id) is what child tables reference, so a row can only point inside its own tenant.
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, manager_id) REFERENCES users(tenant_id, id)
);
CREATE UNIQUE INDEX users_tenant_email ON users (tenant_id, lower(email));
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('users');

CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL,
  role varchar(20) NOT NULL CHECK (role IN ('admin', 'manager', 'csm', 'service')),
  name varchar(255),
  -- A SHA-256 digest of the key: keys are 256 random bits, so a fast hash is enough and keeps
  -- authentication to one index lookup. The key itself is shown once and never stored.
  key_hash bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
  key_prefix varchar(16) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX api_keys_user ON api_keys (tenant_id, user_id);
CALL enable_tenant_rls('api_keys');
-- Authentication happens before the tenant is known. Instead of a bypass, a key row is visible to
-- whoever presents its digest for the current transaction: holding the digest means holding the key.
CREATE POLICY key_holder_lookup ON api_keys FOR SELECT TO renewflow_app
  USING (key_hash = decode(nullif(current_setting('renewflow.key_hash', true), ''), 'hex'));

-- Resolves a key digest to its principal and, on success, scopes the rest of the transaction to
-- that tenant and user. Runs with the caller's rights (SECURITY INVOKER): no privilege is borrowed.
CREATE FUNCTION authenticate_api_key(p_key_hash bytea)
  RETURNS TABLE (key_id uuid, tenant_id uuid, user_id uuid, role varchar, email varchar)
  LANGUAGE plpgsql
  AS $$
DECLARE
  found_key api_keys%ROWTYPE;
BEGIN
  PERFORM set_config('renewflow.key_hash', encode(p_key_hash, 'hex'), true);
  SELECT * INTO found_key FROM api_keys k WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL;
  PERFORM set_config('renewflow.key_hash', '', true);
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM set_config('renewflow.tenant_id', found_key.tenant_id::text, true);
  PERFORM set_config('renewflow.user_id', found_key.user_id::text, true);
  RETURN QUERY
    SELECT found_key.id, found_key.tenant_id, found_key.user_id, found_key.role, u.email
    FROM users u
    WHERE u.id = found_key.user_id AND u.active;
END
$$;
GRANT EXECUTE ON FUNCTION authenticate_api_key(bytea) TO renewflow_app;
