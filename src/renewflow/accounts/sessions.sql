-- Console sessions and one-time sign-in links (migration 0018). Tokens are 256 random bits,
-- kept as their SHA-256 digest.

-- name: authenticate_session
SELECT * FROM authenticate_console_session(%(token_hash)s);

-- name: insert_session
INSERT INTO console_sessions
  (tenant_id, user_id, token_hash, signed_in_with, user_agent, expires_at)
VALUES (current_tenant_id(), %(user_id)s, %(token_hash)s, %(signed_in_with)s, %(user_agent)s,
        now() + make_interval(secs => %(lifetime_seconds)s))
RETURNING id, expires_at;

-- name: touch_session
UPDATE console_sessions SET last_seen_at = now()
WHERE id = %(session_id)s AND last_seen_at < now() - interval '1 minute';

-- name: revoke_session
UPDATE console_sessions SET revoked_at = now()
WHERE id = %(session_id)s AND revoked_at IS NULL
RETURNING id;

-- name: list_sessions
SELECT s.id, s.user_id, u.email, u.name, s.signed_in_with, s.user_agent, s.created_at,
       s.last_seen_at, s.expires_at, s.revoked_at
FROM console_sessions s JOIN users u ON u.id = s.user_id
WHERE s.revoked_at IS NULL AND s.expires_at > now()
ORDER BY s.last_seen_at DESC
LIMIT %(limit)s;

-- name: users_by_email
-- As the service role: the users with this email, in every tenant (a sign-in link names one).
SELECT u.id, u.tenant_id, t.name AS tenant_name, u.active
FROM users u JOIN tenants t ON t.id = u.tenant_id
WHERE lower(u.email) = lower(%(email)s)
ORDER BY t.name;

-- name: insert_login_link
INSERT INTO console_login_links (tenant_id, user_id, token_hash, expires_at)
VALUES (%(tenant_id)s, %(user_id)s, %(token_hash)s,
        now() + make_interval(secs => %(lifetime_seconds)s))
RETURNING id, expires_at;

-- name: consume_login_link
SELECT * FROM consume_console_login_link(%(token_hash)s);

-- name: peek_login_link
-- Is this link still usable (for the confirm page: the GET never consumes it)?
SELECT set_config('renewflow.link_hash', encode(%(token_hash)s, 'hex'), true) AS scoped,
       EXISTS (SELECT 1 FROM console_login_links
               WHERE token_hash = %(token_hash)s AND used_at IS NULL AND expires_at > now())
         AS usable;
