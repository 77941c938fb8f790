-- Step-scoped chat (spec: workflow-database-schema.md, tables 5-8): threads, messages, the LLM
-- context of a thread, and the tools the LLM called.

CREATE TABLE workflow_chat_threads (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  workflow_execution_id uuid,
  step_id varchar NOT NULL,
  thread_type varchar NOT NULL CHECK (thread_type IN ('llm', 'rag', 'analysis', 'custom')),
  started_by uuid,
  started_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  status varchar NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'abandoned')),
  return_to_step varchar,
  total_messages integer NOT NULL DEFAULT 0 CHECK (total_messages >= 0),
  total_tokens integer NOT NULL DEFAULT 0 CHECK (total_tokens >= 0),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, workflow_execution_id)
    REFERENCES workflow_executions(tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, started_by) REFERENCES users(tenant_id, id) ON DELETE SET NULL (started_by)
);
CREATE INDEX workflow_chat_threads_execution
  ON workflow_chat_threads (tenant_id, workflow_execution_id, step_id);
CALL enable_tenant_rls('workflow_chat_threads');

CREATE TABLE workflow_chat_messages (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  thread_id uuid NOT NULL,
  role varchar NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
  content text NOT NULL,
  message_type varchar NOT NULL DEFAULT 'text' CHECK (message_type IN ('text', 'chart', 'table', 'code')),
  metadata jsonb,
  tokens_used integer CHECK (tokens_used >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  sequence_number integer NOT NULL CHECK (sequence_number > 0),
  UNIQUE (thread_id, sequence_number),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, thread_id) REFERENCES workflow_chat_threads(tenant_id, id) ON DELETE CASCADE
);
CALL enable_tenant_rls('workflow_chat_messages');

CREATE TABLE workflow_llm_context (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  thread_id uuid NOT NULL UNIQUE,
  system_prompt text NOT NULL,
  tools_available text[],
  context_data jsonb NOT NULL,
  model_used varchar,
  temperature double precision NOT NULL DEFAULT 0.7 CHECK (temperature BETWEEN 0 AND 2),
  max_tokens integer NOT NULL DEFAULT 2000 CHECK (max_tokens > 0),
  total_tokens_used integer NOT NULL DEFAULT 0 CHECK (total_tokens_used >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, thread_id) REFERENCES workflow_chat_threads(tenant_id, id) ON DELETE CASCADE
);
CREATE TRIGGER workflow_llm_context_updated_at BEFORE UPDATE ON workflow_llm_context
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('workflow_llm_context');

CREATE TABLE workflow_llm_tool_calls (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  thread_id uuid NOT NULL,
  message_id uuid,
  tool_name varchar NOT NULL CHECK (btrim(tool_name) <> ''),
  tool_input jsonb NOT NULL,
  tool_output jsonb,
  success boolean,
  error_message text,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, thread_id) REFERENCES workflow_chat_threads(tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, message_id) REFERENCES workflow_chat_messages(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX workflow_llm_tool_calls_thread ON workflow_llm_tool_calls (tenant_id, thread_id);
CALL enable_tenant_rls('workflow_llm_tool_calls');
