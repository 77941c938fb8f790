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

-- The book's filters, once for its three orders (SQL, STABLE and SECURITY INVOKER: inlined into
-- each query, row-level security as ever): search (name or domain), stage, owner, risk band,
-- renewing within N days (negative: overdue only), and a CSM's own book (`mine`).
CREATE FUNCTION renewal_book_filtered(
  p_mine boolean, p_user_id uuid, p_search text, p_stage text, p_owner uuid, p_risk_min integer,
  p_risk_max integer, p_within integer
) RETURNS SETOF renewal_book
  LANGUAGE sql STABLE
  AS $$
  SELECT b.* FROM renewal_book b
  WHERE (NOT p_mine OR b.owner_id = p_user_id)
    AND (p_search IS NULL OR b.name ILIKE '%' || p_search || '%'
         OR b.domain ILIKE '%' || p_search || '%')
    AND (p_stage IS NULL OR b.stage_id = p_stage)
    AND (p_owner IS NULL OR b.owner_id = p_owner)
    AND (p_risk_min IS NULL OR b.risk_score >= p_risk_min)
    AND (p_risk_max IS NULL OR b.risk_score <= p_risk_max)
    AND (p_within IS NULL OR (p_within >= 0 AND b.days BETWEEN 0 AND p_within)
         OR (p_within < 0 AND b.days < 0))
$$;
GRANT EXECUTE ON FUNCTION renewal_book_filtered(boolean, uuid, text, text, uuid, integer, integer, integer)
  TO renewflow_app, renewflow_service;
