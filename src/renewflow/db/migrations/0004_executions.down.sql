DROP TABLE IF EXISTS notifications;
DROP TABLE IF EXISTS workflow_tasks;
DROP TABLE IF EXISTS workflow_step_executions;
DROP TABLE IF EXISTS workflow_executions;
DROP FUNCTION IF EXISTS check_execution_workflow();
