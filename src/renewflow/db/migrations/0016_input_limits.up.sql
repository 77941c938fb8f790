-- Input limits (docs/api.md, "Input limits"): what the API refuses, the database refuses too where
-- a bad value would poison every read of its customer, and a place for the rows that
-- `renewflow db check --repair` takes out of the way.
--
-- A database may already hold rows breaking the new CHECKs: the API accepted them until now. Adding
-- a CHECK validates every row, so one such row would fail this migration. Each constraint is
-- therefore added validated when its table is clean, and NOT VALID otherwise: new writes are
-- checked at once, and the old rows stay, untouched, until `renewflow db check --repair`
-- quarantines them and validates the constraint. The migration itself never deletes data (and,
-- running as the owner under forced row-level security, it could not even see the rows).

CREATE TABLE quarantined_rows (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  source_table text NOT NULL,
  source_id uuid NOT NULL,
  -- The row as it was, in PostgreSQL's record syntax: `SELECT (row_data::usage_metrics).*` reads
  -- it back (a repair that fixed the row in place keeps the original here too).
  row_data text NOT NULL,
  reason text NOT NULL CHECK (btrim(reason) <> ''),
  quarantined_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantined_rows_tenant ON quarantined_rows (tenant_id, source_table, quarantined_at);
CALL enable_tenant_rls('quarantined_rows');

-- A usage value is a number within ±10^15 (renewflow.limits.USAGE_VALUE_MAX): NaN, ±Infinity and
-- 1e400 made the context of their customer fail. NaN sorts above every number: BETWEEN refuses it.
DO $$
BEGIN
  BEGIN
    ALTER TABLE usage_metrics ADD CONSTRAINT usage_metrics_value_in_range
      CHECK (value BETWEEN -1e15 AND 1e15);
  EXCEPTION WHEN check_violation THEN
    ALTER TABLE usage_metrics ADD CONSTRAINT usage_metrics_value_in_range
      CHECK (value BETWEEN -1e15 AND 1e15) NOT VALID;
    RAISE NOTICE 'usage_metrics holds values outside ±1e15: run renewflow db check --repair';
  END;
  -- numeric(14, 2) refuses infinities but takes NaN, which passed `arr >= 0`
  BEGIN
    ALTER TABLE contracts ADD CONSTRAINT contracts_arr_is_a_number CHECK (arr <> 'NaN');
  EXCEPTION WHEN check_violation THEN
    ALTER TABLE contracts ADD CONSTRAINT contracts_arr_is_a_number CHECK (arr <> 'NaN') NOT VALID;
    RAISE NOTICE 'contracts holds an ARR of NaN: run renewflow db check --repair';
  END;
END
$$;

-- Free-form JSON (metadata, account teams, insights) with every number beyond ±bound made null:
-- what `renewflow db check --repair` writes back where the API once took 1000...0 (400 digits).
CREATE FUNCTION jsonb_numbers_within(doc jsonb, bound numeric) RETURNS jsonb
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
  SELECT CASE jsonb_typeof(doc)
    WHEN 'number' THEN CASE WHEN abs(doc::numeric) > bound THEN 'null'::jsonb ELSE doc END
    WHEN 'object' THEN (SELECT coalesce(jsonb_object_agg(e.key, jsonb_numbers_within(e.value, bound)),
                                        '{}'::jsonb)
                        FROM jsonb_each(doc) AS e)
    WHEN 'array' THEN (SELECT coalesce(jsonb_agg(jsonb_numbers_within(e.value, bound) ORDER BY e.n),
                                       '[]'::jsonb)
                       FROM jsonb_array_elements(doc) WITH ORDINALITY AS e(value, n))
    ELSE doc
  END
$$;
GRANT EXECUTE ON FUNCTION jsonb_numbers_within(jsonb, numeric) TO renewflow_service;
