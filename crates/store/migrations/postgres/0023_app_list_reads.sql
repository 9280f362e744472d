-- When each app's user list was last read in full, for apps whose vendor penalises reading it
-- from the start too often (Adobe's User Management API delays an integration for over half an
-- hour): every node claims a full read here first, so the deployment as a whole keeps the
-- app's minimum interval.
CREATE TABLE app_list_reads (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    read_at_ms BIGINT NOT NULL
);
