-- What a metrics scrape reads from the database, as the service role (every tenant), in one
-- short transaction that gives up quickly: a scrape must answer even when the database is slow.

-- name: bound_the_scrape
SET LOCAL statement_timeout = 2000;

-- name: periodic_jobs
-- Each periodic job's newest slot that a worker took, and its newest slot not waiting for a
-- retry after a failed run (a slot that ran, or runs now); whether the newest one failed.
SELECT job_name,
       extract(epoch FROM max(slot)) AS last_slot,
       extract(epoch FROM max(slot) FILTER (WHERE next_attempt_at IS NULL)) AS last_ok_slot,
       (array_agg(next_attempt_at IS NOT NULL ORDER BY slot DESC))[1] AS failing
FROM periodic_runs
GROUP BY job_name
ORDER BY job_name;

-- name: open_failures
-- Open failures of the cross-tenant jobs, counted across tenants (job_failures_one_open holds
-- only the open ones: a small read).
SELECT job, subject_type, count(*) AS open
FROM job_failures
WHERE resolved_at IS NULL
GROUP BY job, subject_type
ORDER BY job, subject_type;
