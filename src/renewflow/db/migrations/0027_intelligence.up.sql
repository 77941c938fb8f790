-- The continuous-intelligence agent (spec: autonomous-tasks-log.md, issue 14): which customers'
-- data changed since their last pass, the components, scores, trend and evidence-backed summary
-- the pass stores in customer_intelligence, and one run per 30-minute slot.

-- A version per customer, bumped by triggers on every table its scores read (the customer row,
-- contracts, contacts, usage metrics, tasks). A counter, not a timestamp: two transactions
-- changing one customer at once take turns on this row, so each bump lands after the one before
-- it, and a pass that read version n and stored it as passed sees n+1 as changed even when the
-- change committed after the pass read. `passed_on` (the tenant's date of the last pass) makes a
-- customer due again on a new day: renewal proximity and overdue tasks move with the calendar.
CREATE TABLE customer_data_versions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  version bigint NOT NULL DEFAULT 1 CHECK (version > 0),
  passed_version bigint NOT NULL DEFAULT 0 CHECK (passed_version >= 0),
  passed_on date NOT NULL DEFAULT '-infinity',
  changed_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, customer_id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers(tenant_id, id) ON DELETE CASCADE
);
-- what a pass looks for, each an index scan of the rows due only: a re-run when nothing changed
-- reads (almost) nothing
CREATE INDEX customer_data_versions_changed ON customer_data_versions (tenant_id, changed_at)
  WHERE version > passed_version;
CREATE INDEX customer_data_versions_passed_on ON customer_data_versions (tenant_id, passed_on);

INSERT INTO customer_data_versions (tenant_id, customer_id)
SELECT tenant_id, id FROM customers;
CALL enable_tenant_rls('customer_data_versions');

-- The rows a statement touched, one bump per customer (sorted, so two bulk statements lock the
-- version rows in the same order). A customer deleted in the same statement (a cascade from the
-- customer or its tenant) is left alone.
CREATE FUNCTION bump_customer_versions(p_tenant_ids uuid[], p_customer_ids uuid[]) RETURNS void
  LANGUAGE sql
  AS $$
  INSERT INTO customer_data_versions AS v (tenant_id, customer_id)
  SELECT DISTINCT x.tenant_id, x.customer_id
  FROM unnest(p_tenant_ids, p_customer_ids) AS x(tenant_id, customer_id)
  WHERE x.customer_id IS NOT NULL
    AND EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = x.tenant_id AND c.id = x.customer_id)
  ORDER BY x.tenant_id, x.customer_id
  ON CONFLICT (tenant_id, customer_id) DO UPDATE SET version = v.version + 1, changed_at = now()
$$;

-- Statement-level, for bulk imports: one bump per customer per statement. An UPDATE counts only
-- where a row really changed (a re-import of the same values is no change); updated_at is not data.
CREATE FUNCTION customer_rows_changed() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM bump_customer_versions(array_agg(n.tenant_id), array_agg(n.customer_id)) FROM new_rows n;
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM bump_customer_versions(array_agg(o.tenant_id), array_agg(o.customer_id)) FROM old_rows o;
  ELSE
    PERFORM bump_customer_versions(array_agg(x.tenant_id), array_agg(x.customer_id))
    FROM (
      SELECT n.tenant_id, n.customer_id FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE to_jsonb(n) - 'updated_at' IS DISTINCT FROM to_jsonb(o) - 'updated_at'
      UNION ALL
      SELECT o.tenant_id, o.customer_id FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE n.customer_id IS DISTINCT FROM o.customer_id
    ) x;
  END IF;
  RETURN NULL;
END
$$;

-- Row-level, for tables updated often in ways the scores never read (a task's lease and
-- heartbeat, a customer's metadata): the WHEN clause filters in the server, the function runs
-- only for the columns that matter.
CREATE FUNCTION customer_row_changed() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF TG_TABLE_NAME = 'customers' THEN
    PERFORM bump_customer_versions(ARRAY[NEW.tenant_id], ARRAY[NEW.id]);
  ELSE
    PERFORM bump_customer_versions(ARRAY[NEW.tenant_id, OLD.tenant_id],
                                   ARRAY[NEW.customer_id, OLD.customer_id]);
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION customers_inserted() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  INSERT INTO customer_data_versions (tenant_id, customer_id)
  SELECT n.tenant_id, n.id FROM new_rows n ORDER BY n.tenant_id, n.id
  ON CONFLICT (tenant_id, customer_id) DO NOTHING;
  RETURN NULL;
END
$$;

CREATE TRIGGER customers_data_version_insert AFTER INSERT ON customers
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION customers_inserted();
CREATE TRIGGER customers_data_version_update AFTER UPDATE ON customers
  FOR EACH ROW WHEN (
    (OLD.name, OLD.tier, OLD.segment, OLD.csm_id, OLD.has_account_plan, OLD.health_score)
    IS DISTINCT FROM
    (NEW.name, NEW.tier, NEW.segment, NEW.csm_id, NEW.has_account_plan, NEW.health_score))
  EXECUTE FUNCTION customer_row_changed();

CREATE TRIGGER workflow_tasks_data_version_update AFTER UPDATE ON workflow_tasks
  FOR EACH ROW WHEN (
    (OLD.status, OLD.due_date, OLD.customer_id) IS DISTINCT FROM
    (NEW.status, NEW.due_date, NEW.customer_id))
  EXECUTE FUNCTION customer_row_changed();
CREATE TRIGGER workflow_tasks_data_version_insert AFTER INSERT ON workflow_tasks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_rows_changed();
CREATE TRIGGER workflow_tasks_data_version_delete AFTER DELETE ON workflow_tasks
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_rows_changed();

CREATE TRIGGER contracts_data_version_insert AFTER INSERT ON contracts
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_rows_changed();
CREATE TRIGGER contracts_data_version_update AFTER UPDATE ON contracts
  REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION customer_rows_changed();
CREATE TRIGGER contracts_data_version_delete AFTER DELETE ON contracts
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_rows_changed();

CREATE TRIGGER contacts_data_version_insert AFTER INSERT ON contacts
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_rows_changed();
CREATE TRIGGER contacts_data_version_update AFTER UPDATE ON contacts
  REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION customer_rows_changed();
CREATE TRIGGER contacts_data_version_delete AFTER DELETE ON contacts
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_rows_changed();

CREATE TRIGGER usage_metrics_data_version_insert AFTER INSERT ON usage_metrics
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_rows_changed();
CREATE TRIGGER usage_metrics_data_version_update AFTER UPDATE ON usage_metrics
  REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION customer_rows_changed();
CREATE TRIGGER usage_metrics_data_version_delete AFTER DELETE ON usage_metrics
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_rows_changed();

-- What the pass stores: the health and risk scores, their components (each with its inputs and
-- its own score), the flat facts the summary may cite and their digest, the trend against the
-- previous score and the last score changes. The summary is written from `facts`; while
-- `summary_facts_sha256` differs from `facts_sha256` the summary is due (a partial index finds
-- those). `ai_summary` and `insights` hold the summary and its claims, each with its evidence.
ALTER TABLE customer_intelligence
  ADD COLUMN health_score integer CHECK (health_score BETWEEN 0 AND 100),
  ADD COLUMN components jsonb CHECK (components IS NULL OR jsonb_typeof(components) = 'object'),
  ADD COLUMN facts jsonb CHECK (facts IS NULL OR jsonb_typeof(facts) = 'object'),
  ADD COLUMN facts_sha256 char(64) CHECK (facts_sha256 ~ '^[0-9a-f]{64}$'),
  ADD COLUMN summary_facts_sha256 char(64) CHECK (summary_facts_sha256 ~ '^[0-9a-f]{64}$'),
  ADD COLUMN previous_risk_score integer CHECK (previous_risk_score BETWEEN 0 AND 100),
  ADD COLUMN risk_trend varchar(20) CHECK (risk_trend IN ('new', 'improving', 'stable', 'worsening')),
  ADD COLUMN score_history jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(score_history) = 'array'),
  ADD COLUMN computed_at timestamptz;
CREATE INDEX customer_intelligence_summary_due ON customer_intelligence (tenant_id, computed_at)
  WHERE facts_sha256 IS DISTINCT FROM summary_facts_sha256;

-- One run of the agent per 30-minute slot, however many callers (the cron endpoint, the worker's
-- periodic job) ask at once: the first INSERT wins, the others read its row and wait for its
-- result. A run whose process died (its lease expired) or that failed as a whole is taken over by
-- the next caller in the same slot. Not a tenant's row: only the service role reaches it.
CREATE TABLE intelligence_runs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slot timestamptz NOT NULL UNIQUE,
  status varchar(20) NOT NULL DEFAULT 'running'
    CHECK (status IN ('running', 'completed', 'partial_failure', 'failed')),
  triggered_by varchar(10) NOT NULL CHECK (triggered_by IN ('cron', 'api', 'system')),
  batch_size_per_workspace integer NOT NULL CHECK (batch_size_per_workspace > 0),
  max_workspaces integer NOT NULL CHECK (max_workspaces > 0),
  attempts integer NOT NULL DEFAULT 1 CHECK (attempts > 0),
  lease_token uuid,
  claimed_by varchar(200),
  lease_expires_at timestamptz,
  result jsonb,
  error text,
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz,
  CONSTRAINT intelligence_runs_lease_while_running
    CHECK ((status = 'running') = (lease_token IS NOT NULL))
);
GRANT SELECT, INSERT, UPDATE, DELETE ON intelligence_runs TO renewflow_service;
