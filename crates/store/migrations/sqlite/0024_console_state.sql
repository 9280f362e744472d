-- The console's state that every node of a deployment must share (issue 15): a browser's
-- requests may reach any node behind a load balancer.
--
-- Failed sign-ins, one row per failure and key ("email:..." or "address:..."), counted over a
-- window: N nodes must not grant N times the attempts. Rows older than the window are deleted
-- as new ones arrive.
CREATE TABLE sign_in_failures (
    key TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_key ON sign_in_failures (key, at_ms);

-- Long work started from the console (a sync, an apply): its page is read from whichever node
-- the browser reaches; the node running it records the outcome and a heartbeat, so a job whose
-- node died reads as interrupted rather than running for ever.
CREATE TABLE console_jobs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    admin TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    planned BIGINT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    ended_ms BIGINT
);
CREATE INDEX console_jobs_running ON console_jobs (status, heartbeat_ms);
