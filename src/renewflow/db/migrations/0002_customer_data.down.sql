DROP TABLE IF EXISTS recommendations;
DROP TABLE IF EXISTS customer_intelligence;
DROP TABLE IF EXISTS usage_metrics;
DROP TABLE IF EXISTS contacts;
DROP TABLE IF EXISTS contracts;
DROP TABLE IF EXISTS customers;
