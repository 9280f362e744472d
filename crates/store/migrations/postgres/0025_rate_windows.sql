-- Requests counted against an app's budgets over long windows (DocuSign's 3,000 an hour,
-- HubSpot's 250,000 a day), one row per slot of a sixtieth of the window: every node counts
-- here, so the deployment keeps the budget together, and a restart does not forget the day.
-- `bucket` is the app's rate bucket (its rate group, else its id); slots older than a window
-- are deleted as new ones are counted.
CREATE TABLE rate_windows (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    bucket TEXT NOT NULL,
    window_s BIGINT NOT NULL,
    slot BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, bucket, window_s, slot)
);
