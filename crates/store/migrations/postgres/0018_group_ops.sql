-- An in-app group change is queued like any operation, and runs only after the operations still
-- queued for the people it adds (their creates): one row per (group operation, member's pair).
CREATE TABLE operation_after (
    operation_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    PRIMARY KEY (operation_id, person_id)
);

-- Event channels of cloud sources (Google `users.watch` channels, Graph subscriptions): what a
-- notification is checked against. The channel's secret (Google's channel token, Graph's
-- clientState) is kept only as its SHA-256.
CREATE TABLE source_channels (
    tenant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    resource_id TEXT,
    address TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, channel_id)
);
CREATE INDEX source_channels_source ON source_channels (tenant_id, source_id);
