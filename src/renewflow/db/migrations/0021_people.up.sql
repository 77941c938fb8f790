-- People: a user's own time zone, a manager chain without cycles, the manager a customer's
-- escalations go to instead of its CSM's, and what a role change or a deactivation does to the
-- user's keys and sessions. Each rule is a trigger, so it holds for every writer (the API, the
-- CLI, the console, the demo loader, SQL by hand), not only for the code that checks first.

-- NULL: the tenant's time zone. An IANA name; the application checks it against its own time zone
-- database, and this trigger that PostgreSQL knows it too (dates are computed here).
ALTER TABLE users ADD COLUMN time_zone text;

CREATE FUNCTION user_time_zone_is_known() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  BEGIN
    PERFORM now() AT TIME ZONE NEW.time_zone;
  EXCEPTION WHEN invalid_parameter_value THEN
    RAISE EXCEPTION 'unknown time zone %', NEW.time_zone
      USING ERRCODE = 'check_violation', CONSTRAINT = 'users_time_zone_known';
  END;
  RETURN NEW;
END
$$;
CREATE TRIGGER users_time_zone_known
  BEFORE INSERT OR UPDATE OF time_zone ON users
  FOR EACH ROW WHEN (NEW.time_zone IS NOT NULL)
  EXECUTE FUNCTION user_time_zone_is_known();

-- A manager chain never comes back to where it started: nobody is their own manager, nor their
-- manager's manager at any depth. The composite foreign key (tenant_id, manager_id) already keeps
-- a manager inside the user's tenant.
--
-- Two concurrent changes could each find no cycle (A under B in one transaction, B under A in
-- another) and together make one, so changes of a tenant's chain take turns: a transaction-level
-- advisory lock per tenant, taken before the walk. Under READ COMMITTED each statement of this
-- (volatile) function takes a new snapshot, so the walk after the lock sees the change of the
-- transaction that held it. Rows updated earlier by the same statement are visible as well.
CREATE FUNCTION user_manager_chain_has_no_cycle() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('renewflow.managers:' || NEW.tenant_id::text, 0));
  IF EXISTS (
    WITH RECURSIVE chain (id) AS (
      SELECT NEW.manager_id
      UNION  -- not UNION ALL: ends even on a cycle stored before this trigger existed
      SELECT u.manager_id
      FROM chain JOIN users u ON u.tenant_id = NEW.tenant_id AND u.id = chain.id
      WHERE u.manager_id IS NOT NULL AND u.id <> NEW.id
    )
    SELECT 1 FROM chain WHERE chain.id = NEW.id
  ) THEN
    RAISE EXCEPTION 'user % cannot report to %: that manager already reports to them',
        NEW.id, NEW.manager_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'users_manager_no_cycle';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER users_manager_no_cycle
  BEFORE INSERT OR UPDATE OF manager_id ON users
  FOR EACH ROW WHEN (NEW.manager_id IS NOT NULL)
  EXECUTE FUNCTION user_manager_chain_has_no_cycle();
CREATE INDEX users_tenant_manager ON users (tenant_id, manager_id) WHERE manager_id IS NOT NULL;

-- A key acts with its user's role (authenticate_api_key reads the key's copy): a demoted admin's
-- keys are demoted with them, in the same transaction.
CREATE FUNCTION user_role_to_keys() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  UPDATE api_keys SET role = NEW.role
  WHERE tenant_id = NEW.tenant_id AND user_id = NEW.id AND role <> NEW.role;
  RETURN NULL;
END
$$;
CREATE TRIGGER users_role_to_keys
  AFTER UPDATE OF role ON users
  FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role)
  EXECUTE FUNCTION user_role_to_keys();

-- A deactivated user's keys and sessions stop working at once: authenticate_api_key and
-- authenticate_console_session require users.active. Their sessions are also ended (no longer
-- listed as live, and not revived by a reactivation); their keys are kept, refused while they
-- are deactivated, and work again if they are reactivated (revoke them for good otherwise).
CREATE FUNCTION user_deactivated_ends_sessions() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  UPDATE console_sessions SET revoked_at = now()
  WHERE tenant_id = NEW.tenant_id AND user_id = NEW.id AND revoked_at IS NULL;
  RETURN NULL;
END
$$;
CREATE TRIGGER users_deactivated_end_sessions
  AFTER UPDATE OF active ON users
  FOR EACH ROW WHEN (OLD.active AND NOT NEW.active)
  EXECUTE FUNCTION user_deactivated_ends_sessions();

-- The account team's manager override: the person a customer's escalations go to instead of its
-- CSM's manager. A user of the customer's tenant (AE, SA and executive sponsor stay emails in
-- account_team: they are often not renewflow users).
ALTER TABLE customers
  ADD COLUMN manager_override_id uuid,
  ADD CONSTRAINT customers_manager_override_in_tenant
    FOREIGN KEY (tenant_id, manager_override_id) REFERENCES users(tenant_id, id)
    ON DELETE SET NULL (manager_override_id);
CREATE INDEX customers_tenant_manager_override ON customers (tenant_id, manager_override_id)
  WHERE manager_override_id IS NOT NULL;

-- Who a customer's escalations go to (templates: csm.manager): the manager override if it is an
-- active user, else the nearest active manager up the CSM's chain (a deactivated manager is
-- passed over, not written to). NULL when there is none. SECURITY INVOKER: row-level security as
-- for the caller.
CREATE FUNCTION escalation_manager(p_tenant_id uuid, p_override_id uuid, p_csm_id uuid)
  RETURNS uuid
  LANGUAGE sql STABLE
  AS $$
  SELECT coalesce(
    (SELECT o.id FROM users o WHERE o.tenant_id = p_tenant_id AND o.id = p_override_id AND o.active),
    (WITH RECURSIVE chain (id, depth) AS (
       SELECT c.manager_id, 1 FROM users c WHERE c.tenant_id = p_tenant_id AND c.id = p_csm_id
       UNION ALL
       SELECT m.manager_id, chain.depth + 1
       FROM chain JOIN users m ON m.tenant_id = p_tenant_id AND m.id = chain.id
       WHERE NOT m.active AND chain.depth < 100
     )
     SELECT u.id FROM chain JOIN users u ON u.tenant_id = p_tenant_id AND u.id = chain.id
     WHERE u.active ORDER BY chain.depth LIMIT 1))
$$;
GRANT EXECUTE ON FUNCTION escalation_manager(uuid, uuid, uuid) TO renewflow_app, renewflow_service;
