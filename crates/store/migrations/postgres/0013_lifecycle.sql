-- Lifecycle (issue 16): people offboarded in Tenure, notification channels and their durable
-- outbox, and the tasks of apps an admin works by hand.
--
-- An offboarding is Tenure's own word on a person, laid over what the source says: from
-- `effective` (a YYYY-MM-DD date) the person holds no account anywhere, whatever a stale source
-- still says. Undoing it (a re-hire) deletes the row; the audit log keeps the history.
CREATE TABLE offboardings (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    person_id TEXT NOT NULL,
    email TEXT NOT NULL,
    effective TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, person_id)
);

-- Where notifications go. `config` holds what is not secret (kind-specific JSON: SMTP host,
-- port, TLS mode, from, recipients; a webhook's URL without its secret parts); `secret` the
-- sealed credentials (SMTP user and password, a webhook's URL or signing key), never in clear.
CREATE TABLE notify_channels (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    config TEXT NOT NULL,
    secret TEXT,
    created_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- The outbox: one row per message and channel, written in the transaction of what caused it
-- (or right after), sent by whoever drains it (`serve`'s background work, `tenure offboard`),
-- retried with backoff, never blocking the work that caused it.
CREATE TABLE notify_outbox (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    channel_id TEXT NOT NULL REFERENCES notify_channels(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    message TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    not_before_ms BIGINT NOT NULL,
    claimed_until_ms BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    created_ms BIGINT NOT NULL,
    sent_ms BIGINT
);
CREATE INDEX notify_outbox_due ON notify_outbox (tenant_id, status, not_before_ms);

-- Manual apps' work: each operation Tenure planned for an app without a connector becomes a task
-- for the app's owner. One open task per (app, person, kind of work).
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    person_id TEXT NOT NULL,
    person TEXT NOT NULL,
    assignee TEXT NOT NULL,
    op TEXT NOT NULL,
    body TEXT NOT NULL,
    text TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    closed_ms BIGINT,
    closed_by TEXT,
    note TEXT
);
CREATE INDEX tasks_tenant ON tasks (tenant_id, status, created_ms);
