DROP TABLE intelligence_runs;

DROP INDEX customer_intelligence_summary_due;
ALTER TABLE customer_intelligence
  DROP COLUMN computed_at,
  DROP COLUMN score_history,
  DROP COLUMN risk_trend,
  DROP COLUMN previous_risk_score,
  DROP COLUMN summary_facts_sha256,
  DROP COLUMN facts_sha256,
  DROP COLUMN facts,
  DROP COLUMN components,
  DROP COLUMN health_score;

DROP TRIGGER usage_metrics_data_version_delete ON usage_metrics;
DROP TRIGGER usage_metrics_data_version_update ON usage_metrics;
DROP TRIGGER usage_metrics_data_version_insert ON usage_metrics;
DROP TRIGGER contacts_data_version_delete ON contacts;
DROP TRIGGER contacts_data_version_update ON contacts;
DROP TRIGGER contacts_data_version_insert ON contacts;
DROP TRIGGER contracts_data_version_delete ON contracts;
DROP TRIGGER contracts_data_version_update ON contracts;
DROP TRIGGER contracts_data_version_insert ON contracts;
DROP TRIGGER workflow_tasks_data_version_delete ON workflow_tasks;
DROP TRIGGER workflow_tasks_data_version_insert ON workflow_tasks;
DROP TRIGGER workflow_tasks_data_version_update ON workflow_tasks;
DROP TRIGGER customers_data_version_update ON customers;
DROP TRIGGER customers_data_version_insert ON customers;
DROP FUNCTION customers_inserted();
DROP FUNCTION customer_row_changed();
DROP FUNCTION customer_rows_changed();
DROP FUNCTION bump_customer_versions(uuid[], uuid[]);
DROP TABLE customer_data_versions;
