-- The continuous-intelligence agent. Per tenant, every statement runs in a tenant transaction
-- (row-level security scopes it); the slot's run row and the list of tenants with work are the
-- service role's.

-- name: tenants_with_work
-- Tenants with customers due (data changed, never passed, or last passed on an earlier day of the
-- tenant's calendar) or summaries due, oldest change first; each an index scan of the due rows.
SELECT t.id AS tenant_id, d.due, s.summaries_due
FROM tenants t
CROSS JOIN LATERAL (SELECT (now() AT TIME ZONE t.time_zone)::date AS today) c
CROSS JOIN LATERAL (
  SELECT count(*) AS due, min(x.changed_at) AS oldest FROM (
    SELECT v.changed_at FROM customer_data_versions v
    WHERE v.tenant_id = t.id AND v.version > v.passed_version
    UNION ALL
    SELECT v.changed_at FROM customer_data_versions v
    WHERE v.tenant_id = t.id AND v.passed_on < c.today AND v.version <= v.passed_version
  ) x
) d
CROSS JOIN LATERAL (
  SELECT count(*) AS summaries_due, min(i.computed_at) AS oldest FROM customer_intelligence i
  WHERE i.tenant_id = t.id AND i.facts_sha256 IS DISTINCT FROM i.summary_facts_sha256
    AND i.facts_sha256 IS NOT NULL
) s
WHERE d.due > 0 OR s.summaries_due > 0
ORDER BY least(d.oldest, s.oldest), t.id
LIMIT %(max_workspaces)s;

-- name: tenant_settings
SELECT settings FROM tenants WHERE id = current_tenant_id();

-- name: recompute
-- Up to %(batch)s due customers of the tenant, in one statement: their components from every
-- table the scores read (one scan of each for all of them), the scores, the facts a summary may
-- cite and their digest, the trend; the customers marked as passed at the version read. Rows a
-- concurrent pass holds are skipped (it computes them).
--
-- Each component scores risk from 0 (none) to 100; NULL means no data, and the weights of the
-- components present are renormalised. Health leaves renewal proximity out (it is about the
-- relationship); risk adds it, weighted by ARR.
WITH clock AS (
  SELECT (now() AT TIME ZONE t.time_zone)::date AS today FROM tenants t
  WHERE t.id = current_tenant_id()
),
due AS (
  (SELECT v.customer_id, v.version, v.passed_on, v.changed_at FROM customer_data_versions v
   WHERE v.tenant_id = current_tenant_id() AND v.version > v.passed_version
   ORDER BY v.changed_at LIMIT %(batch)s)
  UNION
  (SELECT v.customer_id, v.version, v.passed_on, v.changed_at FROM customer_data_versions v, clock
   WHERE v.tenant_id = current_tenant_id() AND v.passed_on < clock.today
   ORDER BY v.passed_on LIMIT %(batch)s)
),
picked AS (
  SELECT v.customer_id, v.version
  FROM customer_data_versions v
  WHERE v.tenant_id = current_tenant_id()
    AND v.customer_id IN (SELECT d.customer_id FROM due d ORDER BY d.passed_on, d.changed_at
                          LIMIT %(batch)s)
  FOR UPDATE OF v SKIP LOCKED
),
recent_usage AS (
  SELECT u.customer_id, u.metric_name, u.metric_date, u.value
  FROM usage_metrics u, clock
  WHERE u.tenant_id = current_tenant_id()
    AND u.customer_id IN (SELECT customer_id FROM picked)
    AND u.metric_date > clock.today - 90 AND u.metric_date <= clock.today
),
usage_by_metric AS (
  SELECT r.customer_id,
         avg(r.value) FILTER (WHERE r.metric_date > clock.today - 28) AS recent,
         avg(r.value) FILTER (WHERE r.metric_date <= clock.today - 28
                                AND r.metric_date > clock.today - 56) AS previous,
         max(r.metric_date) AS last_date
  FROM recent_usage r, clock
  WHERE r.metric_name NOT LIKE 'support\_%%' AND r.metric_date > clock.today - 56
  GROUP BY r.customer_id, r.metric_name
),
usage AS (
  SELECT m.customer_id,
         round(avg(CASE WHEN m.previous > 0
                        THEN (coalesce(m.recent, 0) - m.previous) / m.previous * 100 END), 1)
           AS change_pct,
         count(*) AS metrics,
         max(m.last_date) AS last_date
  FROM usage_by_metric m
  GROUP BY m.customer_id
),
support AS (
  SELECT r.customer_id,
         coalesce(sum(r.value) FILTER (WHERE r.metric_name = 'support_tickets'
                                         AND r.metric_date > clock.today - 28), 0) AS tickets,
         coalesce(sum(r.value) FILTER (WHERE r.metric_name = 'support_escalations'
                                         AND r.metric_date > clock.today - 28), 0) AS escalations
  FROM recent_usage r, clock
  WHERE r.metric_name LIKE 'support\_%%'
  GROUP BY r.customer_id
),
people AS (
  SELECT ct.customer_id, count(*) AS contacts, bool_or(ct.is_primary) AS has_primary,
         bool_or(lower(coalesce(ct.role, '') || ' ' || coalesce(ct.title, ''))
                 ~ '(champion|economic|buyer|sponsor|cfo|ceo|decision)') AS has_sponsor
  FROM contacts ct
  WHERE ct.tenant_id = current_tenant_id() AND ct.customer_id IN (SELECT customer_id FROM picked)
  GROUP BY ct.customer_id
),
work AS (
  SELECT w.customer_id,
         count(*) FILTER (WHERE w.status IN ('pending', 'in_progress', 'snoozed')) AS open,
         count(*) FILTER (WHERE w.status IN ('pending', 'in_progress', 'snoozed')
                            AND w.due_date < clock.today) AS overdue,
         count(*) FILTER (WHERE w.status = 'completed'
                            AND w.completed_at > now() - interval '30 days') AS done_30d
  FROM workflow_tasks w, clock
  WHERE w.tenant_id = current_tenant_id() AND w.customer_id IN (SELECT customer_id FROM picked)
  GROUP BY w.customer_id
),
deal AS (
  SELECT k.customer_id, k.arr, k.currency, k.renewal_date, k.renewal_date - clock.today AS days
  FROM contracts k, clock
  WHERE k.tenant_id = current_tenant_id() AND k.status = 'active'
    AND k.customer_id IN (SELECT customer_id FROM picked)
),
inputs AS (
  SELECT p.customer_id,
         us.change_pct, us.metrics, us.last_date,
         su.customer_id IS NOT NULL AS has_support, su.tickets, su.escalations,
         coalesce(pe.contacts, 0) AS contacts, coalesce(pe.has_primary, false) AS has_primary,
         coalesce(pe.has_sponsor, false) AS has_sponsor,
         coalesce(wk.open, 0) AS open, coalesce(wk.overdue, 0) AS overdue,
         coalesce(wk.done_30d, 0) AS done_30d,
         dl.arr, dl.currency, dl.renewal_date, dl.days,
         CASE WHEN dl.days IS NULL THEN NULL
              WHEN dl.days < 0 THEN 'overdue'
              WHEN dl.days <= 30 THEN 'within_30_days'
              WHEN dl.days <= 60 THEN 'within_60_days'
              WHEN dl.days <= 90 THEN 'within_90_days'
              WHEN dl.days <= 180 THEN 'within_180_days'
              ELSE 'later' END AS band,
         -- 0.5 at $1k ARR or less, 1.0 at $1M or more: exposure grows with the money at stake,
         -- from the customer's own ARR alone (so no other customer's change moves this score)
         CASE WHEN dl.arr IS NULL THEN NULL
              ELSE least(1.0, greatest(0.5, log(greatest(dl.arr, 1)::numeric) / 6)) END
           AS arr_factor
  FROM picked p
  LEFT JOIN usage us ON us.customer_id = p.customer_id
  LEFT JOIN support su ON su.customer_id = p.customer_id
  LEFT JOIN people pe ON pe.customer_id = p.customer_id
  LEFT JOIN work wk ON wk.customer_id = p.customer_id
  LEFT JOIN deal dl ON dl.customer_id = p.customer_id
),
parts AS (
  SELECT i.*,
         CASE WHEN i.change_pct IS NULL THEN NULL
              ELSE least(100, greatest(0, round(30 - 1.4 * i.change_pct)))::int END AS usage_score,
         greatest(0, 100 - 30 * i.has_primary::int - 25 * i.has_sponsor::int
                      - 15 * (i.contacts >= 3)::int - 30 * (i.done_30d > 0)::int) AS engagement_score,
         least(100, 25 * i.overdue + 5 * i.open)::int AS tasks_score,
         CASE WHEN NOT i.has_support THEN NULL
              ELSE least(100, round(5 * i.tickets + 25 * i.escalations))::int END AS support_score,
         CASE WHEN i.band IS NULL THEN NULL
              ELSE round((CASE i.band WHEN 'overdue' THEN 100 WHEN 'within_30_days' THEN 85
                                      WHEN 'within_60_days' THEN 70 WHEN 'within_90_days' THEN 55
                                      WHEN 'within_180_days' THEN 30 ELSE 10 END)
                         * i.arr_factor)::int END AS renewal_score
  FROM inputs i
),
scored AS (
  SELECT p.*,
         round(100 - (0.30 * coalesce(p.usage_score, 0) + 0.25 * p.engagement_score
                      + 0.20 * p.tasks_score + 0.25 * coalesce(p.support_score, 0))
                     / (0.45 + 0.30 * (p.usage_score IS NOT NULL)::int
                        + 0.25 * (p.support_score IS NOT NULL)::int))::int AS health,
         round((0.30 * coalesce(p.usage_score, 0) + 0.20 * p.engagement_score
                + 0.15 * p.tasks_score + 0.15 * coalesce(p.support_score, 0)
                + 0.20 * coalesce(p.renewal_score, 0))
               / (0.35 + 0.30 * (p.usage_score IS NOT NULL)::int
                  + 0.15 * (p.support_score IS NOT NULL)::int
                  + 0.20 * (p.renewal_score IS NOT NULL)::int))::int AS risk
  FROM parts p
),
described AS (
  SELECT s.customer_id, s.health, s.risk,
         jsonb_build_object(
           'usage', CASE WHEN s.usage_score IS NULL THEN NULL ELSE jsonb_build_object(
             'score', s.usage_score, 'weight', 0.30, 'changePct', s.change_pct,
             'metrics', s.metrics, 'lastDate', s.last_date) END,
           'engagement', jsonb_build_object(
             'score', s.engagement_score, 'weight', 0.20, 'contacts', s.contacts,
             'hasPrimary', s.has_primary, 'hasSponsor', s.has_sponsor,
             'tasksCompleted30d', s.done_30d),
           'tasks', jsonb_build_object(
             'score', s.tasks_score, 'weight', 0.15, 'open', s.open, 'overdue', s.overdue),
           'support', CASE WHEN s.support_score IS NULL THEN NULL ELSE jsonb_build_object(
             'score', s.support_score, 'weight', 0.15, 'tickets28d', s.tickets,
             'escalations28d', s.escalations) END,
           'renewal', CASE WHEN s.renewal_score IS NULL THEN NULL ELSE jsonb_build_object(
             'score', s.renewal_score, 'weight', 0.20, 'days', s.days, 'band', s.band,
             'renewalDate', s.renewal_date, 'arr', s.arr, 'currency', s.currency,
             'arrFactor', round(s.arr_factor, 2)) END
         ) AS components,
         -- what a summary may cite: stable from day to day unless something a reader cares
         -- about moved (days until renewal are in the band; usage change rounded to 5 points)
         jsonb_strip_nulls(jsonb_build_object(
           'score.risk', s.risk, 'score.health', s.health,
           'usage.change_pct', round(s.change_pct / 5) * 5,
           'usage.trend', CASE WHEN s.change_pct IS NULL THEN NULL
                               WHEN s.change_pct <= -10 THEN 'declining'
                               WHEN s.change_pct >= 10 THEN 'growing' ELSE 'flat' END,
           'engagement.contacts', s.contacts,
           'engagement.has_primary_contact', s.has_primary,
           'engagement.has_sponsor', s.has_sponsor,
           'engagement.tasks_completed_30d', s.done_30d,
           'tasks.open', s.open, 'tasks.overdue', s.overdue,
           'support.tickets_28d', CASE WHEN s.has_support THEN s.tickets END,
           'support.escalations_28d', CASE WHEN s.has_support THEN s.escalations END,
           'renewal.band', s.band, 'renewal.date', s.renewal_date,
           'renewal.arr', s.arr, 'renewal.currency', s.currency
         )) AS facts
  FROM scored s
),
written AS (
  INSERT INTO customer_intelligence AS ci
    (tenant_id, customer_id, risk_score, health_score, sentiment, components, facts,
     facts_sha256, risk_trend, score_history, computed_at)
  SELECT current_tenant_id(), d.customer_id, d.risk, d.health,
         CASE WHEN d.risk < 40 THEN 'positive' WHEN d.risk < 70 THEN 'neutral'
              ELSE 'negative' END,
         d.components, d.facts, encode(sha256(convert_to(d.facts::text, 'UTF8')), 'hex'), 'new',
         jsonb_build_array(jsonb_build_object('at', now(), 'risk', d.risk, 'health', d.health)),
         now()
  FROM described d
  ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
    risk_score = EXCLUDED.risk_score,
    health_score = EXCLUDED.health_score,
    sentiment = EXCLUDED.sentiment,
    components = EXCLUDED.components,
    facts = EXCLUDED.facts,
    facts_sha256 = EXCLUDED.facts_sha256,
    computed_at = EXCLUDED.computed_at,
    -- the trend moves only when the score does: recomputing an unchanged score keeps it
    previous_risk_score = CASE WHEN ci.risk_score IS DISTINCT FROM EXCLUDED.risk_score
                               THEN ci.risk_score ELSE ci.previous_risk_score END,
    risk_trend = CASE
      WHEN ci.risk_score IS NOT DISTINCT FROM EXCLUDED.risk_score
        THEN coalesce(ci.risk_trend, CASE WHEN ci.risk_score IS NULL THEN 'new' ELSE 'stable' END)
      WHEN ci.risk_score IS NULL THEN 'new'
      WHEN EXCLUDED.risk_score - ci.risk_score >= 5 THEN 'worsening'
      WHEN EXCLUDED.risk_score - ci.risk_score <= -5 THEN 'improving'
      ELSE 'stable' END,
    score_history = CASE
      WHEN (ci.risk_score, ci.health_score) IS NOT DISTINCT FROM
           (EXCLUDED.risk_score, EXCLUDED.health_score) AND jsonb_array_length(ci.score_history) > 0
        THEN ci.score_history
      ELSE (SELECT coalesce(jsonb_agg(h.point ORDER BY h.n), '[]'::jsonb) FROM (
              SELECT e.point, e.n FROM jsonb_array_elements(ci.score_history || EXCLUDED.score_history)
                WITH ORDINALITY AS e(point, n)
              ORDER BY e.n DESC LIMIT 12) h) END
  RETURNING ci.customer_id
),
marked AS (
  UPDATE customer_data_versions v SET passed_version = p.version, passed_on = clock.today
  FROM picked p, clock
  WHERE v.tenant_id = current_tenant_id() AND v.customer_id = p.customer_id
  RETURNING v.customer_id
)
SELECT (SELECT count(*) FROM written) AS computed, (SELECT count(*) FROM marked) AS marked;

-- name: summaries_due
-- Customers whose summary was written from other facts than their current ones (or never).
SELECT i.customer_id, c.name, i.facts, i.facts_sha256, i.risk_score, i.health_score,
       i.risk_trend, i.components
FROM customer_intelligence i
JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
WHERE i.tenant_id = current_tenant_id() AND i.facts_sha256 IS NOT NULL
  AND i.facts_sha256 IS DISTINCT FROM i.summary_facts_sha256
ORDER BY i.computed_at, i.customer_id
LIMIT %(batch)s;

-- name: store_summaries
-- Fenced by the facts: a summary is kept only if the customer's facts are still those it was
-- written from (a pass that recomputed meanwhile writes its own).
UPDATE customer_intelligence ci
SET ai_summary = s.summary, insights = s.insights, summary_facts_sha256 = s.facts_sha256,
    generated_at = now()
FROM jsonb_to_recordset(%(rows)s::jsonb)
  AS s(customer_id uuid, summary text, insights jsonb, facts_sha256 text)
WHERE ci.tenant_id = current_tenant_id() AND ci.customer_id = s.customer_id
  AND ci.facts_sha256 = s.facts_sha256
RETURNING ci.customer_id;

-- name: claim_run
-- The slot's run: a new one, or one taken over (failed as a whole, or its process died and its
-- lease expired). Concurrent callers queue on the unique slot; one of them gets a row back.
INSERT INTO intelligence_runs AS r
  (slot, triggered_by, batch_size_per_workspace, max_workspaces, lease_token, claimed_by,
   lease_expires_at)
VALUES (%(slot)s, %(triggered_by)s, %(batch)s, %(max_workspaces)s, %(token)s, %(worker)s,
        clock_timestamp() + make_interval(secs => %(lease_seconds)s))
ON CONFLICT (slot) DO UPDATE SET
  status = 'running', attempts = r.attempts + 1, lease_token = EXCLUDED.lease_token,
  claimed_by = EXCLUDED.claimed_by, lease_expires_at = EXCLUDED.lease_expires_at,
  triggered_by = EXCLUDED.triggered_by,
  batch_size_per_workspace = EXCLUDED.batch_size_per_workspace,
  max_workspaces = EXCLUDED.max_workspaces, error = NULL, result = NULL,
  started_at = clock_timestamp(), finished_at = NULL
  WHERE r.status = 'failed' OR (r.status = 'running' AND r.lease_expires_at < clock_timestamp())
RETURNING r.id, r.attempts;

-- name: get_run
SELECT id, slot, status, triggered_by, attempts, result, error, started_at, finished_at,
       lease_expires_at < clock_timestamp() AS lease_expired
FROM intelligence_runs WHERE slot = %(slot)s;

-- name: extend_run
UPDATE intelligence_runs
SET lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s)
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running'
RETURNING id;

-- name: finish_run
-- Fenced by the lease token: a run taken over meanwhile is not finished by its old holder.
UPDATE intelligence_runs
SET status = %(status)s, result = %(result)s, error = %(error)s, finished_at = clock_timestamp(),
    lease_token = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running'
RETURNING id;

-- name: forget_old_runs
DELETE FROM intelligence_runs WHERE slot < %(before)s;

-- name: tenants_without_work
-- Tenants with nothing due now (not one row of `tenants_with_work`'s, whatever its limit): the
-- pass looked at them and had nothing to do, which the ledger records as their success.
SELECT t.id AS tenant_id
FROM tenants t
WHERE NOT EXISTS (SELECT 1 FROM customer_data_versions v
                  WHERE v.tenant_id = t.id AND v.version > v.passed_version)
  AND NOT EXISTS (SELECT 1 FROM customer_data_versions v
                  WHERE v.tenant_id = t.id AND v.version <= v.passed_version
                    AND v.passed_on < (now() AT TIME ZONE t.time_zone)::date)
  AND NOT EXISTS (SELECT 1 FROM customer_intelligence i
                  WHERE i.tenant_id = t.id AND i.facts_sha256 IS NOT NULL
                    AND i.facts_sha256 IS DISTINCT FROM i.summary_facts_sha256);
