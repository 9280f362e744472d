-- A legal hold: a person-level "never deprovision" switch. While a row stands, nothing takes
-- access away from the person in any app (the enqueue path withholds every loss of theirs);
-- lifting it deletes the row, the audit log keeps the history.
CREATE TABLE legal_holds (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    person_id TEXT NOT NULL,
    email TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    since_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, person_id)
);

-- Who waits for a seat of a full license pool (tier '' = the whole app's pool), first in line
-- first: by the time the person first waited (the first plan after their grant), then the plan's
-- order. A person leaves the line when they get their seat or are no longer granted the app.
CREATE TABLE license_waiting (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    tier TEXT NOT NULL,
    person_id TEXT NOT NULL,
    email TEXT NOT NULL,
    since_ms BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (app_id, tier, person_id)
);
CREATE INDEX license_waiting_line ON license_waiting (tenant_id, app_id, tier, since_ms, seq);
