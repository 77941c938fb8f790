-- The web console's sign-in: sessions (a cookie holding a random token, stored as its SHA-256)
-- and one-time sign-in links (15 minutes). Like API keys, a row is found before its tenant is
-- known without any bypass: it is visible to the transaction that presents its digest.

CREATE TABLE console_sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL,
  token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  signed_in_with varchar(20) NOT NULL CHECK (signed_in_with IN ('link', 'api_key')),
  user_agent varchar(255),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  CHECK (expires_at > created_at),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX console_sessions_user ON console_sessions (tenant_id, user_id);
CALL enable_tenant_rls('console_sessions');
CREATE POLICY session_holder_lookup ON console_sessions FOR SELECT TO renewflow_app
  USING (token_hash = decode(nullif(current_setting('renewflow.session_hash', true), ''), 'hex'));

CREATE TABLE console_login_links (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL,
  token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  CHECK (expires_at > created_at),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CALL enable_tenant_rls('console_login_links');
CREATE POLICY link_holder_lookup ON console_login_links FOR ALL TO renewflow_app
  USING (token_hash = decode(nullif(current_setting('renewflow.link_hash', true), ''), 'hex'));

-- A session's digest to its user, scoping the rest of the transaction to that tenant and user;
-- nothing for an unknown, expired or revoked session, or a deactivated user. SECURITY INVOKER.
CREATE FUNCTION authenticate_console_session(p_token_hash bytea)
  RETURNS TABLE (session_id uuid, tenant_id uuid, user_id uuid, role varchar, email varchar,
                 name varchar, expires_at timestamptz)
  LANGUAGE plpgsql
  AS $$
DECLARE
  live console_sessions%ROWTYPE;
BEGIN
  PERFORM set_config('renewflow.session_hash', encode(p_token_hash, 'hex'), true);
  SELECT * INTO live FROM console_sessions s
  WHERE s.token_hash = p_token_hash AND s.revoked_at IS NULL AND s.expires_at > now();
  PERFORM set_config('renewflow.session_hash', '', true);
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM set_config('renewflow.tenant_id', live.tenant_id::text, true);
  PERFORM set_config('renewflow.user_id', live.user_id::text, true);
  RETURN QUERY
    SELECT live.id, live.tenant_id, live.user_id, u.role, u.email, u.name, live.expires_at
    FROM users u
    WHERE u.id = live.user_id AND u.active;
END
$$;
GRANT EXECUTE ON FUNCTION authenticate_console_session(bytea) TO renewflow_app;

-- A sign-in link used once: marks it used (if unused and unexpired) and scopes the transaction to
-- its tenant and user, so the session can be written next. SECURITY INVOKER.
CREATE FUNCTION consume_console_login_link(p_token_hash bytea)
  RETURNS TABLE (tenant_id uuid, user_id uuid)
  LANGUAGE plpgsql
  AS $$
DECLARE
  link_tenant uuid;
  link_user uuid;
BEGIN
  PERFORM set_config('renewflow.link_hash', encode(p_token_hash, 'hex'), true);
  UPDATE console_login_links l SET used_at = now()
  WHERE l.token_hash = p_token_hash AND l.used_at IS NULL AND l.expires_at > now()
  RETURNING l.tenant_id, l.user_id INTO link_tenant, link_user;
  PERFORM set_config('renewflow.link_hash', '', true);
  IF link_tenant IS NULL THEN
    RETURN;
  END IF;
  PERFORM set_config('renewflow.tenant_id', link_tenant::text, true);
  PERFORM set_config('renewflow.user_id', link_user::text, true);
  RETURN QUERY SELECT link_tenant, link_user;
END
$$;
GRANT EXECUTE ON FUNCTION consume_console_login_link(bytea) TO renewflow_app;
