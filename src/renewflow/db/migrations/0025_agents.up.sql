-- Agent tasks that run (spec: agent-task-steps.md): owner-only access, the step runner's queue
-- columns on task_steps (each step is its own leased job), and every LLM call linked to its step.

-- Owner-only access inside the tenant. These policies are RESTRICTIVE: they narrow the tenant
-- policy, never widen it. A transaction that names a user (every request: the API key or console
-- session sets it) reaches only that user's agent tasks; an admin may also read, never write,
-- the tenant's others. A tenant transaction that names no user is the system acting inside the
-- tenant (migrations' data steps, the tenant tests): it keeps the plain tenant scope. The worker
-- runs as the service role, which the tenant policy already treats separately.
CREATE FUNCTION agent_task_visible(p_user_id uuid) RETURNS boolean
  LANGUAGE sql STABLE
  AS $$
  SELECT current_app_user_id() IS NULL
      OR p_user_id = current_app_user_id()
      OR EXISTS (SELECT 1 FROM users u
                 WHERE u.id = current_app_user_id() AND u.tenant_id = current_tenant_id()
                   AND u.role = 'admin' AND u.active)
$$;

CREATE FUNCTION agent_task_writable(p_user_id uuid) RETURNS boolean
  LANGUAGE sql STABLE
  AS $$ SELECT current_app_user_id() IS NULL OR p_user_id = current_app_user_id() $$;

CREATE POLICY owner_read ON agent_tasks AS RESTRICTIVE FOR SELECT TO renewflow_app
  USING (agent_task_visible(user_id));
CREATE POLICY owner_insert ON agent_tasks AS RESTRICTIVE FOR INSERT TO renewflow_app
  WITH CHECK (agent_task_writable(user_id));
CREATE POLICY owner_update ON agent_tasks AS RESTRICTIVE FOR UPDATE TO renewflow_app
  USING (agent_task_writable(user_id)) WITH CHECK (agent_task_writable(user_id));
CREATE POLICY owner_delete ON agent_tasks AS RESTRICTIVE FOR DELETE TO renewflow_app
  USING (agent_task_writable(user_id));

-- A step carries its task's owner (set from the task by a trigger, kept equal to it by a
-- foreign key), so its policies read its own row. A step aimed at a task its writer cannot see
-- (another user's, another tenant's, a missing one) gets no owner and fails the foreign key:
-- the same error whichever it was, so an insert cannot probe for other users' task ids.
ALTER TABLE agent_tasks ADD CONSTRAINT agent_tasks_tenant_id_id_user_id_key
  UNIQUE (tenant_id, id, user_id);
ALTER TABLE task_steps ADD COLUMN user_id uuid;
ALTER TABLE task_steps NO FORCE ROW LEVEL SECURITY;
ALTER TABLE agent_tasks NO FORCE ROW LEVEL SECURITY;
UPDATE task_steps s SET user_id = a.user_id FROM agent_tasks a WHERE a.id = s.task_id;
ALTER TABLE task_steps
  ADD CONSTRAINT task_steps_owner_fkey FOREIGN KEY (tenant_id, task_id, user_id)
    REFERENCES agent_tasks(tenant_id, id, user_id) MATCH FULL ON DELETE CASCADE;

CREATE FUNCTION task_step_owner() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  SELECT a.user_id INTO NEW.user_id FROM agent_tasks a
  WHERE a.id = NEW.task_id AND a.tenant_id = NEW.tenant_id;
  RETURN NEW;
END
$$;
CREATE TRIGGER task_steps_owner BEFORE INSERT OR UPDATE OF task_id, tenant_id, user_id
  ON task_steps FOR EACH ROW EXECUTE FUNCTION task_step_owner();

CREATE POLICY owner_read ON task_steps AS RESTRICTIVE FOR SELECT TO renewflow_app
  USING (agent_task_visible(user_id));
CREATE POLICY owner_insert ON task_steps AS RESTRICTIVE FOR INSERT TO renewflow_app
  WITH CHECK (agent_task_writable(user_id));
CREATE POLICY owner_update ON task_steps AS RESTRICTIVE FOR UPDATE TO renewflow_app
  USING (agent_task_writable(user_id)) WITH CHECK (agent_task_writable(user_id));
CREATE POLICY owner_delete ON task_steps AS RESTRICTIVE FOR DELETE TO renewflow_app
  USING (agent_task_writable(user_id));

-- The run of a task: paused at a step that needs a person's approval, and its budget of
-- characters for the previous steps' results a step receives.
ALTER TABLE agent_tasks
  DROP CONSTRAINT agent_tasks_status_check,
  ADD CONSTRAINT agent_tasks_status_check CHECK (status IN (
    'pending', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled')),
  ADD COLUMN context_budget_chars integer NOT NULL DEFAULT 8000
    CHECK (context_budget_chars BETWEEN 0 AND 200000),
  ADD COLUMN started_at timestamptz,
  ADD COLUMN completed_at timestamptz,
  ADD COLUMN error_message text;

-- Each step is one job: `run_after` set means queued (due at that time), the lease columns mean
-- claimed. `retry_count` counts the retries spent (failed calls and expired leases alike), at
-- most `max_retries`.
ALTER TABLE task_steps
  ADD COLUMN max_retries integer NOT NULL DEFAULT 2 CHECK (max_retries BETWEEN 0 AND 10),
  ADD COLUMN timeout_seconds integer CHECK (timeout_seconds BETWEEN 1 AND 3600),
  ADD COLUMN model varchar(200) CHECK (btrim(model) <> ''),
  ADD COLUMN requires_approval boolean NOT NULL DEFAULT false,
  ADD COLUMN approved_at timestamptz,
  ADD COLUMN approved_by uuid,
  ADD COLUMN run_after timestamptz,
  ADD COLUMN lease_token uuid,
  ADD COLUMN claimed_by text,
  ADD COLUMN lease_expires_at timestamptz,
  ADD CONSTRAINT task_steps_tenant_id_id_key UNIQUE (tenant_id, id),
  -- checked at the end of each statement (and at commit when deferred): one UPDATE that swaps
  -- two steps, or moves every step, passes through duplicates on its way
  DROP CONSTRAINT unique_task_step_order,
  ADD CONSTRAINT unique_task_step_order UNIQUE (tenant_id, task_id, step_order)
    DEFERRABLE INITIALLY IMMEDIATE;
CREATE INDEX task_steps_queued ON task_steps (run_after)
  WHERE status = 'pending' AND run_after IS NOT NULL;
CREATE INDEX task_steps_leased ON task_steps (lease_expires_at) WHERE status = 'running';

-- Every LLM call of a step, so each step's tokens and cost add up from the calls it made (all of
-- its attempts). A deleted step keeps its calls' spend, unlinked.
ALTER TABLE llm_calls
  ADD COLUMN task_step_id uuid,
  ADD CONSTRAINT llm_calls_tenant_id_task_step_id_fkey
    FOREIGN KEY (tenant_id, task_step_id) REFERENCES task_steps(tenant_id, id)
    ON DELETE SET NULL (task_step_id);
CREATE INDEX llm_calls_task_step ON llm_calls (tenant_id, task_step_id)
  WHERE task_step_id IS NOT NULL;

-- The spec's migration of single-instruction tasks to the step model: each task without steps
-- gets one, from its instructions, or a clear default when it has none (not a NOT NULL error).
-- The owner runs migrations and no policy names it: FORCE is lifted (above) until this is done.
INSERT INTO task_steps (tenant_id, task_id, step_order, step_name, instructions,
                        include_previous_context)
SELECT a.tenant_id, a.id, 1, coalesce(nullif(btrim(a.name), ''), 'Task Step'),
       coalesce(nullif(btrim(a.instructions), ''),
                format('Carry out the task "%s" and report what you found.', a.name)),
       false
FROM agent_tasks a
WHERE NOT EXISTS (SELECT 1 FROM task_steps ts WHERE ts.task_id = a.id);
ALTER TABLE agent_tasks FORCE ROW LEVEL SECURITY;
ALTER TABLE task_steps FORCE ROW LEVEL SECURITY;

-- The first step still to do, queued (or the task paused before it, when it needs an approval
-- not given yet); the task completed when none is left. Steps run in order, so the first
-- pending one is always the next. Called with the task's row locked.
CREATE FUNCTION agent_task_advance(p_task_id uuid) RETURNS text
  LANGUAGE plpgsql
  AS $$
DECLARE
  next_step task_steps%ROWTYPE;
BEGIN
  SELECT * INTO next_step FROM task_steps
  WHERE task_id = p_task_id AND status = 'pending'
  ORDER BY step_order LIMIT 1;
  IF NOT FOUND THEN
    UPDATE agent_tasks SET status = 'completed', completed_at = clock_timestamp(), error_message = NULL
    WHERE id = p_task_id;
    RETURN 'completed';
  END IF;
  IF next_step.requires_approval AND next_step.approved_at IS NULL THEN
    UPDATE agent_tasks SET status = 'awaiting_approval' WHERE id = p_task_id;
    RETURN 'awaiting_approval';
  END IF;
  UPDATE task_steps SET run_after = coalesce(run_after, clock_timestamp()) WHERE id = next_step.id;
  UPDATE agent_tasks SET status = 'running' WHERE id = p_task_id AND status <> 'running';
  PERFORM pg_notify('renewflow_jobs', 'agent_steps');
  RETURN 'queued';
END
$$;

-- The fenced finish of a claimed step, with the step's LLM calls (recorded whatever the fence
-- says: they were made and paid for). Locks the task, then the step: the order every writer of
-- both takes (edits, runs, cancels, the reaper), so none of them deadlock with it.
-- p_outcome: 'completed', 'retry' (queued again after p_delay seconds while retries are left,
-- otherwise failed) or 'failed'. Returns 'lost' when the lease no longer holds.
CREATE FUNCTION finish_agent_step(
  p_step_id uuid, p_token uuid, p_outcome text, p_result jsonb, p_error text, p_context jsonb,
  p_delay double precision, p_calls jsonb
) RETURNS text
  LANGUAGE plpgsql
  AS $$
DECLARE
  peek task_steps%ROWTYPE;
  held task_steps%ROWTYPE;
BEGIN
  SELECT * INTO peek FROM task_steps WHERE id = p_step_id;
  IF FOUND THEN
    PERFORM 1 FROM agent_tasks WHERE id = peek.task_id FOR UPDATE;
    SELECT * INTO held FROM task_steps
    WHERE id = p_step_id AND lease_token = p_token AND status = 'running'
      AND lease_expires_at > clock_timestamp()
    FOR UPDATE;
  END IF;
  IF peek.id IS NOT NULL THEN
    INSERT INTO llm_calls (tenant_id, task_step_id, provider, model, input_tokens, output_tokens,
                           cost_usd, latency_ms, attempts, prompt_sha256, status, error_kind)
    SELECT peek.tenant_id, peek.id, c.provider, c.model, c.input_tokens, c.output_tokens,
           c.cost_usd, c.latency_ms, c.attempts, c.prompt_sha256, c.status, c.error_kind
    FROM jsonb_to_recordset(p_calls) AS c(provider text, model text, input_tokens integer,
      output_tokens integer, cost_usd numeric, latency_ms integer, attempts integer,
      prompt_sha256 text, status text, error_kind text);
  END IF;
  IF held.id IS NULL THEN
    RETURN 'lost';
  END IF;
  IF p_outcome = 'completed' THEN
    UPDATE task_steps
    SET status = 'completed', execution_result = p_result, context_data = p_context,
        error_message = NULL, execution_completed_at = clock_timestamp(), run_after = NULL,
        lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
    WHERE id = p_step_id;
    PERFORM agent_task_advance(held.task_id);
    RETURN 'completed';
  END IF;
  IF p_outcome = 'retry' AND held.retry_count < held.max_retries THEN
    UPDATE task_steps
    SET status = 'pending', retry_count = retry_count + 1, error_message = p_error,
        context_data = p_context,
        run_after = clock_timestamp() + make_interval(secs => p_delay),
        lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
    WHERE id = p_step_id;
    RETURN 'retry';
  END IF;
  UPDATE task_steps
  SET status = 'failed', execution_result = p_result, context_data = p_context,
      error_message = p_error, execution_completed_at = clock_timestamp(), run_after = NULL,
      lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
  WHERE id = p_step_id;
  UPDATE agent_tasks
  SET status = 'failed', completed_at = clock_timestamp(),
      error_message = format('step %s (%s) failed: %s', held.step_order, held.step_name, p_error)
  WHERE id = held.task_id;
  RETURN 'failed';
END
$$;

-- Steps whose lease expired (their worker died): queued again while retries are left, otherwise
-- failed with their task. Task before step, as everywhere; a task locked right now (being
-- finished or edited) is left for the next round.
CREATE FUNCTION reap_agent_steps() RETURNS integer
  LANGUAGE plpgsql
  AS $$
DECLARE
  expired record;
  moved task_steps%ROWTYPE;
  reaped integer := 0;
BEGIN
  FOR expired IN
    SELECT id, task_id FROM task_steps
    WHERE status = 'running' AND lease_expires_at < clock_timestamp()
  LOOP
    PERFORM 1 FROM agent_tasks WHERE id = expired.task_id FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN NOT FOUND;
    UPDATE task_steps s
    SET status = CASE WHEN s.retry_count < s.max_retries THEN 'pending' ELSE 'failed' END,
        retry_count = CASE WHEN s.retry_count < s.max_retries THEN s.retry_count + 1
                           ELSE s.retry_count END,
        run_after = CASE WHEN s.retry_count < s.max_retries THEN clock_timestamp() END,
        execution_completed_at = CASE WHEN s.retry_count < s.max_retries THEN NULL
                                      ELSE clock_timestamp() END,
        error_message = format('the lease of %s expired (retry %s of %s)', s.claimed_by,
                               s.retry_count + 1, s.max_retries),
        lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
    WHERE s.id = expired.id AND s.status = 'running' AND s.lease_expires_at < clock_timestamp()
    RETURNING s.* INTO moved;
    CONTINUE WHEN moved.id IS NULL;
    reaped := reaped + 1;
    IF moved.status = 'failed' THEN
      UPDATE agent_tasks
      SET status = 'failed', completed_at = clock_timestamp(),
          error_message = format('step %s (%s) failed: %s', moved.step_order, moved.step_name,
                                 moved.error_message)
      WHERE id = moved.task_id;
    END IF;
    moved := NULL;
  END LOOP;
  IF reaped > 0 THEN
    PERFORM pg_notify('renewflow_jobs', 'agent_steps');
  END IF;
  RETURN reaped;
END
$$;

GRANT EXECUTE ON FUNCTION agent_task_visible(uuid), agent_task_writable(uuid),
  agent_task_advance(uuid) TO renewflow_app, renewflow_service;
GRANT EXECUTE ON FUNCTION
  finish_agent_step(uuid, uuid, text, jsonb, text, jsonb, double precision, jsonb),
  reap_agent_steps() TO renewflow_service;
REVOKE EXECUTE ON FUNCTION
  finish_agent_step(uuid, uuid, text, jsonb, text, jsonb, double precision, jsonb),
  reap_agent_steps() FROM PUBLIC;
