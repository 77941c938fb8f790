-- name: insert_in_app
-- An in-app notification is delivered by being written. A dedupe key makes a repeated delivery
-- of the same notification a no-op (notifications_once), whichever process tries.
INSERT INTO notifications (
  tenant_id, workflow_execution_id, customer_id, recipient_user_id, recipient, channel,
  notification_type, title, message, priority, metadata, dedupe_key, status, attempts, sent_at
) VALUES (
  current_tenant_id(), %(workflow_execution_id)s, %(customer_id)s, %(recipient_user_id)s,
  %(recipient)s, 'in_app', %(notification_type)s, %(title)s, %(message)s, %(priority)s,
  %(metadata)s, %(dedupe_key)s, 'sent', 1, now()
)
ON CONFLICT ON CONSTRAINT notifications_once DO NOTHING
RETURNING id;

-- name: mark_sent
UPDATE notifications
SET status = 'sent', attempts = attempts + 1, last_error = NULL, sent_at = now()
WHERE id = %(notification_id)s AND status IN ('pending', 'failed')
RETURNING id, attempts;

-- name: mark_failed
UPDATE notifications
SET status = 'failed', attempts = attempts + 1, last_error = %(last_error)s
WHERE id = %(notification_id)s AND status IN ('pending', 'failed')
RETURNING id, attempts;
