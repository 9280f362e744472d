-- OAuth 2.0 authorization-code grants (RFC 6749 §4.1 with PKCE, RFC 7636) for apps whose API
-- wants a user-consented token. See crates/store/src/oauth.rs.
--
-- A pending authorization lives from "Verify" until the admin comes back to the callback (10
-- minutes at most) and is used once. Its `state` is a bearer secret, so only its SHA-256 is
-- stored; the PKCE verifier is sealed like an app secret (crates/store/src/crypto.rs), bound to
-- the tenant and the state's hash.
CREATE TABLE oauth_authorizations (
    state_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL REFERENCES apps(id),
    verifier TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms BIGINT
);
CREATE INDEX oauth_authorizations_created ON oauth_authorizations (created_ms);

-- The tokens an authorization granted, one grant per app, sealed like app secrets. `version`
-- grows with every refresh, so a refresh is claimed and saved by compare-and-set (several
-- workers or nodes share one rotating refresh token). `revoked_ms` is set when the
-- authorization server refuses the refresh token (invalid_grant): the app must be re-authorized.
CREATE TABLE app_oauth_grants (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL REFERENCES apps(id),
    access_token TEXT NOT NULL,
    refresh_token TEXT,
    expires_ms BIGINT,
    scope TEXT,
    version BIGINT NOT NULL,
    refresh_claim_until_ms BIGINT,
    revoked_ms BIGINT,
    revoked_reason TEXT,
    authorized_by TEXT NOT NULL,
    authorized_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, app_id)
);
