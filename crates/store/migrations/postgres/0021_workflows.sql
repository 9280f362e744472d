-- Lifecycle workflows (issue 16): per-tenant workflows fired by dates and events, their runs
-- with a step cursor, each step's record, and the tenant's timezone that dates act in.

-- Tenant-wide settings an admin sets; a tenant without a row acts in UTC.
CREATE TABLE tenant_settings (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    timezone TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- A workflow: its trigger and ordered steps as JSON (`definition`). `created_day` (the tenant's
-- local day it was made) bounds date triggers: a workflow fires for dates from that day on,
-- never for every leave date in the directory's past.
CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_day TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- One run of a workflow for one person and one occasion ("leave-date 2026-03-10"): the unique
-- key makes firing idempotent, whoever fires and however often. A run keeps the definition it
-- started with; `cursor` is the step to run next, moved only by compare-and-set.
CREATE TABLE workflow_runs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    workflow_id TEXT NOT NULL,
    workflow TEXT NOT NULL,
    person_id TEXT NOT NULL,
    person TEXT NOT NULL,
    manager TEXT,
    occasion TEXT NOT NULL,
    definition TEXT NOT NULL,
    status TEXT NOT NULL,
    cursor BIGINT NOT NULL,
    not_before_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, workflow_id, person_id, occasion)
);
CREATE INDEX workflow_runs_due ON workflow_runs (tenant_id, status, not_before_ms);
CREATE INDEX workflow_runs_person ON workflow_runs (tenant_id, person, created_ms);

-- A step of a run, inserted when the step is claimed: the primary key is the claim, so a step
-- runs at most once.
CREATE TABLE workflow_steps (
    run_id TEXT NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    idx BIGINT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT,
    approver TEXT,
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT,
    reminded_ms BIGINT,
    PRIMARY KEY (run_id, idx)
);

-- What change triggers compare with: a person's department, org unit and manager as last seen.
CREATE TABLE workflow_facts (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    person_id TEXT NOT NULL,
    facts TEXT NOT NULL,
    seen_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, person_id)
);
