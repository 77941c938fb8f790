-- Tenant settings as one typed object (renewflow.settings): the flat keys of earlier versions
-- move into their sections, and every change of settings is recorded.
--
-- vpCustomerSuccess, ceo, warRoom  -> company.vp_customer_success, company.ceo, company.war_room
-- snooze_deadline_days             -> tasks.snooze_deadline_days
-- A value already in the section wins; a section that is not an object is left alone (the
-- settings reader reports it). The reader still accepts the old keys, for settings written by
-- hand after this migration.
UPDATE tenants t
SET settings = (t.settings - 'vpCustomerSuccess' - 'ceo' - 'warRoom' - 'snooze_deadline_days')
  || CASE
       WHEN moved.company = '{}'::jsonb THEN '{}'::jsonb
       WHEN t.settings -> 'company' IS NULL
         THEN jsonb_build_object('company', moved.company)
       WHEN jsonb_typeof(t.settings -> 'company') = 'object'
         THEN jsonb_build_object('company', moved.company || (t.settings -> 'company'))
       ELSE '{}'::jsonb
     END
  || CASE
       WHEN moved.tasks = '{}'::jsonb THEN '{}'::jsonb
       WHEN t.settings -> 'tasks' IS NULL THEN jsonb_build_object('tasks', moved.tasks)
       WHEN jsonb_typeof(t.settings -> 'tasks') = 'object'
         THEN jsonb_build_object('tasks', moved.tasks || (t.settings -> 'tasks'))
       ELSE '{}'::jsonb
     END
FROM (
  SELECT id,
         jsonb_strip_nulls(jsonb_build_object(
           'vp_customer_success', settings -> 'vpCustomerSuccess',
           'ceo', settings -> 'ceo',
           'war_room', settings -> 'warRoom')) AS company,
         jsonb_strip_nulls(jsonb_build_object(
           'snooze_deadline_days', settings -> 'snooze_deadline_days')) AS tasks
  FROM tenants
  WHERE jsonb_typeof(settings) = 'object'
    AND settings ?| ARRAY['vpCustomerSuccess', 'ceo', 'warRoom', 'snooze_deadline_days']
) moved
WHERE moved.id = t.id;

-- Who changed which settings, and when. The keys only: never a value (secrets least of all).
CREATE TABLE tenant_settings_changes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  changed_at timestamptz NOT NULL DEFAULT now(),
  -- the user, while they exist; `actor` keeps who it was (an email, or the CLI's operator)
  actor_user_id uuid,
  actor varchar(320) NOT NULL CHECK (btrim(actor) <> ''),
  action varchar(20) NOT NULL CHECK (action IN ('update', 'rotate-key')),
  keys text[] NOT NULL CHECK (cardinality(keys) > 0),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, actor_user_id) REFERENCES users(tenant_id, id)
    ON DELETE SET NULL (actor_user_id)
);
CREATE INDEX tenant_settings_changes_recent ON tenant_settings_changes (tenant_id, changed_at DESC);
CALL enable_tenant_rls('tenant_settings_changes');
-- An audit trail is appended to, never edited: an UPDATE or DELETE of a row is refused. A
-- trigger rather than a REVOKE, so that the referential actions still run (a tenant's deletion
-- cascades here; a user's deletion clears actor_user_id): those come from a foreign key's own
-- trigger, one level deeper. Row-level security first hides other tenants' rows, so a statement
-- aimed at them changes nothing, as on every tenant table.
CREATE FUNCTION tenant_settings_changes_are_appended_only() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF pg_trigger_depth() > 1 THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  RAISE EXCEPTION 'the settings audit trail is appended to, never edited'
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER tenant_settings_changes_append_only
  BEFORE UPDATE OR DELETE ON tenant_settings_changes
  FOR EACH ROW EXECUTE FUNCTION tenant_settings_changes_are_appended_only();
