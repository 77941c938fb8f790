-- name: insert_llm_call
INSERT INTO llm_calls (
  tenant_id, workflow_execution_id, step_execution_id, provider, model, input_tokens,
  output_tokens, cost_usd, latency_ms, attempts, prompt_sha256, status, error_kind
) VALUES (
  current_tenant_id(), %(workflow_execution_id)s, %(step_execution_id)s, %(provider)s, %(model)s,
  %(input_tokens)s, %(output_tokens)s, %(cost_usd)s, %(latency_ms)s, %(attempts)s,
  %(prompt_sha256)s, %(status)s, %(error_kind)s
)
RETURNING id;
