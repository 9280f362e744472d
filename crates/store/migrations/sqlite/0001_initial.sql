CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    scope TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    label TEXT,
    created_ms BIGINT NOT NULL
);

CREATE TABLE sources (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    config TEXT NOT NULL,
    last_sync_ms BIGINT,
    last_count BIGINT,
    UNIQUE (tenant_id, name)
);

CREATE TABLE people (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    source_id TEXT NOT NULL REFERENCES sources(id),
    source_key TEXT NOT NULL,
    user_name TEXT NOT NULL,
    email TEXT NOT NULL,
    given_name TEXT,
    family_name TEXT,
    display_name TEXT,
    department TEXT,
    title TEXT,
    employee_id TEXT,
    manager_key TEXT,
    org_unit TEXT,
    status TEXT NOT NULL,
    start_date TEXT,
    leave_date TEXT,
    custom TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, source_id, source_key)
);
CREATE INDEX people_email ON people (tenant_id, email);

CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    source_id TEXT NOT NULL REFERENCES sources(id),
    name TEXT NOT NULL,
    UNIQUE (tenant_id, source_id, name)
);

CREATE TABLE group_members (
    tenant_id TEXT NOT NULL,
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, person_id)
);

CREATE TABLE group_nesting (
    tenant_id TEXT NOT NULL,
    parent_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    child_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    PRIMARY KEY (parent_id, child_id)
);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    base_url TEXT NOT NULL,
    secret TEXT NOT NULL,
    config TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE assignments (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    target_kind TEXT NOT NULL,
    target TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, app_id, target_kind, target)
);

CREATE TABLE accounts (
    tenant_id TEXT NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    remote_id TEXT NOT NULL,
    person_id TEXT NOT NULL REFERENCES people(id),
    origin TEXT NOT NULL,
    user_name TEXT NOT NULL,
    active BIGINT NOT NULL,
    attributes TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, remote_id)
);
CREATE INDEX accounts_person ON accounts (tenant_id, person_id);

CREATE TABLE plans (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    created_ms BIGINT NOT NULL,
    status TEXT NOT NULL,
    summary TEXT NOT NULL
);

CREATE TABLE operations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    plan_id TEXT NOT NULL REFERENCES plans(id),
    seq BIGINT NOT NULL,
    app_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    remote_id TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX operations_plan ON operations (tenant_id, plan_id, seq);

CREATE TABLE audit (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_tenant ON audit (tenant_id, at_ms);

-- The audit log is append-only, enforced by the database itself.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
