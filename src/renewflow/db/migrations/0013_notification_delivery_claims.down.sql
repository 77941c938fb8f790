UPDATE notifications SET status = CASE WHEN attempts = 0 THEN 'pending' ELSE 'failed' END,
  claim_token = NULL, claimed_until = NULL
WHERE status = 'sending';
DROP INDEX notifications_claim;
DROP INDEX notifications_pending_delivery;
CREATE INDEX notifications_pending_delivery ON notifications (created_at)
  WHERE status IN ('pending', 'failed') AND channel <> 'in_app';
ALTER TABLE notifications DROP CONSTRAINT notifications_claim_while_sending;
ALTER TABLE notifications DROP COLUMN claimed_until;
ALTER TABLE notifications DROP COLUMN retry_not_before;
ALTER TABLE notifications DROP COLUMN claim_token;
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
  CHECK (status IN ('pending', 'sent', 'failed', 'acknowledged'));
