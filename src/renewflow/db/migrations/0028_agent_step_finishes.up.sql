-- Indexes of task_steps that no query uses, dropped: each step's run updates its row twice
-- (leased, then finished) and the next step's once, and every update wrote an entry into each
-- of them (the two GIN indexes: one per key and value of the step's result and context).
-- - idx_task_steps_task_id: a prefix of idx_task_steps_task_order, which serves the same
--   lookups;
-- - idx_task_steps_status: the queue reads task_steps_queued and task_steps_leased (partial, by
--   status), the task's next step idx_task_steps_pending; nothing reads every step of a status;
-- - idx_task_steps_execution_time: no query ranges over the steps' start or end times;
-- - idx_task_steps_context_gin, idx_task_steps_result_gin: nothing searches inside a step's
--   context or result; they are read whole, by step.
DROP INDEX idx_task_steps_task_id;
DROP INDEX idx_task_steps_status;
DROP INDEX idx_task_steps_execution_time;
DROP INDEX idx_task_steps_context_gin;
DROP INDEX idx_task_steps_result_gin;

-- The fenced finishes of a runner's steps, one statement for all of them: each one as
-- `finish_agent_step` (its fence, its calls, its task's next step leased to p_worker), in the
-- order given, one row each in that order. A runner whose steps answer at once (the mock
-- provider, a cache) writes a batch of them in one round trip and one commit; one whose calls
-- take seconds finishes each on its own, as soon as it answered (renewflow.agents.runner).
-- p_finishes: [{step_id, token, outcome, result, error, context, delay, calls}, ...]
CREATE FUNCTION finish_agent_steps(
  p_finishes jsonb, p_worker text, p_lease_seconds double precision
) RETURNS SETOF agent_step_lease
  LANGUAGE plpgsql
  AS $$
DECLARE
  f jsonb;
BEGIN
  FOR f IN SELECT value FROM jsonb_array_elements(p_finishes) LOOP
    RETURN QUERY SELECT * FROM finish_agent_step(
      (f ->> 'step_id')::uuid, (f ->> 'token')::uuid, f ->> 'outcome', f -> 'result',
      f ->> 'error', f -> 'context', (f ->> 'delay')::double precision, f -> 'calls',
      p_worker, p_lease_seconds);
  END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION finish_agent_steps(jsonb, text, double precision)
  TO renewflow_service;
REVOKE EXECUTE ON FUNCTION finish_agent_steps(jsonb, text, double precision) FROM PUBLIC;
