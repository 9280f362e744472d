-- Several nodes on one database (issue 18). A duty (the source schedule, the periodic
-- reconciliation) runs on one node at a time: the holder of its lease row. A takeover bumps
-- `term`; writes made under a duty check their term in their own transaction (fencing), so a
-- holder that stalled past its lease cannot write after its successor started.
-- `last_run_ms` is when the duty's periodic work was last done, so a new holder keeps the
-- deployment's rhythm instead of starting its own.
CREATE TABLE duty_leases (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    duty TEXT NOT NULL,
    holder TEXT NOT NULL,
    term BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    last_run_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, duty)
);

-- One request budget per app or vendor org for the whole deployment (GCRA): `next_free_us` is
-- the time of the next unreserved request slot; a node reserves a slice of slots by moving it
-- forward in one statement. `held_until_ms` is an app's 429 Retry-After, which every node obeys.
CREATE TABLE rate_budgets (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    bucket TEXT NOT NULL,
    next_free_us BIGINT NOT NULL,
    held_until_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, bucket)
);
