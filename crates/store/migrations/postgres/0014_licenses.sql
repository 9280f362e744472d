-- License pools: seats of an app bought together, for the whole app (tier '') or one tier as
-- the app names it in its accounts' entitlements. Prices are exact decimals kept as text.
CREATE TABLE license_pools (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    tier TEXT NOT NULL,
    seats BIGINT NOT NULL,
    cost_per_seat TEXT NOT NULL,
    currency TEXT NOT NULL,
    period TEXT NOT NULL,
    renews TEXT,
    owner TEXT,
    unused_days BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, tier)
);
CREATE INDEX license_pools_tenant ON license_pools (tenant_id);

-- Last activity per account where the app does not tell it: uploaded by a license admin, keyed
-- by the account's userName or email, lower case.
CREATE TABLE license_activity (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_key TEXT NOT NULL,
    last_active TEXT NOT NULL,
    PRIMARY KEY (app_id, user_key)
);

-- Every account of an app as the last live license report read and classified it: what the
-- stored report counts without reading the apps again. Replaced whole per app.
CREATE TABLE license_seats (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    remote_id TEXT NOT NULL,
    tier TEXT NOT NULL,
    class TEXT NOT NULL,
    active BIGINT NOT NULL,
    -- The Julian day number, so "unused for N days" compares integers.
    last_active_day BIGINT,
    read_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, remote_id)
);
CREATE INDEX license_seats_report ON license_seats (tenant_id, app_id, tier, class, active, last_active_day);
