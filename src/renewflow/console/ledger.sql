-- The ledger screen's own reads (the ledger's are renewflow.ledger's), in the admin's tenant.

-- name: tenant_name
SELECT name FROM tenants WHERE id = current_tenant_id();
