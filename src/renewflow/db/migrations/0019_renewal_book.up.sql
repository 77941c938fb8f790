-- The renewal book as a view: each customer with an active contract, its days until renewal on
-- the tenant's calendar, risk, stage (the workflow of its active execution) and owner. A
-- security_invoker view: row-level security applies as to the tables themselves (PostgreSQL
-- 15+), so a tenant's transaction sees its own book only. For the console and for reporting.
CREATE VIEW renewal_book WITH (security_invoker = true) AS
SELECT c.id, c.tenant_id, c.name, c.domain, c.industry, c.tier, c.segment,
       k.arr, k.currency, k.renewal_date, l.today, k.renewal_date - l.today AS days,
       i.risk_score, coalesce(i.risk_score, -1) AS risk_key,
       w.workflow_id AS stage_id, w.name AS stage, e.id AS execution_id,
       c.csm_id AS owner_id, coalesce(u.name, u.email) AS owner
FROM contracts k
JOIN customers c ON c.id = k.customer_id
JOIN LATERAL (
  SELECT (now() AT TIME ZONE t.time_zone)::date AS today FROM tenants t WHERE t.id = c.tenant_id
) l ON true
LEFT JOIN customer_intelligence i ON i.customer_id = c.id
LEFT JOIN workflow_executions e ON e.customer_id = c.id AND e.status = 'active'
LEFT JOIN workflows w ON w.id = e.workflow_id
LEFT JOIN users u ON u.id = c.csm_id
WHERE k.status = 'active';

GRANT SELECT ON renewal_book TO renewflow_app, renewflow_service;
