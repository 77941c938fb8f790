DROP INDEX workflow_chat_messages_thread;
DELETE FROM saved_actions
WHERE tenant_id IS NULL
  AND action_id IN ('snooze-1-day', 'snooze-3-days', 'snooze-7-days', 'skip-step',
                    'escalate-manager', 'escalate-vp-cs');
DROP INDEX saved_actions_action_id;
DROP TRIGGER saved_actions_cascade ON saved_actions;
DROP FUNCTION cascade_saved_action();
DROP TRIGGER workflow_chat_branches_saved_action ON workflow_chat_branches;
DROP FUNCTION check_chat_branch_saved_action();
ALTER TABLE saved_actions
  DROP CONSTRAINT saved_actions_action_id_shape,
  DROP CONSTRAINT saved_actions_action_id_key,
  ADD CONSTRAINT saved_actions_action_id_key UNIQUE (action_id);
ALTER TABLE workflow_chat_branches
  ADD CONSTRAINT workflow_chat_branches_saved_action_id_fkey
    FOREIGN KEY (saved_action_id) REFERENCES saved_actions(action_id)
    ON UPDATE CASCADE ON DELETE CASCADE;
