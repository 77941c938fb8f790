-- The action plan's task queue: what the worker needs on workflow_tasks (attempts, backoff, leases,
-- assignment), the claim index, a NOTIFY on enqueue, once-per-slot periodic jobs, and the database
-- side of the task rules (sub-task roll-up). The domain row is the queue: there is no second table
-- to keep in step with it.

ALTER TABLE workflow_tasks
  ADD COLUMN attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  ADD COLUMN max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
  -- not claimed before this moment (retry backoff); the claim compares it with the clock
  ADD COLUMN run_after timestamptz NOT NULL DEFAULT now(),
  -- when the task was last queued: the start of the enqueue-to-start latency
  ADD COLUMN queued_at timestamptz,
  -- the lease: a fresh token per claim (the fence), who holds it, until when, since when
  ADD COLUMN lease_token uuid,
  ADD COLUMN claimed_by varchar(200),
  ADD COLUMN claimed_at timestamptz,
  ADD COLUMN lease_expires_at timestamptz,
  ADD COLUMN last_error text,
  ADD COLUMN assigned_to uuid,
  ADD COLUMN due_date date,
  ADD CONSTRAINT task_lease_whole CHECK (
    (lease_token IS NULL) = (lease_expires_at IS NULL) AND (lease_token IS NULL) = (claimed_by IS NULL)
  ),
  -- a lease exists exactly while the processor runs
  ADD CONSTRAINT task_running_has_lease CHECK ((execution_status = 'running') = (lease_token IS NOT NULL)),
  ADD CONSTRAINT task_skip_needs_reason CHECK (status <> 'skipped' OR btrim(coalesce(skip_reason, '')) <> ''),
  ADD CONSTRAINT task_assignee_in_tenant
    FOREIGN KEY (tenant_id, assigned_to) REFERENCES users(tenant_id, id) ON DELETE SET NULL (assigned_to);

-- The claim: priority, then age, among queued pending auto-executed tasks.
CREATE INDEX workflow_tasks_queue ON workflow_tasks (priority, created_at)
  WHERE auto_execute AND execution_status = 'queued' AND status = 'pending';
-- The reaper: running tasks by lease expiry.
CREATE INDEX workflow_tasks_leases ON workflow_tasks (lease_expires_at)
  WHERE execution_status = 'running';
-- The periodic sweep: snoozed tasks by wake-up time.
CREATE INDEX workflow_tasks_snoozed ON workflow_tasks (snoozed_until)
  WHERE status = 'snoozed';
CREATE INDEX workflow_tasks_assignee ON workflow_tasks (tenant_id, assigned_to)
  WHERE assigned_to IS NOT NULL;

-- Wakes listening workers when a task becomes claimable. The payload is empty on purpose:
-- PostgreSQL folds identical notifications of one transaction into one, so enqueueing 20,000 tasks
-- at once sends one wake-up, not 20,000.
CREATE FUNCTION notify_task_queued() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  PERFORM pg_notify('renewflow_jobs', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER workflow_tasks_notify_queued
  AFTER INSERT OR UPDATE OF execution_status, status, auto_execute ON workflow_tasks
  FOR EACH ROW
  WHEN (NEW.auto_execute AND NEW.execution_status = 'queued' AND NEW.status = 'pending')
  EXECUTE FUNCTION notify_task_queued();

-- queued_at follows every (re)queueing, whoever does it (API, engine, reaper, retry).
CREATE FUNCTION stamp_task_queued() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF NEW.execution_status = 'queued'
     AND (TG_OP = 'INSERT' OR OLD.execution_status IS DISTINCT FROM 'queued') THEN
    NEW.queued_at = clock_timestamp();
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER workflow_tasks_stamp_queued
  BEFORE INSERT OR UPDATE OF execution_status ON workflow_tasks
  FOR EACH ROW EXECUTE FUNCTION stamp_task_queued();

-- Sub-task roll-up. A parent completes by itself when every sub-task is completed, skipped or
-- cancelled, and a completed parent reopens when a sub-task reopens. The parent row is locked
-- before the siblings are read: two sub-tasks finishing in concurrent transactions would otherwise
-- each see the other still open, and the parent would never complete. Under READ COMMITTED each
-- statement below takes a fresh snapshot, so the second transaction, once it holds the lock, sees
-- the first one's committed change. Updating the parent fires this trigger again for its own parent.
CREATE FUNCTION roll_up_task_status() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
DECLARE
  parent_status varchar;
BEGIN
  IF NEW.parent_task_id IS NULL OR NEW.status IS NOT DISTINCT FROM OLD.status THEN
    RETURN NULL;
  END IF;
  SELECT status INTO parent_status FROM workflow_tasks
    WHERE id = NEW.parent_task_id AND tenant_id = NEW.tenant_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF NEW.status IN ('completed', 'skipped', 'cancelled') THEN
    IF parent_status NOT IN ('completed', 'skipped', 'cancelled') AND NOT EXISTS (
      SELECT 1 FROM workflow_tasks sub
      WHERE sub.parent_task_id = NEW.parent_task_id AND sub.tenant_id = NEW.tenant_id
        AND sub.status NOT IN ('completed', 'skipped', 'cancelled')
    ) THEN
      UPDATE workflow_tasks
        SET status = 'completed', completed_at = now(), snoozed_until = NULL,
            metadata = coalesce(metadata, '{}'::jsonb) || '{"autoCompleted": true}'::jsonb
        WHERE id = NEW.parent_task_id AND tenant_id = NEW.tenant_id;
    END IF;
  ELSIF OLD.status IN ('completed', 'skipped', 'cancelled') AND parent_status = 'completed' THEN
    UPDATE workflow_tasks
      SET status = 'pending', completed_at = NULL,
          metadata = coalesce(metadata, '{}'::jsonb) - 'autoCompleted'
      WHERE id = NEW.parent_task_id AND tenant_id = NEW.tenant_id;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER workflow_tasks_roll_up
  AFTER UPDATE OF status ON workflow_tasks
  FOR EACH ROW EXECUTE FUNCTION roll_up_task_status();

-- Once-per-slot periodic jobs: the first worker to insert (job_name, slot) runs the job, in the same
-- transaction, so a crash mid-job frees the slot for another worker. A system table: it holds no
-- tenant's data (job names and times), so it has no tenant_id and only the service role, which the
-- worker's scheduler uses, may touch it; the app role has no grant at all.
CREATE TABLE periodic_runs (
  job_name varchar(100) NOT NULL CHECK (btrim(job_name) <> ''),
  slot timestamptz NOT NULL,
  worker varchar(200) NOT NULL,
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (job_name, slot)
);
GRANT SELECT, INSERT, DELETE ON periodic_runs TO renewflow_service;
