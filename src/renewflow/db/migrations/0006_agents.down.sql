DROP FUNCTION IF EXISTS get_autonomous_task_summary(uuid, text, integer);
DROP TABLE IF EXISTS autonomous_tasks;
DROP FUNCTION IF EXISTS set_autonomous_task_duration();
DROP TABLE IF EXISTS task_steps;
DROP TABLE IF EXISTS agent_tasks;
