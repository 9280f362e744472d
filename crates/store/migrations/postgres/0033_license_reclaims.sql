-- License reclaims: a managed account unused for its pool's days is asked "still needed?"; the
-- answer (keep / release, through a signed link) or the deadline settles the row once. One open
-- question per account: a second reclaim run does not ask again while one stands.
CREATE TABLE license_reclaims (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    tier TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    person_id TEXT NOT NULL,
    email TEXT NOT NULL,
    unused_days BIGINT NOT NULL,
    last_active TEXT NOT NULL,
    asked_ms BIGINT NOT NULL,
    deadline_ms BIGINT NOT NULL,
    state TEXT NOT NULL,
    answered_ms BIGINT NOT NULL,
    answered_by TEXT NOT NULL
);
CREATE INDEX license_reclaims_due ON license_reclaims (tenant_id, state, deadline_ms);
CREATE UNIQUE INDEX license_reclaims_one_open ON license_reclaims (app_id, remote_id) WHERE state = 'asked';
