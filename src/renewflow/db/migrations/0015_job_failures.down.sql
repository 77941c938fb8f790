REVOKE UPDATE ON periodic_runs FROM renewflow_service;
-- a slot whose run failed is freed, as it was before this migration
DELETE FROM periodic_runs WHERE next_attempt_at IS NOT NULL;
ALTER TABLE periodic_runs
  DROP COLUMN next_attempt_at,
  DROP COLUMN last_error,
  DROP COLUMN attempts;
DROP TABLE job_failures;
