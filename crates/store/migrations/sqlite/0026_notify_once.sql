-- Notices that must go out at most once (issue 16): a source guard's refusal per refused
-- delivery, a task's overdue reminder and its escalation, a new starter's onboarding-ready.
-- The row is written before the notice is queued, so a retried file, a second node or the next
-- pass finds it and stays quiet.
CREATE TABLE notify_once (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    key TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
