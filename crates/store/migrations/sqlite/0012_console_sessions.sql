-- The web console (issue 15): an admin signed in with their password holds a session. The
-- browser keeps a random id in a cookie; only its SHA-256 hash is stored, so a copy of the
-- database opens no session. A session ends when it has been idle too long, at its absolute
-- end, at sign-out, or with its admin (the lookup joins the admin, so a removed admin's session
-- is gone and a changed role applies at the next request).
--
-- `csrf` is the session's anti-forgery token, echoed in every form: only a page of the console
-- can know it, so a form posted from another site is refused.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    admin_id TEXT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX console_sessions_admin ON console_sessions (tenant_id, admin_id);
