-- Exclusions and assignment parameters (role, license tier); rule targets need no change.
ALTER TABLE assignments ADD COLUMN exclude BIGINT NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN params TEXT NOT NULL DEFAULT '{}';
-- When Tenure deactivated an account (ISO date), for "deactivate, then delete after N days".
ALTER TABLE accounts ADD COLUMN deactivated_on TEXT;
-- The assignment that last granted the account, so losing it can be explained.
ALTER TABLE accounts ADD COLUMN granted_by TEXT;
