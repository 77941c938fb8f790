-- Rows quarantined by `renewflow db check --repair` go with the table: keep a dump of
-- quarantined_rows first if they matter.
DROP FUNCTION jsonb_numbers_within(jsonb, numeric);
ALTER TABLE contracts DROP CONSTRAINT contracts_arr_is_a_number;
ALTER TABLE usage_metrics DROP CONSTRAINT usage_metrics_value_in_range;
DROP TABLE quarantined_rows;
