-- Periodic jobs: the first worker to insert (job, slot) owns the slot; the job runs in the same
-- transaction, so a crash mid-job rolls the slot back for another worker to take.

-- name: claim_slot
INSERT INTO periodic_runs (job_name, slot, worker)
VALUES (%(job_name)s, %(slot)s, %(worker)s)
ON CONFLICT (job_name, slot) DO NOTHING
RETURNING job_name;

-- name: forget_old_slots
DELETE FROM periodic_runs WHERE job_name = %(job_name)s AND slot < %(before)s;
