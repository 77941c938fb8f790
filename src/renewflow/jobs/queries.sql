-- Periodic jobs: the first worker to insert (job, slot) owns the slot; the job runs in the same
-- transaction, so a crash mid-job rolls the slot back for another worker to take. Workers never
-- wait for each other: the running one holds the slot's advisory lock (try_lock_slot). A run
-- that fails is recorded on its slot (attempts, last_error, next_attempt_at): the slot stays
-- taken until its next attempt, so no worker runs it again a second later.

-- name: try_lock_slot
-- Held by the transaction that runs a slot until it ends: a second worker asking meanwhile is
-- told "busy" at once, instead of waiting on the first one's insert for as long as the job runs.
SELECT pg_try_advisory_xact_lock(%(key)s) AS free;

-- name: claim_slot
-- A new slot, or a slot whose failed run is due for its next attempt (taken over by whoever
-- asks first: the advisory lock makes it one worker).
INSERT INTO periodic_runs AS r (job_name, slot, worker)
VALUES (%(job_name)s, %(slot)s, %(worker)s)
ON CONFLICT (job_name, slot) DO UPDATE
  SET worker = EXCLUDED.worker, started_at = clock_timestamp(), next_attempt_at = NULL
  WHERE r.next_attempt_at IS NOT NULL AND r.next_attempt_at <= %(now)s
RETURNING job_name, attempts;

-- name: slot_waiting
-- When a slot nobody could claim is next tried (NULL: it ran, or it is running).
SELECT next_attempt_at FROM periodic_runs WHERE job_name = %(job_name)s AND slot = %(slot)s;

-- name: fail_slot
-- The slot's run failed: the slot stays taken until its next attempt.
UPDATE periodic_runs
SET attempts = attempts + 1, last_error = %(error)s, next_attempt_at = %(next_attempt_at)s
WHERE job_name = %(job_name)s AND slot = %(slot)s
RETURNING attempts;

-- name: forget_old_slots
DELETE FROM periodic_runs WHERE job_name = %(job_name)s AND slot < %(before)s;
