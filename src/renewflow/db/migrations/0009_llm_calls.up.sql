-- Every LLM call, successful or not: what it cost, how long it took and which prompt it sent
-- (by hash: the prompt text stays in workflow_step_executions.rendered_prompt, not here).

CREATE TABLE llm_calls (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  workflow_execution_id uuid,
  step_execution_id uuid,
  provider varchar(40) NOT NULL CHECK (btrim(provider) <> ''),
  model varchar(200) NOT NULL CHECK (btrim(model) <> ''),
  input_tokens integer CHECK (input_tokens >= 0),
  output_tokens integer CHECK (output_tokens >= 0),
  -- NULL when the model's price is unknown (not in the price table) or the tokens are
  cost_usd numeric(14, 8) CHECK (cost_usd >= 0),
  latency_ms integer NOT NULL CHECK (latency_ms >= 0),
  attempts integer NOT NULL DEFAULT 1 CHECK (attempts > 0),
  prompt_sha256 char(64) NOT NULL CHECK (prompt_sha256 ~ '^[0-9a-f]{64}$'),
  status varchar(20) NOT NULL CHECK (status IN ('success', 'error')),
  error_kind varchar(20)
    CHECK (error_kind IN ('timeout', 'rate_limited', 'unavailable', 'bad_response', 'config')),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT llm_calls_error_kind_iff_error CHECK ((status = 'error') = (error_kind IS NOT NULL)),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, workflow_execution_id)
    REFERENCES workflow_executions(tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, step_execution_id)
    REFERENCES workflow_step_executions(tenant_id, id) ON DELETE CASCADE
);
-- cost and usage reports per tenant over time; the calls of one execution
CREATE INDEX llm_calls_tenant_created ON llm_calls (tenant_id, created_at DESC);
CREATE INDEX llm_calls_execution ON llm_calls (tenant_id, workflow_execution_id)
  WHERE workflow_execution_id IS NOT NULL;
CREATE INDEX llm_calls_step ON llm_calls (tenant_id, step_execution_id)
  WHERE step_execution_id IS NOT NULL;
CALL enable_tenant_rls('llm_calls');
