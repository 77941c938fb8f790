-- name: enqueue
-- One notification for one channel and recipient. In-app ones are delivered by being written
-- ('sent'); email and webhook ones wait for the delivery job ('pending'). A dedupe key makes the
-- same notification to the same recipient a no-op (notifications_once), whichever process tries.
INSERT INTO notifications (
  tenant_id, workflow_execution_id, customer_id, recipient_user_id, recipient, channel,
  notification_type, title, message, priority, metadata, dedupe_key, status, attempts, sent_at
) VALUES (
  current_tenant_id(), %(workflow_execution_id)s, %(customer_id)s, %(recipient_user_id)s,
  %(recipient)s, %(channel)s::varchar, %(notification_type)s, %(title)s, %(message)s,
  %(priority)s, %(metadata)s, %(dedupe_key)s,
  CASE WHEN %(channel)s::varchar = 'in_app' THEN 'sent' ELSE 'pending' END,
  CASE WHEN %(channel)s::varchar = 'in_app' THEN 1 ELSE 0 END,
  CASE WHEN %(channel)s::varchar = 'in_app' THEN now() END
)
ON CONFLICT ON CONSTRAINT notifications_once DO NOTHING
RETURNING id;

-- name: record_undeliverable
-- A notification that could not be made into a message (its template failed, a rendered value
-- does not fit its column): kept, failed and never attempted, with the reason. Its dedupe key is
-- taken like a delivered one's, so it is recorded once and never claimed (`permanent:`).
INSERT INTO notifications (
  tenant_id, workflow_execution_id, customer_id, recipient_user_id, recipient, channel,
  notification_type, title, message, priority, metadata, dedupe_key, status, attempts, last_error
) VALUES (
  current_tenant_id(), %(workflow_execution_id)s, %(customer_id)s, %(recipient_user_id)s,
  %(recipient)s, %(channel)s::varchar, %(notification_type)s, %(title)s, %(message)s,
  %(priority)s, %(metadata)s, %(dedupe_key)s, 'failed', 0, %(last_error)s
)
ON CONFLICT ON CONSTRAINT notifications_once DO NOTHING
RETURNING id;

-- name: mark_sent
-- Under the claim's token when the delivery job records it; without one, only a row nobody has
-- claimed. 'sent' is final: a late second outcome for the same row changes nothing.
UPDATE notifications
SET status = 'sent', attempts = attempts + 1, last_error = NULL, sent_at = now(),
    claim_token = NULL, claimed_until = NULL, retry_not_before = NULL
WHERE id = %(notification_id)s
  AND CASE WHEN %(claim_token)s::uuid IS NULL THEN status IN ('pending', 'failed')
           ELSE status = 'sending' AND claim_token = %(claim_token)s::uuid END
RETURNING id, attempts;

-- name: mark_failed
UPDATE notifications
SET status = 'failed', attempts = attempts + 1, last_error = %(last_error)s,
    claim_token = NULL, claimed_until = NULL,
    retry_not_before = now() + make_interval(secs => %(retry_after)s::double precision)
WHERE id = %(notification_id)s
  AND CASE WHEN %(claim_token)s::uuid IS NULL THEN status IN ('pending', 'failed')
           ELSE status = 'sending' AND claim_token = %(claim_token)s::uuid END
RETURNING id, attempts;

-- name: expire_delivery_claims
-- Claims whose worker stopped before recording the outcome (killed, say): the attempt counts,
-- and the row waits for its retry like any retryable failure.
UPDATE notifications
SET status = 'failed', attempts = attempts + 1, claim_token = NULL, claimed_until = NULL,
    last_error = 'retryable: the delivery was interrupted before its outcome was recorded'
WHERE status = 'sending' AND claimed_until < coalesce(%(now)s::timestamptz, now())
  AND channel <> 'in_app';

-- name: claim_deliveries
-- Queued email and webhook notifications due for an attempt: new ones, and failed ones whose
-- error was retryable, after a backoff that doubles with each attempt (30 s, 1 min, 2 min, ...)
-- and not before the time the receiver asked for (Retry-After), if it asked for a later one.
-- They become 'sending' under `token` until `claimed_until` and are sent after this transaction
-- commits, so no lock is held while a server answers and other workers pass them by.
WITH due AS (
  SELECT n.id
  FROM notifications n
  WHERE n.channel <> 'in_app'
    AND n.attempts < %(max_attempts)s
    -- a tenant's channel that failed as a whole (its settings, an unreachable server) is left
    -- alone until its next attempt: its messages wait, uncharged, and nobody else waits on it
    AND NOT EXISTS (
      SELECT 1 FROM job_failures f
      WHERE f.tenant_id = n.tenant_id AND f.job = %(job)s AND f.subject_type = 'channel'
        AND f.subject_id = n.channel AND f.resolved_at IS NULL
        AND f.next_attempt_at > coalesce(%(now)s::timestamptz, now()))
    AND (n.status = 'pending'
         OR (n.status = 'failed' AND n.last_error LIKE 'retryable:%%'
             AND n.updated_at <= coalesce(%(now)s::timestamptz, now())
                                 - make_interval(secs => 30 * power(2, n.attempts - 1))
             AND (n.retry_not_before IS NULL
                  OR n.retry_not_before <= coalesce(%(now)s::timestamptz, now()))))
  ORDER BY n.created_at
  LIMIT %(batch)s
  FOR UPDATE SKIP LOCKED
)
UPDATE notifications n
SET status = 'sending', claim_token = %(token)s,
    claimed_until = coalesce(%(now)s::timestamptz, now()) + %(lease)s::interval
FROM due, tenants t
WHERE n.id = due.id AND t.id = n.tenant_id
RETURNING n.id, n.tenant_id, n.channel, n.recipient, n.title, n.message, n.notification_type,
          n.priority, n.metadata::text AS metadata, n.dedupe_key, n.workflow_execution_id,
          n.customer_id, n.recipient_user_id, n.attempts, n.created_at,
          -- as text, read per message: one tenant's unreadable settings fail its messages only;
          -- the channels and the secrets they name, nothing else
          jsonb_build_object('notifications', t.settings -> 'notifications',
                             'secrets', t.settings -> 'secrets')::text AS channel_settings;

-- name: renew_delivery_claims
-- The rows of a batch still to send get a fresh lease before the next one goes out, so a slow
-- server early in the batch never makes the later rows look abandoned.
UPDATE notifications
SET claimed_until = coalesce(%(now)s::timestamptz, now()) + %(lease)s::interval
WHERE claim_token = %(token)s AND status = 'sending';

-- name: release_delivery_claims
-- Rows of a batch that were never tried (the round stopped early): back in the queue as they
-- were, no attempt counted. A tried row whose outcome could not be recorded is not among them:
-- its claim expires into a counted attempt.
UPDATE notifications
SET status = CASE WHEN attempts = 0 THEN 'pending' ELSE 'failed' END,
    claim_token = NULL, claimed_until = NULL
WHERE claim_token = %(token)s AND status = 'sending' AND id <> ALL(%(tried)s::uuid[]);

-- name: list_notifications
-- `mine`: addressed to the caller (by user id or email). Otherwise every notification of the
-- tenant (for the people watching deliveries), filtered by status and channel.
SELECT id, workflow_execution_id, customer_id, recipient, channel, notification_type, title,
       message, priority, metadata, status, attempts, last_error, sent_at, acknowledged_at,
       created_at, count(*) OVER () AS total_count
FROM notifications
WHERE (NOT %(mine)s OR recipient_user_id = %(user_id)s OR lower(recipient) = lower(%(email)s))
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(channel)s::text IS NULL OR channel = %(channel)s)
  AND (%(unacknowledged)s::boolean IS NULL OR (acknowledged_at IS NULL) = %(unacknowledged)s)
ORDER BY created_at DESC, id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: acknowledge
-- Only the recipient acknowledges; acknowledging twice keeps the first time.
UPDATE notifications
SET acknowledged_at = coalesce(acknowledged_at, now()),
    status = CASE WHEN channel = 'in_app' THEN 'acknowledged' ELSE status END
WHERE id = %(id)s
  AND (recipient_user_id = %(user_id)s OR lower(recipient) = lower(%(email)s))
RETURNING id, acknowledged_at, status;
