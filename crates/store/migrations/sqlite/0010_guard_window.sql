-- The deprovisioning guard weighs a window of time, not one run (core::guard).
--
-- Every queued operation says whether it takes access away (`loss`) and, for a loss, why it was
-- let through: NULL within the window's limits, 'approved:<plan>' by an admin's approval of a
-- held plan (not counted), 'admin' by an admin's explicit act on a named person (counted).
ALTER TABLE operations ADD COLUMN loss BIGINT NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN guard_release TEXT;
UPDATE operations SET loss = 1
 WHERE kind IN ('deactivate', 'delete') OR (kind = 'change_license' AND body LIKE '%"license":null%');
-- The window's tally reads a tenant's recent losses.
CREATE INDEX operations_losses ON operations (tenant_id, loss, created_ms);
-- A plan is not queued for a pair whose operation settled after the plan read the app.
CREATE INDEX operations_settled ON operations (tenant_id, updated_ms);

-- A held plan is a hold in force over one app (its id) or the whole tenant ('*').
ALTER TABLE plans ADD COLUMN hold_scope TEXT;

-- The losses a held plan holds, one row per (app, person): a held loss stays held whatever else
-- happens to its person, until the plan is decided. After a decision the rows say what was
-- decided: approved rows are carried out when their person is next planned, rejected rows keep
-- the loss from being due until the person changes in the source (`fingerprint`).
CREATE TABLE held_losses (
    tenant_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    plan_id TEXT NOT NULL REFERENCES plans(id),
    body TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    held_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, app_id, person_id)
);
CREATE INDEX held_losses_plan ON held_losses (tenant_id, plan_id);

-- One row per tenant, written first by every guarded write: the write lock (SQLite) or the row
-- lock (PostgreSQL) makes the guard's read, decision and write one step, whoever else writes.
-- `limits` holds the tenant-wide guard's settings (JSON; NULL for the defaults).
CREATE TABLE guard_state (
    tenant_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    limits TEXT
);

-- Plans held or approved under the old guard held whole plans: they become holds over the whole
-- tenant, holding (or, once approved, releasing) exactly their losses.
UPDATE plans SET hold_scope = '*' WHERE status IN ('held', 'approved');
INSERT INTO held_losses (tenant_id, app_id, person_id, plan_id, body, fingerprint, held_ms)
SELECT o.tenant_id, o.app_id, o.person_id, o.plan_id, o.body, '', o.created_ms
  FROM operations o JOIN plans p ON p.id = o.plan_id
 WHERE p.status IN ('held', 'approved') AND o.loss = 1
 ORDER BY o.created_ms DESC
ON CONFLICT (tenant_id, app_id, person_id) DO NOTHING;
