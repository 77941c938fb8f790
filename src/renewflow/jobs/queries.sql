-- Periodic jobs: the first worker to insert (job, slot) owns the slot; the job runs in the same
-- transaction, so a crash mid-job rolls the slot back for another worker to take. Workers never
-- wait for each other: the running one holds the slot's advisory lock (try_lock_slot).

-- name: try_lock_slot
-- Held by the transaction that runs a slot until it ends: a second worker asking meanwhile is
-- told "busy" at once, instead of waiting on the first one's insert for as long as the job runs.
SELECT pg_try_advisory_xact_lock(%(key)s) AS free;

-- name: claim_slot
INSERT INTO periodic_runs (job_name, slot, worker)
VALUES (%(job_name)s, %(slot)s, %(worker)s)
ON CONFLICT (job_name, slot) DO NOTHING
RETURNING job_name;

-- name: forget_old_slots
DELETE FROM periodic_runs WHERE job_name = %(job_name)s AND slot < %(before)s;
