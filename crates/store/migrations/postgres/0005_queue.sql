-- The durable queue: operations are claimed with a lease, retried after `not_before_ms`, and run
-- in `queue_seq` order per (app, person).
CREATE SEQUENCE operations_queue_seq;
ALTER TABLE operations ADD COLUMN queue_seq BIGINT NOT NULL DEFAULT nextval('operations_queue_seq');
ALTER TABLE operations ADD COLUMN not_before_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN lease_owner TEXT;
ALTER TABLE operations ADD COLUMN lease_until_ms BIGINT;
CREATE INDEX operations_ready ON operations (tenant_id, status, not_before_ms, queue_seq);
CREATE INDEX operations_pair ON operations (app_id, person_id, status, queue_seq);

-- What changed and must be planned: a person (app_id '' = every app), an app (person_id '' =
-- everyone), or one pair. Marks coalesce: marking twice keeps one row with the newest time.
CREATE TABLE dirty (
    tenant_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    marked_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, app_id, person_id)
);

-- An app whose operations keep failing is paused (quarantined) until `paused_until_ms`.
CREATE TABLE app_health (
    app_id TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    failures BIGINT NOT NULL,
    paused_until_ms BIGINT,
    last_error TEXT,
    updated_ms BIGINT NOT NULL
);
