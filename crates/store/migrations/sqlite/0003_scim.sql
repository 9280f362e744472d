-- Resources pushed by an identity provider over SCIM (Tenure as a SCIM service provider).
-- A SCIM user's id is the id of the person it feeds (source kind `scim`), a SCIM group's id that
-- of the directory group, so the directory mirror needs no mapping table.
-- `resource` holds the full JSON as stored (without `id`, `meta` and, for groups, `members`);
-- the other columns exist for lookups, uniqueness and sorting.
-- Indexes lead with the looked-up column, not tenant_id: with one large tenant an index on
-- tenant_id tempts SQLite's planner (which assumes an equality narrows to a few rows) into
-- scanning the whole tenant instead of seeking the value.
CREATE TABLE scim_users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    user_name TEXT NOT NULL,
    user_name_lc TEXT NOT NULL,
    external_id TEXT,
    display_name TEXT,
    email_lc TEXT,
    active BIGINT NOT NULL,
    resource TEXT NOT NULL,
    version TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    modified_ms BIGINT NOT NULL,
    UNIQUE (user_name_lc, tenant_id)
);
CREATE INDEX scim_users_external_id ON scim_users (external_id, tenant_id);
CREATE INDEX scim_users_email ON scim_users (email_lc, tenant_id);

-- One row per email, for `emails[type eq "work"].value eq "x"` and `emails.value co "x"`.
CREATE TABLE scim_user_emails (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES scim_users(id) ON DELETE CASCADE,
    value_lc TEXT NOT NULL,
    kind TEXT,
    is_primary BIGINT NOT NULL
);
CREATE INDEX scim_user_emails_value ON scim_user_emails (value_lc, tenant_id);
CREATE INDEX scim_user_emails_user ON scim_user_emails (user_id);

CREATE TABLE scim_groups (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    display_name_lc TEXT NOT NULL,
    external_id TEXT,
    resource TEXT NOT NULL,
    version TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    modified_ms BIGINT NOT NULL
);
CREATE INDEX scim_groups_display_name ON scim_groups (display_name_lc, tenant_id);
CREATE INDEX scim_groups_external_id ON scim_groups (external_id, tenant_id);

-- Members of a SCIM group: users or (nested) groups of the same tenant.
CREATE TABLE scim_members (
    tenant_id TEXT NOT NULL,
    group_id TEXT NOT NULL REFERENCES scim_groups(id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    member_type TEXT NOT NULL,
    display TEXT,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX scim_members_member ON scim_members (member_id, tenant_id);
