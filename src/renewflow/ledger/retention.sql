-- Retention: one tenant's run data older than its settings say, deleted in batches (each
-- statement a bounded amount of work), in the tenant's transaction under row-level security.

-- name: prune_llm_calls
DELETE FROM llm_calls WHERE id IN (
  SELECT id FROM llm_calls WHERE created_at < %(before)s LIMIT %(batch)s);

-- name: prune_ledger
-- never the row of the retention run doing the pruning
DELETE FROM autonomous_tasks WHERE id IN (
  SELECT id FROM autonomous_tasks
  WHERE created_at < %(before)s AND status NOT IN ('pending', 'running') AND id <> %(keep)s
  LIMIT %(batch)s);

-- name: prune_notifications
-- delivered ones only: a notification still waiting for delivery, or failed, stays
DELETE FROM notifications WHERE id IN (
  SELECT id FROM notifications
  WHERE status IN ('sent', 'acknowledged') AND coalesce(sent_at, created_at) < %(before)s
  LIMIT %(batch)s);

-- name: prune_chat_threads
-- ended threads (completed or abandoned); their messages, context and tool calls cascade
DELETE FROM workflow_chat_threads WHERE id IN (
  SELECT id FROM workflow_chat_threads
  WHERE status IN ('completed', 'abandoned') AND coalesce(ended_at, started_at) < %(before)s
  LIMIT %(batch)s);
