-- The front hall (issue 14): admins with roles, tokens that belong to an admin and expire,
-- versions on apps and sources so concurrent edits are detected (ETag / If-Match), disabled
-- apps, removed sources.
--
-- An admin is a person who administers one tenant, with one role (org-admin, app-admin,
-- license-admin, auditor); an app admin's apps are listed by id in `apps` (JSON), so a removed
-- app stops counting and a new app of the same name is not theirs. The password is an argon2id
-- PHC string, or NULL for an admin who signs in only with tokens.
CREATE TABLE admins (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    apps TEXT NOT NULL DEFAULT '[]',
    password_hash TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, email)
);

-- A token acts as its admin (with the admin's role); a token without an admin is an older
-- `--scope admin` token (org admin) or a SCIM token. Removing an admin removes their tokens.
ALTER TABLE tokens ADD COLUMN admin_id TEXT REFERENCES admins(id) ON DELETE CASCADE;
ALTER TABLE tokens ADD COLUMN expires_ms BIGINT;
ALTER TABLE tokens ADD COLUMN last_used_ms BIGINT;
CREATE INDEX tokens_tenant ON tokens (tenant_id, created_ms);

-- Every change to an app's row (settings, URL, credentials, disabling) adds one to `version`:
-- edits are compare-and-set on it, and its value is the app's ETag.
ALTER TABLE apps ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE apps ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;

ALTER TABLE sources ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
-- A removed source whose people are kept as leavers (their accounts link to them) stays as a
-- row under another name; it is read by nothing.
ALTER TABLE sources ADD COLUMN removed_ms BIGINT;
