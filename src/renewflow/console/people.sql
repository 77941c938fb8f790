-- People and keys: the reads the accounts package does not offer, as the app role in the
-- signed-in admin's tenant. Every write goes through renewflow.accounts.

-- name: list_keys
-- Every API key of the tenant (its digest never leaves the database): active ones first, newest
-- first within each group.
SELECT k.id, k.key_prefix, k.name, k.role, k.created_at, k.revoked_at, k.user_id, u.email,
       coalesce(u.name, u.email) AS user_name
FROM api_keys k
JOIN users u ON u.id = k.user_id
ORDER BY k.revoked_at IS NOT NULL, k.revoked_at DESC, k.created_at DESC, k.id
LIMIT 500;
