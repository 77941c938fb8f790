-- The customer data renewal workflows read: customers, contracts, contacts, usage, intelligence and
-- recommendations. Child rows reference (tenant_id, id) so they can never point into another tenant.

CREATE TABLE customers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  external_id varchar(255),
  name varchar(255) NOT NULL CHECK (btrim(name) <> ''),
  domain varchar(255),
  industry varchar(255),
  tier varchar(50),
  segment varchar(50),
  csm_id uuid,
  -- AE, SA, executive sponsor and the like, by role: {"ae": "ae@x.com", "sa": "sa@x.com"}.
  account_team jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(account_team) = 'object'),
  has_account_plan boolean NOT NULL DEFAULT false,
  health_score integer CHECK (health_score BETWEEN 0 AND 100),
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id),
  UNIQUE (tenant_id, external_id),
  FOREIGN KEY (tenant_id, csm_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX customers_tenant_csm ON customers (tenant_id, csm_id);
CREATE INDEX customers_tenant_name ON customers (tenant_id, lower(name));
CREATE TRIGGER customers_updated_at BEFORE UPDATE ON customers
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('customers');

CREATE TABLE contracts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  external_id varchar(255),
  start_date date,
  renewal_date date NOT NULL,
  arr numeric(14, 2) NOT NULL CHECK (arr >= 0),
  currency char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
  status varchar(20) NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'renewed', 'churned', 'cancelled', 'pending')),
  auto_renew boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (start_date IS NULL OR start_date <= renewal_date),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers(tenant_id, id) ON DELETE CASCADE
);
-- A customer renews one contract at a time: the one the trigger sweep looks at.
CREATE UNIQUE INDEX contracts_one_active_per_customer ON contracts (customer_id)
  WHERE status = 'active';
CREATE INDEX contracts_tenant_renewal ON contracts (tenant_id, renewal_date) WHERE status = 'active';
CREATE TRIGGER contracts_updated_at BEFORE UPDATE ON contracts
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('contracts');

CREATE TABLE contacts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  external_id varchar(255),
  name varchar(255) NOT NULL CHECK (btrim(name) <> ''),
  email varchar(320) CHECK (email IS NULL OR email ~ '^[^@\s]+@[^@\s]+$'),
  title varchar(255),
  -- The contact's part in the renewal: 'CFO', 'champion', 'economic_buyer', 'admin', ...
  role varchar(100),
  is_primary boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX contacts_customer ON contacts (tenant_id, customer_id);
CREATE UNIQUE INDEX contacts_one_primary ON contacts (customer_id) WHERE is_primary;
CREATE TRIGGER contacts_updated_at BEFORE UPDATE ON contacts
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('contacts');

CREATE TABLE usage_metrics (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  metric_date date NOT NULL,
  metric_name varchar(100) NOT NULL CHECK (btrim(metric_name) <> ''),
  value numeric NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (customer_id, metric_name, metric_date),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX usage_metrics_customer_date ON usage_metrics (tenant_id, customer_id, metric_date DESC);
CALL enable_tenant_rls('usage_metrics');

CREATE TABLE customer_intelligence (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  customer_id uuid NOT NULL UNIQUE,
  risk_score integer CHECK (risk_score BETWEEN 0 AND 100),
  sentiment varchar(20) CHECK (sentiment IN ('positive', 'neutral', 'negative')),
  ai_summary text,
  insights jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(insights) = 'array'),
  generated_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers(tenant_id, id) ON DELETE CASCADE
);
CREATE TRIGGER customer_intelligence_updated_at BEFORE UPDATE ON customer_intelligence
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('customer_intelligence');

CREATE TABLE recommendations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  category varchar(50) NOT NULL,
  title varchar(255) NOT NULL,
  description text,
  priority integer NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5),
  status varchar(20) NOT NULL DEFAULT 'open'
    CHECK (status IN ('open', 'accepted', 'dismissed', 'done')),
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX recommendations_customer ON recommendations (tenant_id, customer_id, status);
CREATE TRIGGER recommendations_updated_at BEFORE UPDATE ON recommendations
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('recommendations');
