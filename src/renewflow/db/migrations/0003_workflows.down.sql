DROP TABLE IF EXISTS workflow_chat_branches;
DROP TABLE IF EXISTS saved_actions;
DROP TRIGGER IF EXISTS workflows_record_version ON workflows;
DROP FUNCTION IF EXISTS record_workflow_version();
DROP TABLE IF EXISTS workflow_versions;
DROP TABLE IF EXISTS workflows;
