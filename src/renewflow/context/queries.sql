-- name: find_user_by_email
SELECT id FROM users WHERE lower(email) = lower(%(email)s);

-- name: insert_csm_user
INSERT INTO users (tenant_id, email, role) VALUES (current_tenant_id(), %(email)s, 'csm')
ON CONFLICT (tenant_id, lower(email)) DO UPDATE SET email = users.email
RETURNING id;

-- name: find_team_manager
SELECT id, active, role FROM users WHERE lower(email) = lower(%(email)s);

-- name: upsert_customer
-- With an external id, re-sending a customer updates it (imports are repeatable); without one,
-- every call creates a customer.
INSERT INTO customers (tenant_id, external_id, name, domain, industry, tier, segment, csm_id,
                       account_team, manager_override_id, has_account_plan, health_score,
                       metadata)
VALUES (current_tenant_id(), %(external_id)s, %(name)s, %(domain)s, %(industry)s, %(tier)s,
        %(segment)s, %(csm_id)s, %(account_team)s, %(manager_override_id)s,
        %(has_account_plan)s, %(health_score)s, %(metadata)s)
ON CONFLICT (tenant_id, external_id) DO UPDATE SET
  name = EXCLUDED.name, domain = EXCLUDED.domain, industry = EXCLUDED.industry,
  tier = EXCLUDED.tier, segment = EXCLUDED.segment,
  csm_id = coalesce(EXCLUDED.csm_id, customers.csm_id),
  account_team = EXCLUDED.account_team, manager_override_id = EXCLUDED.manager_override_id,
  has_account_plan = EXCLUDED.has_account_plan,
  health_score = EXCLUDED.health_score, metadata = EXCLUDED.metadata
RETURNING id, (xmax = 0) AS inserted;

-- name: upsert_active_contract
-- One active contract per customer (a partial unique index): replace its terms in place.
INSERT INTO contracts (tenant_id, customer_id, start_date, renewal_date, arr, currency, auto_renew)
VALUES (current_tenant_id(), %(customer_id)s, %(start_date)s, %(renewal_date)s, %(arr)s,
        %(currency)s, %(auto_renew)s)
ON CONFLICT (tenant_id, customer_id) WHERE status = 'active' DO UPDATE SET
  start_date = EXCLUDED.start_date, renewal_date = EXCLUDED.renewal_date, arr = EXCLUDED.arr,
  currency = EXCLUDED.currency, auto_renew = EXCLUDED.auto_renew
RETURNING id;

-- name: get_customer
SELECT c.id, c.external_id, c.name, c.domain, c.industry, c.tier, c.segment, c.has_account_plan,
       c.health_score, c.account_team, c.metadata, c.created_at, c.updated_at,
       u.email AS csm_email, o.email AS manager_override_email,
       k.renewal_date, k.arr, k.currency, k.start_date
FROM customers c
LEFT JOIN users u ON u.id = c.csm_id
LEFT JOIN users o ON o.id = c.manager_override_id
LEFT JOIN contracts k ON k.customer_id = c.id AND k.status = 'active'
WHERE c.id = %(customer_id)s;

-- name: list_customers
SELECT c.id, c.external_id, c.name, c.domain, c.industry, c.tier, c.segment, c.has_account_plan,
       c.health_score, c.account_team, c.metadata, c.created_at, c.updated_at,
       u.email AS csm_email, o.email AS manager_override_email,
       k.renewal_date, k.arr, k.currency, k.start_date
FROM customers c
LEFT JOIN users u ON u.id = c.csm_id
LEFT JOIN users o ON o.id = c.manager_override_id
LEFT JOIN contracts k ON k.customer_id = c.id AND k.status = 'active'
WHERE (%(search)s::text IS NULL OR c.name ILIKE '%%' || %(search)s || '%%')
ORDER BY lower(c.name), c.id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: customer_ids_by_external_id
SELECT external_id, id FROM customers WHERE external_id = ANY(%(external_ids)s);

-- name: existing_customer_ids
SELECT id FROM customers WHERE id = ANY(%(ids)s);

-- name: customer_exists
SELECT 1 FROM customers WHERE id = %(customer_id)s;

-- name: insert_contact
INSERT INTO contacts (tenant_id, customer_id, external_id, name, email, title, role, is_primary)
VALUES (current_tenant_id(), %(customer_id)s, %(external_id)s, %(name)s, %(email)s, %(title)s,
        %(role)s, %(is_primary)s)
RETURNING id, name, email, title, role, is_primary;

-- name: clear_primary_contact
UPDATE contacts SET is_primary = false WHERE customer_id = %(customer_id)s AND is_primary;

-- name: upsert_usage
INSERT INTO usage_metrics (tenant_id, customer_id, metric_date, metric_name, value)
VALUES (current_tenant_id(), %(customer_id)s, %(metric_date)s, %(metric_name)s, %(value)s)
ON CONFLICT (tenant_id, customer_id, metric_name, metric_date) DO UPDATE SET value = EXCLUDED.value;

-- name: upsert_intelligence
INSERT INTO customer_intelligence (tenant_id, customer_id, risk_score, sentiment, ai_summary,
                                   insights, generated_at)
VALUES (current_tenant_id(), %(customer_id)s, %(risk_score)s, %(sentiment)s, %(ai_summary)s,
        %(insights)s, now())
ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
  risk_score = EXCLUDED.risk_score, sentiment = EXCLUDED.sentiment,
  ai_summary = EXCLUDED.ai_summary, insights = EXCLUDED.insights, generated_at = now();

-- name: build_context
-- Everything a workflow context needs about one customer (or, with %(customer_ids)s, about many:
-- the sweep's early triggers), in one round trip.
SELECT
  c.id, c.name, c.external_id, c.domain, c.industry, c.tier, c.segment, c.has_account_plan,
  c.health_score, c.account_team, c.metadata,
  k.renewal_date, k.arr, k.currency,
  t.settings AS tenant_settings,
  k.renewal_date - (now() AT TIME ZONE t.time_zone)::date AS days_until_renewal,
  extract(epoch FROM ((k.renewal_date::timestamp AT TIME ZONE t.time_zone) - now())) / 3600
    AS hours_until_renewal,
  u.id AS csm_id, u.email AS csm_email, u.name AS csm_name, m.email AS csm_manager,
  ci.risk_score, ci.sentiment, ci.ai_summary, ci.insights,
  (SELECT coalesce(jsonb_agg(jsonb_build_object(
            'name', ct.name, 'email', ct.email, 'title', ct.title, 'role', ct.role,
            'isPrimary', ct.is_primary) ORDER BY ct.is_primary DESC, ct.name), '[]'::jsonb)
     FROM contacts ct WHERE ct.tenant_id = c.tenant_id AND ct.customer_id = c.id) AS contacts,
  (SELECT coalesce(jsonb_agg(jsonb_build_object('name', l.metric_name, 'date', l.metric_date,
                                                'value', l.value)), '[]'::jsonb)
     FROM (SELECT DISTINCT ON (metric_name) metric_name, metric_date, value
           FROM usage_metrics WHERE customer_id = c.id
           ORDER BY metric_name, metric_date DESC) l) AS usage_latest,
  (SELECT coalesce(jsonb_agg(jsonb_build_object('name', p.metric_name, 'value', p.value)),
                   '[]'::jsonb)
     FROM (SELECT DISTINCT ON (metric_name) metric_name, value
           FROM usage_metrics
           WHERE customer_id = c.id
             AND metric_date <= (SELECT max(metric_date) FROM usage_metrics
                                 WHERE customer_id = c.id) - 28
           ORDER BY metric_name, metric_date DESC) p) AS usage_previous,
  e.id AS execution_id, e.current_step_id, w.name AS workflow_name, w.workflow_id AS workflow_slug,
  (SELECT coalesce(jsonb_object_agg(s.step_id, s.outputs), '{}'::jsonb)
     FROM (SELECT DISTINCT ON (step_id) step_id, outputs
           FROM workflow_step_executions
           WHERE workflow_execution_id = e.id AND status = 'completed' AND outputs IS NOT NULL
           ORDER BY step_id, completed_at DESC NULLS LAST, created_at DESC) s) AS outputs
FROM customers c
JOIN tenants t ON t.id = c.tenant_id
LEFT JOIN contracts k ON k.customer_id = c.id AND k.status = 'active'
LEFT JOIN users u ON u.id = c.csm_id
-- csm.manager: the account team's manager override, else the nearest active manager of the CSM
LEFT JOIN users m ON m.id = escalation_manager(c.tenant_id, c.manager_override_id, u.id)
LEFT JOIN customer_intelligence ci ON ci.customer_id = c.id
LEFT JOIN workflow_executions e ON e.id = %(execution_id)s AND e.customer_id = c.id
LEFT JOIN workflows w ON w.id = e.workflow_id
WHERE c.id = ANY(%(customer_ids)s::uuid[]);
