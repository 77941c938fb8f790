-- Jobs that span tenants fail per tenant, and each failure is kept where that tenant's admins
-- see it (GET /api/failures): which job, which subject failed (a customer, an execution, a
-- notification, a workflow, a delivery channel, or the tenant as a whole), what is at fault
-- (workflow, step, notification, field or template path) and the error. A subject that failed
-- is skipped until `next_attempt_at` (an exponential backoff kept by the database, so every
-- worker agrees), and its row is resolved when a later attempt succeeds. One open row per
-- subject and job: a failure seen again bumps `attempts` and `last_seen_at`.
CREATE TABLE job_failures (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  job varchar(100) NOT NULL CHECK (btrim(job) <> ''),
  subject_type varchar(20) NOT NULL
    CHECK (subject_type IN ('tenant', 'customer', 'execution', 'notification', 'workflow', 'channel')),
  -- the subject's id as text: a row's uuid, an execution's scheduled notification
  -- ("<execution id>:<notification id>"), a channel's name ("email", "webhook")
  subject_id varchar(200) NOT NULL CHECK (btrim(subject_id) <> ''),
  workflow_id varchar(100),
  step_id varchar(100),
  notification_id varchar(100),
  field text,
  error text NOT NULL,
  attempts integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
  first_seen_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,
  next_attempt_at timestamptz NOT NULL,
  resolved_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (last_seen_at >= first_seen_at)
);
-- One open failure per subject: what recording upserts on, and what the jobs look up (tiny: only
-- open failures are in it). It leads with tenant_id, like every tenant-scoped key.
CREATE UNIQUE INDEX job_failures_one_open
  ON job_failures (tenant_id, job, subject_type, subject_id) WHERE resolved_at IS NULL;
CREATE INDEX job_failures_resolved ON job_failures (tenant_id, resolved_at)
  WHERE resolved_at IS NOT NULL;
CREATE TRIGGER job_failures_updated_at BEFORE UPDATE ON job_failures
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('job_failures');

-- Periodic slots remember a failed run: the slot stays taken (no worker runs it again at the
-- next tick, a second later) until `next_attempt_at`, at most the start of the next slot.
ALTER TABLE periodic_runs
  ADD COLUMN attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  ADD COLUMN last_error text,
  ADD COLUMN next_attempt_at timestamptz;
GRANT UPDATE ON periodic_runs TO renewflow_service;
