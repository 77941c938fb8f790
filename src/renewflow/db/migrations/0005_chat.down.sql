DROP TABLE IF EXISTS workflow_llm_tool_calls;
DROP TABLE IF EXISTS workflow_llm_context;
DROP TABLE IF EXISTS workflow_chat_messages;
DROP TABLE IF EXISTS workflow_chat_threads;
