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
