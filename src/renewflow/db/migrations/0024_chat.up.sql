-- The step chat at run time (issue #13).
--
-- Saved actions: `action_id` is unique per tenant, core rows (tenant_id NULL) once among
-- themselves, instead of across every tenant: tenant B may define `snooze-7-days` once tenant A
-- has. A chat branch then names an action by id among the core ones and its own tenant's, which
-- a foreign key cannot say: a trigger checks it, failing like the foreign key did (SQLSTATE
-- 23503, same constraint name), and the action's rename and deletion reach its branches as the
-- key's ON UPDATE/ON DELETE CASCADE did.

ALTER TABLE workflow_chat_branches DROP CONSTRAINT workflow_chat_branches_saved_action_id_fkey;
ALTER TABLE saved_actions
  DROP CONSTRAINT saved_actions_action_id_key,
  ADD CONSTRAINT saved_actions_action_id_key UNIQUE NULLS NOT DISTINCT (tenant_id, action_id),
  ADD CONSTRAINT saved_actions_action_id_shape
    CHECK (action_id ~ '^[a-z0-9][a-z0-9_.-]*$');

CREATE FUNCTION check_chat_branch_saved_action() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF NEW.saved_action_id IS NULL THEN
    RETURN NEW;
  END IF;
  -- a core branch may name only a core action; a tenant's branch a core one or its own
  IF NOT EXISTS (
    SELECT 1 FROM saved_actions a
    WHERE a.action_id = NEW.saved_action_id
      AND (a.tenant_id IS NULL OR a.tenant_id = NEW.tenant_id)
  ) THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('saved action %L does not exist', NEW.saved_action_id),
      CONSTRAINT = 'workflow_chat_branches_saved_action_id_fkey',
      TABLE = 'workflow_chat_branches',
      COLUMN = 'saved_action_id';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER workflow_chat_branches_saved_action
  BEFORE INSERT OR UPDATE OF saved_action_id, tenant_id ON workflow_chat_branches
  FOR EACH ROW EXECUTE FUNCTION check_chat_branch_saved_action();

CREATE FUNCTION cascade_saved_action() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  -- the branches that named this row: its own tenant's, and every tenant's for a core row
  -- that no tenant row of the same id shadows
  IF TG_OP = 'DELETE' THEN
    DELETE FROM workflow_chat_branches b
    WHERE b.saved_action_id = OLD.action_id
      AND (b.tenant_id IS NOT DISTINCT FROM OLD.tenant_id
           OR (OLD.tenant_id IS NULL AND NOT EXISTS (
                 SELECT 1 FROM saved_actions o
                 WHERE o.tenant_id = b.tenant_id AND o.action_id = OLD.action_id)));
    RETURN OLD;
  END IF;
  IF NEW.action_id IS DISTINCT FROM OLD.action_id THEN
    UPDATE workflow_chat_branches b SET saved_action_id = NEW.action_id
    WHERE b.saved_action_id = OLD.action_id
      AND (b.tenant_id IS NOT DISTINCT FROM OLD.tenant_id
           OR (OLD.tenant_id IS NULL AND NOT EXISTS (
                 SELECT 1 FROM saved_actions o
                 WHERE o.tenant_id = b.tenant_id AND o.action_id = OLD.action_id)));
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER saved_actions_cascade
  AFTER UPDATE OF action_id OR DELETE ON saved_actions
  FOR EACH ROW EXECUTE FUNCTION cascade_saved_action();

-- The action a tenant means by an id: its own row before the core one.
CREATE INDEX saved_actions_action_id ON saved_actions (action_id);

-- The core actions every tenant sees (renewflow.chat.actions.CORE_ACTIONS says the same: a
-- contract test keeps the two in step).
INSERT INTO saved_actions (tenant_id, action_id, action_name, action_type, handler, config)
VALUES
  (NULL, 'snooze-1-day', 'Snooze 1 day', 'snooze', 'code:GlobalActions.snooze', '{"days": 1}'),
  (NULL, 'snooze-3-days', 'Snooze 3 days', 'snooze', 'code:GlobalActions.snooze', '{"days": 3}'),
  (NULL, 'snooze-7-days', 'Snooze 7 days', 'snooze', 'code:GlobalActions.snooze', '{"days": 7}'),
  (NULL, 'skip-step', 'Skip this step', 'skip', 'code:GlobalActions.skip',
   '{"reasonRequired": true}'),
  (NULL, 'escalate-manager', 'Escalate to my manager', 'escalation',
   'code:GlobalActions.escalate', '{"to": "manager"}'),
  (NULL, 'escalate-vp-cs', 'Escalate to the VP of Customer Success (war room)', 'escalation',
   'code:GlobalActions.escalate', '{"to": "vp-cs", "warRoom": true}');

CREATE INDEX workflow_chat_messages_thread ON workflow_chat_messages (tenant_id, thread_id,
  sequence_number);
