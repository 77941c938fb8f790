-- The failures of jobs that span tenants (table job_failures, migration 0015). Every statement
-- runs in the transaction of the job that saw the failure: as the service role for cross-tenant
-- work, or as the app role in a tenant transaction, where row-level security narrows it.

-- name: open_failures
-- The open failures of one job (only open ones are in the partial index: a small read).
SELECT id, tenant_id, subject_type, subject_id, attempts, next_attempt_at,
       next_attempt_at <= coalesce(%(now)s::timestamptz, now()) AS due
FROM job_failures
WHERE job = %(job)s AND resolved_at IS NULL;

-- name: record_failures
-- This run's failures, one row per subject (the caller removes duplicates). A subject already
-- failing is seen again: one more attempt, and the next one further away, doubling from
-- %(base)s seconds up to %(cap)s. The backoff lives here, in one statement, so two workers
-- recording the same subject at once still count two attempts.
WITH clock AS (SELECT coalesce(%(now)s::timestamptz, now()) AS now)
INSERT INTO job_failures AS f
  (tenant_id, job, subject_type, subject_id, workflow_id, step_id, notification_id, field, error,
   attempts, first_seen_at, last_seen_at, next_attempt_at)
SELECT x.tenant_id, %(job)s, x.subject_type, x.subject_id, x.workflow_id, x.step_id,
       x.notification_id, x.field, x.error, 1, clock.now, clock.now,
       clock.now + make_interval(secs => %(base)s::double precision)
FROM clock,
     unnest(%(tenant_ids)s::uuid[], %(subject_types)s::varchar[], %(subject_ids)s::varchar[],
            %(workflow_ids)s::varchar[], %(step_ids)s::varchar[], %(notification_ids)s::varchar[],
            %(fields)s::text[], %(errors)s::text[])
       AS x(tenant_id, subject_type, subject_id, workflow_id, step_id, notification_id, field,
            error)
ON CONFLICT (tenant_id, job, subject_type, subject_id) WHERE resolved_at IS NULL DO UPDATE SET
  workflow_id = EXCLUDED.workflow_id,
  step_id = EXCLUDED.step_id,
  notification_id = EXCLUDED.notification_id,
  field = EXCLUDED.field,
  error = EXCLUDED.error,
  attempts = f.attempts + 1,
  last_seen_at = greatest(f.last_seen_at, EXCLUDED.last_seen_at),
  next_attempt_at = EXCLUDED.last_seen_at + make_interval(
    secs => least(%(cap)s::double precision,
                  %(base)s::double precision * power(2, least(f.attempts, 40))))
RETURNING id, tenant_id, subject_type, subject_id, attempts, next_attempt_at;

-- name: resolve_failures
-- Subjects whose later attempt succeeded (or that no longer need the job). Failures resolved
-- more than 30 days ago are forgotten on the way, for the same tenants.
WITH clock AS (SELECT coalesce(%(now)s::timestamptz, now()) AS now),
forgotten AS (
  DELETE FROM job_failures o
  USING clock
  WHERE o.tenant_id = ANY(%(tenant_ids)s::uuid[]) AND o.resolved_at < clock.now - interval '30 days'
)
UPDATE job_failures f
SET resolved_at = greatest(clock.now, f.last_seen_at)
FROM clock
WHERE f.id = ANY(%(ids)s::uuid[]) AND f.resolved_at IS NULL
RETURNING f.id;

-- name: list_failures
-- The tenant's failures for its admins (row-level security scopes it), newest first.
SELECT id, job, subject_type, subject_id, workflow_id, step_id, notification_id, field, error,
       attempts, first_seen_at, last_seen_at, next_attempt_at, resolved_at,
       count(*) OVER () AS total_count
FROM job_failures
WHERE (%(job)s::text IS NULL OR job = %(job)s)
  AND (%(subject_type)s::text IS NULL OR subject_type = %(subject_type)s)
  AND (resolved_at IS NOT NULL) = %(resolved)s
ORDER BY last_seen_at DESC, id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: tenant_ids
SELECT id FROM tenants ORDER BY id;
