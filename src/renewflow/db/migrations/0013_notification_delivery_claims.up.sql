-- Email and webhook deliveries are claimed, then sent outside any transaction: a claimed row is
-- 'sending' until `claimed_until`, so no row lock is held while a mail server or a webhook
-- answers. A claim whose worker stopped before recording the outcome expires and is retried.
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
  CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'acknowledged'));
ALTER TABLE notifications ADD COLUMN claimed_until timestamptz;
ALTER TABLE notifications ADD CONSTRAINT notifications_claim_while_sending
  CHECK ((status = 'sending') = (claimed_until IS NOT NULL));

DROP INDEX notifications_pending_delivery;
CREATE INDEX notifications_pending_delivery ON notifications (created_at)
  WHERE status IN ('pending', 'sending', 'failed') AND channel <> 'in_app';
