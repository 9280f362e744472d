-- Accounts an admin has looked at and declared: `external` (a contractor, a partner, a service
-- account: known and accepted, not an orphan to chase). One mark per account; the audit log keeps
-- the history of marks set and cleared.
CREATE TABLE account_marks (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    remote_id TEXT NOT NULL,
    mark TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, remote_id)
);
CREATE INDEX account_marks_tenant ON account_marks (tenant_id, app_id);
