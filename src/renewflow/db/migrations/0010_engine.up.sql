-- The execution engine: rendered artifacts kept with each step execution, and idempotency keys
-- so a retried request returns its first result instead of running a step twice.

ALTER TABLE workflow_step_executions
  ADD COLUMN artifacts jsonb NOT NULL DEFAULT '[]'::jsonb
    CONSTRAINT step_artifacts_is_array CHECK (jsonb_typeof(artifacts) = 'array'),
  ADD COLUMN idempotency_key varchar(255);

CREATE TABLE idempotency_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  key varchar(255) NOT NULL CHECK (btrim(key) <> ''),
  -- what the key was used for: the same key on another request is a client error
  request_fingerprint text NOT NULL,
  status_code integer,
  response jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CALL enable_tenant_rls('idempotency_keys');
