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

-- A claimed step, with all its run needs: its task, the tenant's LLM settings, how many steps
-- the task has, the previous steps' results (when it asks for them, in order) and the tenant's
-- LLM spend since the UTC day's and month's start, for the budget check that comes before its
-- call (`renewflow.ledger.budget.from_spend`; a period without a budget is not summed and is
-- NULL, as in the ledger's `spend` query: every step asks, and most tenants set none).
-- `state` is what the caller reports with it: 'claimed' from the claim, the outcome of the step
-- before from the finish that leased this one.
CREATE TYPE agent_step_lease AS (
  state text, id uuid, tenant_id uuid, task_id uuid, lease_token uuid, retry_count integer,
  max_retries integer, queued_at timestamptz, claimed_at timestamptz, step_order integer,
  step_name text, instructions text, include_previous_context boolean, timeout_seconds integer,
  model text, task_name text, user_id uuid, context_budget_chars integer, step_count integer,
  tenant_settings jsonb, previous jsonb, day_usd numeric, month_usd numeric
);

-- Leases one pending step the caller has locked (the claim: SKIP LOCKED; the finish: the
-- task's next step, with the task locked). `run_after` says when it was queued: a step leased
-- by the finish before it ever waited in the queue was queued at that moment.
CREATE FUNCTION agent_step_lease(
  p_step_id uuid, p_worker text, p_lease_seconds double precision, p_state text
) RETURNS SETOF agent_step_lease
  LANGUAGE plpgsql
  AS $$
BEGIN
  -- plpgsql, not sql: its plan is kept for the session, where a SQL function is planned anew on
  -- every call (half a millisecond, more than the update itself)
  RETURN QUERY
  UPDATE task_steps s
  SET status = 'running', lease_token = gen_random_uuid(), claimed_by = p_worker,
      lease_expires_at = clock_timestamp() + make_interval(secs => p_lease_seconds),
      execution_started_at = clock_timestamp(), run_after = coalesce(s.run_after, clock_timestamp())
  FROM agent_tasks t, tenants n
  WHERE s.id = p_step_id AND s.status = 'pending' AND t.id = s.task_id AND n.id = s.tenant_id
  RETURNING p_state, s.id, s.tenant_id, s.task_id, s.lease_token, s.retry_count, s.max_retries,
            s.run_after, s.execution_started_at, s.step_order, s.step_name::text, s.instructions,
            s.include_previous_context, s.timeout_seconds, s.model::text, t.name::text,
            t.user_id, t.context_budget_chars,
            (SELECT count(*)::integer FROM task_steps c WHERE c.task_id = s.task_id),
            n.settings,
            (SELECT coalesce(jsonb_agg(jsonb_build_object(
                      'step_id', p.id, 'step_order', p.step_order, 'step_name', p.step_name,
                      'text', p.execution_result ->> 'text') ORDER BY p.step_order), '[]'::jsonb)
             FROM task_steps p
             WHERE s.include_previous_context AND p.task_id = s.task_id
               AND p.step_order < s.step_order AND p.status = 'completed'),
            CASE WHEN coalesce(jsonb_typeof(n.settings #> '{budget,llm_daily_usd}'), 'null') <> 'null'
              THEN (SELECT coalesce(sum(c.cost_usd), 0) FROM llm_calls c
                    WHERE c.tenant_id = s.tenant_id
                      AND c.created_at >= date_trunc('day', clock_timestamp(), 'UTC')) END,
            CASE WHEN coalesce(jsonb_typeof(n.settings #> '{budget,llm_monthly_usd}'), 'null') <> 'null'
              THEN (SELECT coalesce(sum(c.cost_usd), 0) FROM llm_calls c
                    WHERE c.tenant_id = s.tenant_id
                      AND c.created_at >= date_trunc('month', clock_timestamp(), 'UTC')) END;
END
$$;

-- The claim: up to p_limit due steps of running tasks, oldest first, each leased to p_worker.
-- The task's status is read by a scalar subquery, not EXISTS: a semi-join lets the planner hash
-- every running task and sort the whole queue on each claim (its cost growing with the queue);
-- a subquery per row keeps the walk down `task_steps_queued` in order, stopping at the first.
CREATE FUNCTION claim_agent_steps(
  p_worker text, p_limit integer, p_lease_seconds double precision, p_state text
) RETURNS SETOF agent_step_lease
  LANGUAGE plpgsql
  AS $$
DECLARE
  picked uuid;
BEGIN
  FOR picked IN
    SELECT s.id FROM task_steps s
    WHERE s.status = 'pending' AND s.run_after <= clock_timestamp()
      AND (SELECT t.status FROM agent_tasks t WHERE t.id = s.task_id) = 'running'
    ORDER BY s.run_after
    LIMIT p_limit
    FOR UPDATE OF s SKIP LOCKED
  LOOP
    RETURN QUERY SELECT * FROM agent_step_lease(picked, p_worker, p_lease_seconds, p_state);
  END LOOP;
END
$$;

-- The fenced finish of a claimed step, with the step's LLM calls (recorded whatever the fence
-- says: they were made and paid for). Locks the task, then the step: the order every writer of
-- both takes (edits, runs, cancels, the reaper), so none of them deadlock with it.
-- p_outcome: 'completed', 'retry' (queued again after p_delay seconds while retries are left,
-- otherwise failed) or 'failed'. One row: `state` is 'completed', 'retry', 'failed', or 'lost'
-- when the lease no longer holds.
-- With p_worker set (a runner that will come straight back for more), the finish also leases
-- p_worker its next step, returned in the row (its columns are NULL when there is none): a
-- completed step's next step when it may run now (no claim of its own, no NOTIFY), otherwise
-- (the task done, failed, retrying later, or paused for an approval) what the claim would have
-- given it. The budget check a leased step needs then sees this step's calls. Without p_worker
-- the next step is queued as by `agent_task_advance`, and nothing is leased.
CREATE FUNCTION finish_agent_step(
  p_step_id uuid, p_token uuid, p_outcome text, p_result jsonb, p_error text, p_context jsonb,
  p_delay double precision, p_calls jsonb, p_worker text, p_lease_seconds double precision
) RETURNS SETOF agent_step_lease
  LANGUAGE plpgsql
  AS $$
DECLARE
  peek task_steps%ROWTYPE;
  held task_steps%ROWTYPE;
  next_step task_steps%ROWTYPE;
  answer agent_step_lease;
BEGIN
  SELECT * INTO peek FROM task_steps WHERE id = p_step_id;
  IF FOUND THEN
    PERFORM 1 FROM agent_tasks WHERE id = peek.task_id FOR UPDATE;
    SELECT * INTO held FROM task_steps
    WHERE id = p_step_id AND lease_token = p_token AND status = 'running'
      AND lease_expires_at > clock_timestamp()
    FOR UPDATE;
  END IF;
  IF peek.id IS NOT NULL AND jsonb_array_length(p_calls) > 0 THEN
    INSERT INTO llm_calls (tenant_id, task_step_id, provider, model, input_tokens, output_tokens,
                           cost_usd, latency_ms, attempts, prompt_sha256, status, error_kind)
    SELECT peek.tenant_id, peek.id, c.provider, c.model, c.input_tokens, c.output_tokens,
           c.cost_usd, c.latency_ms, c.attempts, c.prompt_sha256, c.status, c.error_kind
    FROM jsonb_to_recordset(p_calls) AS c(provider text, model text, input_tokens integer,
      output_tokens integer, cost_usd numeric, latency_ms integer, attempts integer,
      prompt_sha256 text, status text, error_kind text);
  END IF;
  IF held.id IS NULL THEN
    answer.state := 'lost';
    RETURN NEXT answer;
    RETURN;
  END IF;
  IF p_outcome = 'completed' THEN
    UPDATE task_steps
    SET status = 'completed', execution_result = p_result, context_data = p_context,
        error_message = NULL, execution_completed_at = clock_timestamp(), run_after = NULL,
        lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
    WHERE id = p_step_id;
    answer.state := 'completed';
    IF p_worker IS NOT NULL THEN
      -- steps run in order: the first pending one is the next (as in agent_task_advance)
      SELECT * INTO next_step FROM task_steps
      WHERE task_id = held.task_id AND status = 'pending'
      ORDER BY step_order LIMIT 1;
      IF FOUND AND NOT (next_step.requires_approval AND next_step.approved_at IS NULL)
         AND coalesce(next_step.run_after <= clock_timestamp(), true) THEN
        -- With the task locked nobody else holds this step, but for a claim that found it due
        -- (a step the budget deferred): then the lease waits for that claim and finds the step
        -- taken, and this runner takes the claim's way below.
        RETURN QUERY SELECT * FROM agent_step_lease(next_step.id, p_worker, p_lease_seconds,
                                                    answer.state);
        IF FOUND THEN
          RETURN;
        END IF;
      END IF;
    END IF;
    PERFORM agent_task_advance(held.task_id);
  ELSIF p_outcome = 'retry' AND held.retry_count < held.max_retries THEN
    UPDATE task_steps
    SET status = 'pending', retry_count = retry_count + 1, error_message = p_error,
        context_data = p_context,
        run_after = clock_timestamp() + make_interval(secs => p_delay),
        lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
    WHERE id = p_step_id;
    answer.state := 'retry';
  ELSE
    UPDATE task_steps
    SET status = 'failed', execution_result = p_result, context_data = p_context,
        error_message = p_error, execution_completed_at = clock_timestamp(), run_after = NULL,
        lease_token = NULL, claimed_by = NULL, lease_expires_at = NULL
    WHERE id = p_step_id;
    UPDATE agent_tasks
    SET status = 'failed', completed_at = clock_timestamp(),
        error_message = format('step %s (%s) failed: %s', held.step_order, held.step_name, p_error)
    WHERE id = held.task_id;
    answer.state := 'failed';
  END IF;
  IF p_worker IS NOT NULL THEN
    RETURN QUERY SELECT * FROM claim_agent_steps(p_worker, 1, p_lease_seconds, answer.state);
    IF FOUND THEN
      RETURN;
    END IF;
  END IF;
  RETURN NEXT answer;
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
  agent_step_lease(uuid, text, double precision, text),
  claim_agent_steps(text, integer, double precision, text),
  finish_agent_step(uuid, uuid, text, jsonb, text, jsonb, double precision, jsonb, text,
                    double precision),
  reap_agent_steps() TO renewflow_service;
REVOKE EXECUTE ON FUNCTION
  agent_step_lease(uuid, text, double precision, text),
  claim_agent_steps(text, integer, double precision, text),
  finish_agent_step(uuid, uuid, text, jsonb, text, jsonb, double precision, jsonb, text,
                    double precision),
  reap_agent_steps() FROM PUBLIC;
