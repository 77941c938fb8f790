-- The notifications outbox, as the app role in the signed-in user's tenant: reads only.

-- name: outbox
-- Newest first, keyset-paged on (created_at, id). `delivery` is what a person watching the
-- outbox needs to know, refining `status`:
--   failed + `permanent: ...`               -> undeliverable (never tried again)
--   failed + `retryable: ...`, attempts left -> retrying, at `next_attempt_at`
--   any other failed                         -> gave-up (its attempts are spent)
-- `next_attempt_at` follows the delivery claim's rule (renewflow/notify/queries.sql,
-- claim_deliveries): 30 s doubled per attempt after the last one, and not before the receiver's
-- Retry-After.
WITH outbox AS (
  SELECT n.id, n.workflow_execution_id, n.customer_id, c.name AS customer_name, n.recipient,
         n.channel, n.notification_type, n.title, n.message, n.priority, n.status, n.attempts,
         n.last_error, n.sent_at, n.acknowledged_at, n.claimed_until, n.retry_not_before,
         n.created_at, n.updated_at,
         CASE
           WHEN n.status <> 'failed' THEN n.status
           WHEN n.last_error LIKE 'permanent:%%' THEN 'undeliverable'
           WHEN n.last_error LIKE 'retryable:%%' AND n.attempts < %(max_attempts)s
             AND n.channel <> 'in_app' THEN 'retrying'
           ELSE 'gave-up'
         END AS delivery
  FROM notifications n
  LEFT JOIN customers c ON c.id = n.customer_id
  WHERE (%(channel)s::text IS NULL OR n.channel = %(channel)s)
)
SELECT o.*,
       CASE WHEN o.delivery = 'retrying' THEN
         greatest(o.updated_at + make_interval(secs => 30 * power(2, greatest(o.attempts, 1) - 1)),
                  coalesce(o.retry_not_before, '-infinity'::timestamptz))
       END AS next_attempt_at
FROM outbox o
WHERE (%(state)s::text IS NULL OR o.delivery = %(state)s
       OR (%(state)s = 'failed' AND o.status = 'failed'))
  AND (%(after_id)s::uuid IS NULL
       OR (o.created_at, o.id) < (%(after_created)s::timestamptz, %(after_id)s::uuid))
ORDER BY o.created_at DESC, o.id DESC
LIMIT %(limit)s;

-- name: outbox_counts
-- How many notifications are in each delivery state (for the filter's labels).
SELECT
  count(*) FILTER (WHERE status = 'pending') AS pending,
  count(*) FILTER (WHERE status = 'sending') AS sending,
  count(*) FILTER (WHERE status = 'sent') AS sent,
  count(*) FILTER (WHERE status = 'acknowledged') AS acknowledged,
  count(*) FILTER (WHERE status = 'failed') AS failed,
  count(*) FILTER (WHERE status = 'failed' AND last_error LIKE 'permanent:%%') AS undeliverable
FROM notifications
WHERE (%(channel)s::text IS NULL OR channel = %(channel)s);
