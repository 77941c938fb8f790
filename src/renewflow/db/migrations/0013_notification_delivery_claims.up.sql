-- Email and webhook deliveries are claimed, then sent outside any transaction: a claimed row is
-- 'sending', under its batch's `claim_token`, until `claimed_until`, so no row lock is held while
-- a mail server or a webhook answers. Outcomes are recorded only under the token that claimed
-- the row. A claim whose worker stopped before recording the outcome expires and is retried.
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
  CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'acknowledged'));
ALTER TABLE notifications ADD COLUMN claim_token uuid;
ALTER TABLE notifications ADD COLUMN claimed_until timestamptz;
-- a receiver's own "try again after" (HTTP Retry-After), when it is later than the backoff
ALTER TABLE notifications ADD COLUMN retry_not_before timestamptz;
ALTER TABLE notifications ADD CONSTRAINT notifications_claim_while_sending
  CHECK ((status = 'sending') = (claim_token IS NOT NULL)
         AND (claim_token IS NULL) = (claimed_until IS NULL));

DROP INDEX notifications_pending_delivery;
CREATE INDEX notifications_pending_delivery ON notifications (created_at)
  WHERE status IN ('pending', 'sending', 'failed') AND channel <> 'in_app';
CREATE INDEX notifications_claim ON notifications (claim_token) WHERE claim_token IS NOT NULL;
