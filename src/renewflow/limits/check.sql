-- `renewflow db check`: rows breaking today's input limits (renewflow.limits), and their repairs.
-- Each finding query returns (source_table, id, tenant_id, problem); each repair is one statement
-- that copies the row as it was into quarantined_rows before moving or fixing it. They run as the
-- service role, which sees every tenant.

-- name: usage_out_of_range
SELECT 'usage_metrics' AS source_table, id, tenant_id,
       'value ' || left(value::text, 24) || CASE WHEN length(value::text) > 24 THEN '...' ELSE '' END
         || ' is not a number within ±' || %(usage_max)s::float8::text AS problem
FROM usage_metrics
WHERE NOT (value BETWEEN -%(usage_max)s::numeric AND %(usage_max)s::numeric)
ORDER BY tenant_id, id;

-- name: quarantine_usage_out_of_range
WITH moved AS (
  DELETE FROM usage_metrics u
  WHERE NOT (u.value BETWEEN -%(usage_max)s::numeric AND %(usage_max)s::numeric)
  RETURNING u.*
)
INSERT INTO quarantined_rows (tenant_id, source_table, source_id, row_data, reason)
SELECT m.tenant_id, 'usage_metrics', m.id, m::text,
       'value is not a number within ±' || %(usage_max)s::float8::text
FROM moved m;

-- name: usage_dates_out_of_range
SELECT 'usage_metrics' AS source_table, id, tenant_id,
       'metric_date ' || metric_date::text || ' is outside ' || %(date_min)s::date::text || ' to '
         || %(date_max)s::date::text AS problem
FROM usage_metrics
WHERE metric_date NOT BETWEEN %(date_min)s::date AND %(date_max)s::date
ORDER BY tenant_id, id;

-- name: quarantine_usage_dates_out_of_range
WITH moved AS (
  DELETE FROM usage_metrics u
  WHERE u.metric_date NOT BETWEEN %(date_min)s::date AND %(date_max)s::date
  RETURNING u.*
)
INSERT INTO quarantined_rows (tenant_id, source_table, source_id, row_data, reason)
SELECT m.tenant_id, 'usage_metrics', m.id, m::text,
       'metric_date is outside ' || %(date_min)s::date::text || ' to ' || %(date_max)s::date::text
FROM moved m;

-- name: contracts_out_of_range
SELECT 'contracts' AS source_table, id, tenant_id,
       concat_ws('; ',
         CASE WHEN arr = 'NaN' THEN 'arr is NaN' END,
         CASE WHEN renewal_date NOT BETWEEN %(date_min)s::date AND %(date_max)s::date
              THEN 'renewal_date ' || renewal_date::text || ' is outside ' || %(date_min)s::date::text
                   || ' to ' || %(date_max)s::date::text END,
         CASE WHEN start_date NOT BETWEEN %(date_min)s::date AND %(date_max)s::date
              THEN 'start_date ' || start_date::text || ' is outside ' || %(date_min)s::date::text
                   || ' to ' || %(date_max)s::date::text END) AS problem
FROM contracts
WHERE arr = 'NaN'
   OR renewal_date NOT BETWEEN %(date_min)s::date AND %(date_max)s::date
   OR start_date NOT BETWEEN %(date_min)s::date AND %(date_max)s::date
ORDER BY tenant_id, id;

-- name: quarantine_contracts_out_of_range
-- The customer is left without a contract (the context then has no renewal date or ARR) until
-- one is set again with PUT /api/customers/{id}/contract. No table references a contract.
WITH moved AS (
  DELETE FROM contracts k
  WHERE k.arr = 'NaN'
     OR k.renewal_date NOT BETWEEN %(date_min)s::date AND %(date_max)s::date
     OR k.start_date NOT BETWEEN %(date_min)s::date AND %(date_max)s::date
  RETURNING k.*
)
INSERT INTO quarantined_rows (tenant_id, source_table, source_id, row_data, reason)
SELECT m.tenant_id, 'contracts', m.id, m::text,
       'arr is NaN or a date is outside ' || %(date_min)s::date::text || ' to '
         || %(date_max)s::date::text
FROM moved m;

-- name: texts_too_long
SELECT 'customer_intelligence' AS source_table, id, tenant_id,
       'ai_summary has ' || length(ai_summary)::text || ' characters, more than '
         || %(ai_summary_max)s::int::text AS problem
FROM customer_intelligence
WHERE length(ai_summary) > %(ai_summary_max)s::int
UNION ALL
SELECT 'workflow_tasks', id, tenant_id,
       'skip_reason has ' || length(skip_reason)::text || ' characters, more than '
         || %(skip_reason_max)s::int::text
FROM workflow_tasks
WHERE length(skip_reason) > %(skip_reason_max)s::int
ORDER BY 1, 3, 2;

-- name: cut_ai_summaries
WITH kept AS (
  INSERT INTO quarantined_rows (tenant_id, source_table, source_id, row_data, reason)
  SELECT c.tenant_id, 'customer_intelligence', c.id, c::text,
         'ai_summary cut to ' || %(ai_summary_max)s::int::text || ' characters (this is the original)'
  FROM customer_intelligence c
  WHERE length(c.ai_summary) > %(ai_summary_max)s::int
  RETURNING source_id
)
UPDATE customer_intelligence SET ai_summary = left(ai_summary, %(ai_summary_max)s::int)
WHERE id IN (SELECT source_id FROM kept);

-- name: cut_skip_reasons
WITH kept AS (
  INSERT INTO quarantined_rows (tenant_id, source_table, source_id, row_data, reason)
  SELECT t.tenant_id, 'workflow_tasks', t.id, t::text,
         'skip_reason cut to ' || %(skip_reason_max)s::int::text || ' characters (this is the original)'
  FROM workflow_tasks t
  WHERE length(t.skip_reason) > %(skip_reason_max)s::int
  RETURNING source_id
)
UPDATE workflow_tasks SET skip_reason = left(skip_reason, %(skip_reason_max)s::int)
WHERE id IN (SELECT source_id FROM kept);

-- name: json_numbers_out_of_range
SELECT 'customers' AS source_table, id, tenant_id,
       concat_ws(' and ',
         CASE WHEN jsonb_path_exists(metadata, %(beyond)s::jsonpath) THEN 'metadata' END,
         CASE WHEN jsonb_path_exists(account_team, %(beyond)s::jsonpath) THEN 'account_team' END)
         || ' holds a number no double holds' AS problem
FROM customers
WHERE jsonb_path_exists(metadata, %(beyond)s::jsonpath)
   OR jsonb_path_exists(account_team, %(beyond)s::jsonpath)
UNION ALL
SELECT 'customer_intelligence', id, tenant_id, 'insights holds a number no double holds'
FROM customer_intelligence
WHERE jsonb_path_exists(insights, %(beyond)s::jsonpath)
UNION ALL
SELECT 'workflow_tasks', id, tenant_id, 'metadata holds a number no double holds'
FROM workflow_tasks
WHERE jsonb_path_exists(metadata, %(beyond)s::jsonpath)
ORDER BY 1, 3, 2;

-- name: null_json_numbers_of_customers
WITH kept AS (
  INSERT INTO quarantined_rows (tenant_id, source_table, source_id, row_data, reason)
  SELECT c.tenant_id, 'customers', c.id, c::text,
         'numbers no double holds made null in metadata and account_team (this is the original)'
  FROM customers c
  WHERE jsonb_path_exists(c.metadata, %(beyond)s::jsonpath)
     OR jsonb_path_exists(c.account_team, %(beyond)s::jsonpath)
  RETURNING source_id
)
UPDATE customers
SET metadata = jsonb_numbers_within(metadata, %(bound)s::numeric),
    account_team = jsonb_numbers_within(account_team, %(bound)s::numeric)
WHERE id IN (SELECT source_id FROM kept);

-- name: null_json_numbers_of_insights
WITH kept AS (
  INSERT INTO quarantined_rows (tenant_id, source_table, source_id, row_data, reason)
  SELECT c.tenant_id, 'customer_intelligence', c.id, c::text,
         'numbers no double holds made null in insights (this is the original)'
  FROM customer_intelligence c
  WHERE jsonb_path_exists(c.insights, %(beyond)s::jsonpath)
  RETURNING source_id
)
UPDATE customer_intelligence SET insights = jsonb_numbers_within(insights, %(bound)s::numeric)
WHERE id IN (SELECT source_id FROM kept);

-- name: null_json_numbers_of_tasks
WITH kept AS (
  INSERT INTO quarantined_rows (tenant_id, source_table, source_id, row_data, reason)
  SELECT t.tenant_id, 'workflow_tasks', t.id, t::text,
         'numbers no double holds made null in metadata (this is the original)'
  FROM workflow_tasks t
  WHERE jsonb_path_exists(t.metadata, %(beyond)s::jsonpath)
  RETURNING source_id
)
UPDATE workflow_tasks SET metadata = jsonb_numbers_within(metadata, %(bound)s::numeric)
WHERE id IN (SELECT source_id FROM kept);

-- name: column_lengths
-- What the database declares for the columns renewflow.limits knows (drift: a column altered by
-- hand, or a migration not applied).
SELECT table_name || '.' || column_name AS column_name, data_type, character_maximum_length
FROM information_schema.columns
WHERE table_schema = current_schema()
  AND table_name || '.' || column_name = ANY(%(columns)s::text[]);

-- name: unvalidated_constraints
SELECT conrelid::regclass::text AS table_name, conname AS constraint_name
FROM pg_constraint
WHERE conname = ANY(%(names)s::text[]) AND NOT convalidated
ORDER BY 1, 2;

-- name: validate_usage_value_in_range
ALTER TABLE usage_metrics VALIDATE CONSTRAINT usage_metrics_value_in_range;

-- name: validate_contracts_arr_is_a_number
ALTER TABLE contracts VALIDATE CONSTRAINT contracts_arr_is_a_number;
