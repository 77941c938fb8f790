DROP FUNCTION escalation_manager(uuid, uuid, uuid);
DROP INDEX customers_tenant_manager_override;
ALTER TABLE customers
  DROP CONSTRAINT customers_manager_override_in_tenant,
  DROP COLUMN manager_override_id;

DROP TRIGGER users_deactivated_end_sessions ON users;
DROP FUNCTION user_deactivated_ends_sessions();
DROP TRIGGER users_role_to_keys ON users;
DROP FUNCTION user_role_to_keys();

DROP INDEX users_tenant_manager;
DROP TRIGGER users_manager_no_cycle ON users;
DROP FUNCTION user_manager_chain_has_no_cycle();

DROP TRIGGER users_time_zone_known ON users;
DROP FUNCTION user_time_zone_is_known();
ALTER TABLE users DROP COLUMN time_zone;
