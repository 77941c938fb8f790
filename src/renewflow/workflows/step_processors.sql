-- Writes of the built-in step processors, each in the processor's own tenant transaction.
-- Each is idempotent: running a step's processor twice leaves the same rows.

-- name: actor_email
SELECT email, name FROM users WHERE id = %(user_id)s;

-- name: merge_renewal_metadata
-- Keeps what the renewal's processors recorded under customers.metadata.renewal.
UPDATE customers
SET metadata = jsonb_set(coalesce(metadata, '{}'::jsonb), '{renewal}',
                         coalesce(metadata -> 'renewal', '{}'::jsonb) || %(values)s::jsonb)
WHERE id = %(customer_id)s
RETURNING id;

-- name: set_contract_status
-- The customer's active contract ends as renewed (signed) or churned (lost).
UPDATE contracts SET status = %(status)s
WHERE customer_id = %(customer_id)s AND status = 'active'
RETURNING id;

-- name: record_health_snapshot
UPDATE customers
SET health_score = %(health_score)s,
    metadata = jsonb_set(coalesce(metadata, '{}'::jsonb), '{lastHealthSnapshot}', %(snapshot)s::jsonb)
WHERE id = %(customer_id)s
RETURNING id;
