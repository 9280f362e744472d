-- What a saved plan read of an app whose user list may be read in full only so often (Adobe's
-- lock-out: `min_list_interval_s`). `tenure apply --plan ID` checks a saved plan against the app's
-- live state before it queues anything; inside the interval the list may not be read again, so
-- the check re-plans from the accounts the saved plan read, with Tenure's own writes to the app
-- since then counted as changes. `accounts` is the JSON list of the accounts as read.
CREATE TABLE plan_reads (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    plan_id TEXT NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    read_at_ms BIGINT NOT NULL,
    accounts TEXT NOT NULL,
    PRIMARY KEY (plan_id, app_id)
);
