//! OAuth 2.0 authorization-code grants (RFC 6749 §4.1, <https://datatracker.ietf.org/doc/html/rfc6749#section-4.1>,
//! with PKCE, RFC 7636): the authorizations an admin started and has not finished yet, and the
//! tokens a finished one granted.
//!
//! - A pending authorization is found by its `state` (§10.12: the client's CSRF defence), which
//!   is a bearer secret in a URL, so only its SHA-256 is stored; it is used once and lives ten
//!   minutes at most (the caller picks the lifetime).
//! - The PKCE `code_verifier` and the granted tokens are sealed like app secrets (`crypto.rs`),
//!   bound to their tenant and row, and re-sealed by [`Store::rotate_keys`].
//! - Refresh tokens may rotate on every refresh (RFC 6749 §6; OAuth 2.0 Security BCP, RFC 9700
//!   §4.14.2): an old one presented again may revoke the whole grant. So a refresh is claimed
//!   for a short lease by compare-and-set on the grant's `version`, and its result is saved the
//!   same way: two workers, or two nodes, never spend the same refresh token.

use ring::digest::{SHA256, digest};
use tenure_core::{AppId, Secret, TenantId};

use crate::crypto::{Binding, StoredForm};
use crate::row::*;
use crate::{KeyRotation, KeyStatus, Store, StoreError, now_ms};

const VERIFIER: &str = "oauth_authorizations.verifier";
const ACCESS_TOKEN: &str = "app_oauth_grants.access_token";
const REFRESH_TOKEN: &str = "app_oauth_grants.refresh_token";

/// Pending authorizations older than this are deleted when a new one is started: long past
/// their expiry, kept a while only so a late callback is told "expired" rather than "unknown".
const PENDING_KEPT_MS: i64 = 24 * 3600 * 1000;

/// The SHA-256 of a `state`, hex: what is stored and looked up.
fn state_hash(state: &str) -> String {
    digest(&SHA256, state.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// An authorization an admin started: what the callback needs to finish it.
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    pub tenant: TenantId,
    pub app_id: AppId,
    /// The PKCE `code_verifier` (RFC 7636 §4.1), sent with the code.
    pub verifier: Secret,
    /// The `redirect_uri` the authorization request named; the token request must repeat it
    /// (RFC 6749 §4.1.3).
    pub redirect_uri: String,
    /// Who started it (audit).
    pub actor: String,
    pub expires_ms: i64,
}

/// Why a callback's `state` is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateRefusal {
    /// No authorization was started with this state (forged, or from another server).
    Unknown,
    /// The state was already used: a replayed or double-submitted callback.
    AlreadyUsed { tenant: TenantId, app_id: AppId },
    /// Started more than its lifetime ago.
    Expired { tenant: TenantId, app_id: AppId },
}

/// Tokens to store for an app's grant.
#[derive(Debug, Clone)]
pub struct GrantTokens {
    pub access_token: Secret,
    /// Absent when the authorization server issues none (the grant then ends with the access
    /// token).
    pub refresh_token: Option<Secret>,
    /// When the access token expires, in ms since the epoch; `None` when the server did not say.
    pub expires_ms: Option<i64>,
    /// The scope granted, when the server said (RFC 6749 §5.1).
    pub scope: Option<String>,
}

/// An app's grant as stored.
#[derive(Debug, Clone)]
pub struct OauthGrant {
    pub tokens: GrantTokens,
    /// Grows with every save; claims and saves compare it.
    pub version: i64,
    /// Someone is refreshing until then.
    pub refresh_claim_until_ms: Option<i64>,
    /// Set when the authorization server refused the refresh token: re-authorize the app.
    pub revoked_ms: Option<i64>,
    pub revoked_reason: Option<String>,
    pub authorized_by: String,
    pub authorized_ms: i64,
    pub updated_ms: i64,
}

fn binding<'a>(purpose: &'a str, tenant: &'a str, row: &'a str) -> Binding<'a> {
    Binding { purpose, tenant, row }
}

impl Store {
    fn seal_as(
        &self,
        purpose: &str,
        tenant: &str,
        row: &str,
        what: &str,
        secret: &Secret,
    ) -> Result<String, StoreError> {
        self.keyring
            .seal(binding(purpose, tenant, row), secret)
            .map(crate::crypto::Sealed::into_stored)
            .map_err(|source| StoreError::Credential { what: what.to_owned(), source })
    }

    fn open_as(&self, purpose: &str, tenant: &str, row: &str, what: &str, stored: &str) -> Result<Secret, StoreError> {
        self.keyring
            .open(binding(purpose, tenant, row), stored)
            .map_err(|source| StoreError::Credential { what: what.to_owned(), source })
    }

    /// Records an authorization the admin `actor` started for `app`, valid for `ttl_ms`.
    /// Returns when it expires.
    #[allow(clippy::too_many_arguments)]
    pub async fn start_oauth_authorization(
        &self,
        tenant: TenantId,
        app: AppId,
        state: &Secret,
        verifier: &Secret,
        redirect_uri: &str,
        actor: &str,
        ttl_ms: i64,
    ) -> Result<i64, StoreError> {
        let (tenant_text, hash) = (tenant.to_string(), state_hash(state.expose()));
        let sealed = self.seal_as(VERIFIER, &tenant_text, &hash, "a pending OAuth authorization", verifier)?;
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM oauth_authorizations WHERE tenant_id = $1 AND created_ms < $2")
            .bind(&tenant_text)
            .bind(now - PENDING_KEPT_MS)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_authorizations (state_hash, tenant_id, app_id, verifier, redirect_uri, actor, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&hash)
        .bind(&tenant_text)
        .bind(app.to_string())
        .bind(sealed)
        .bind(redirect_uri)
        .bind(actor)
        .bind(now)
        .bind(now + ttl_ms)
        .execute(&mut *tx)
        .await
        .map_err(crate::error::on_unique("OAuth authorization state"))?;
        tx.commit().await?;
        Ok(now + ttl_ms)
    }

    /// Uses the pending authorization `state` names: once, and only before it expires. Across
    /// tenants, like admin tokens: the state itself (256 random bits) is the proof.
    pub async fn take_oauth_authorization(
        &self,
        state: &str,
    ) -> Result<Result<PendingAuthorization, StateRefusal>, StoreError> {
        let hash = state_hash(state);
        let now = now_ms();
        // Marked used whether or not it expired, so it can be tried only once either way.
        let taken = sqlx::query(
            "UPDATE oauth_authorizations SET used_ms = $1 WHERE state_hash = $2 AND used_ms IS NULL \
             RETURNING tenant_id, app_id, verifier, redirect_uri, actor, expires_ms",
        )
        .bind(now)
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = taken else {
            let seen = sqlx::query("SELECT tenant_id, app_id FROM oauth_authorizations WHERE state_hash = $1")
                .bind(&hash)
                .fetch_optional(&self.pool)
                .await?;
            return Ok(Err(match seen {
                None => StateRefusal::Unknown,
                Some(r) => {
                    StateRefusal::AlreadyUsed { tenant: parsed(&r, "tenant_id")?, app_id: parsed(&r, "app_id")? }
                }
            }));
        };
        let (tenant, app_id): (TenantId, AppId) = (parsed(&row, "tenant_id")?, parsed(&row, "app_id")?);
        let expires_ms = int(&row, "expires_ms")?;
        if now >= expires_ms {
            return Ok(Err(StateRefusal::Expired { tenant, app_id }));
        }
        let verifier = self.open_as(
            VERIFIER,
            &tenant.to_string(),
            &hash,
            "a pending OAuth authorization",
            &text(&row, "verifier")?,
        )?;
        Ok(Ok(PendingAuthorization {
            tenant,
            app_id,
            verifier,
            redirect_uri: text(&row, "redirect_uri")?,
            actor: text(&row, "actor")?,
            expires_ms,
        }))
    }

    /// Stores the tokens a finished authorization granted, replacing any earlier grant (a
    /// re-authorization) and clearing its revocation.
    pub async fn put_oauth_grant(
        &self,
        tenant: TenantId,
        app: AppId,
        tokens: &GrantTokens,
        authorized_by: &str,
    ) -> Result<(), StoreError> {
        let (tenant_text, app_text) = (tenant.to_string(), app.to_string());
        let (access, refresh) = self.seal_tokens(&tenant_text, &app_text, tokens)?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO app_oauth_grants (tenant_id, app_id, access_token, refresh_token, expires_ms, scope, version, \
             refresh_claim_until_ms, revoked_ms, revoked_reason, authorized_by, authorized_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, NULL, NULL, NULL, $7, $8, $8) \
             ON CONFLICT (tenant_id, app_id) DO UPDATE SET access_token = excluded.access_token, \
             refresh_token = excluded.refresh_token, expires_ms = excluded.expires_ms, scope = excluded.scope, \
             version = app_oauth_grants.version + 1, refresh_claim_until_ms = NULL, revoked_ms = NULL, \
             revoked_reason = NULL, authorized_by = excluded.authorized_by, authorized_ms = excluded.authorized_ms, \
             updated_ms = excluded.updated_ms",
        )
        .bind(&tenant_text)
        .bind(&app_text)
        .bind(access)
        .bind(refresh)
        .bind(tokens.expires_ms)
        .bind(tokens.scope.as_deref())
        .bind(authorized_by)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    fn seal_tokens(
        &self,
        tenant: &str,
        app: &str,
        tokens: &GrantTokens,
    ) -> Result<(String, Option<String>), StoreError> {
        let what = format!("the OAuth grant of app {app}");
        let access = self.seal_as(ACCESS_TOKEN, tenant, app, &what, &tokens.access_token)?;
        let refresh =
            tokens.refresh_token.as_ref().map(|r| self.seal_as(REFRESH_TOKEN, tenant, app, &what, r)).transpose()?;
        Ok((access, refresh))
    }

    /// The app's grant, if it was ever authorized.
    pub async fn oauth_grant(&self, tenant: TenantId, app: AppId) -> Result<Option<OauthGrant>, StoreError> {
        let (tenant_text, app_text) = (tenant.to_string(), app.to_string());
        // The writer pool: a refresh just saved by this process must be seen at once.
        let row = sqlx::query(
            "SELECT access_token, refresh_token, expires_ms, scope, version, refresh_claim_until_ms, revoked_ms, \
             revoked_reason, authorized_by, authorized_ms, updated_ms FROM app_oauth_grants \
             WHERE tenant_id = $1 AND app_id = $2",
        )
        .bind(&tenant_text)
        .bind(&app_text)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let what = format!("the OAuth grant of app {app_text}");
        let access_token = self.open_as(ACCESS_TOKEN, &tenant_text, &app_text, &what, &text(&r, "access_token")?)?;
        let refresh_token = opt_text(&r, "refresh_token")?
            .map(|s| self.open_as(REFRESH_TOKEN, &tenant_text, &app_text, &what, &s))
            .transpose()?;
        Ok(Some(OauthGrant {
            tokens: GrantTokens {
                access_token,
                refresh_token,
                expires_ms: opt_int(&r, "expires_ms")?,
                scope: opt_text(&r, "scope")?,
            },
            version: int(&r, "version")?,
            refresh_claim_until_ms: opt_int(&r, "refresh_claim_until_ms")?,
            revoked_ms: opt_int(&r, "revoked_ms")?,
            revoked_reason: opt_text(&r, "revoked_reason")?,
            authorized_by: text(&r, "authorized_by")?,
            authorized_ms: int(&r, "authorized_ms")?,
            updated_ms: int(&r, "updated_ms")?,
        }))
    }

    /// Claims the refresh of the grant at `version` for `lease_ms`. False when the grant moved
    /// on (someone refreshed it) or someone else holds an unexpired claim.
    pub async fn claim_oauth_refresh(
        &self,
        tenant: TenantId,
        app: AppId,
        version: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE app_oauth_grants SET refresh_claim_until_ms = $1 WHERE tenant_id = $2 AND app_id = $3 \
             AND version = $4 AND revoked_ms IS NULL AND (refresh_claim_until_ms IS NULL OR refresh_claim_until_ms < $5)",
        )
        .bind(now + lease_ms)
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(version)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a claim up without saving (the refresh failed in a way another try may fix).
    pub async fn release_oauth_refresh(&self, tenant: TenantId, app: AppId, version: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE app_oauth_grants SET refresh_claim_until_ms = NULL WHERE tenant_id = $1 AND app_id = $2 AND version = $3",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(version)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Saves refreshed tokens over the grant at `version` (and ends the claim). False when the
    /// grant changed meanwhile (re-authorized): the refreshed tokens are then dropped.
    pub async fn save_refreshed_oauth_grant(
        &self,
        tenant: TenantId,
        app: AppId,
        version: i64,
        tokens: &GrantTokens,
    ) -> Result<bool, StoreError> {
        let (tenant_text, app_text) = (tenant.to_string(), app.to_string());
        let (access, refresh) = self.seal_tokens(&tenant_text, &app_text, tokens)?;
        let done = sqlx::query(
            "UPDATE app_oauth_grants SET access_token = $1, refresh_token = $2, expires_ms = $3, \
             scope = COALESCE($4, scope), version = version + 1, refresh_claim_until_ms = NULL, updated_ms = $5 \
             WHERE tenant_id = $6 AND app_id = $7 AND version = $8 AND revoked_ms IS NULL",
        )
        .bind(access)
        .bind(refresh)
        .bind(tokens.expires_ms)
        .bind(tokens.scope.as_deref())
        .bind(now_ms())
        .bind(&tenant_text)
        .bind(&app_text)
        .bind(version)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks the grant at `version` revoked: the authorization server no longer honours it.
    /// False when the grant changed meanwhile (a new authorization is not revoked by an old
    /// refusal).
    pub async fn revoke_oauth_grant(
        &self,
        tenant: TenantId,
        app: AppId,
        version: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE app_oauth_grants SET revoked_ms = $1, revoked_reason = $2, refresh_claim_until_ms = NULL, \
             version = version + 1, updated_ms = $1 WHERE tenant_id = $3 AND app_id = $4 AND version = $5",
        )
        .bind(now)
        .bind(reason)
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(version)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Counts the sealed OAuth values (grant tokens, pending verifiers) by stored form.
    pub(crate) async fn oauth_key_status(&self, status: &mut KeyStatus) -> Result<(), StoreError> {
        let grants = sqlx::query("SELECT app_id, access_token, refresh_token FROM app_oauth_grants")
            .fetch_all(&self.pool)
            .await?;
        let pending = sqlx::query("SELECT state_hash, verifier FROM oauth_authorizations WHERE used_ms IS NULL")
            .fetch_all(&self.pool)
            .await?;
        let mut count = |stored: &str, what: &dyn Fn() -> String| -> Result<(), StoreError> {
            let form = StoredForm::of(stored).map_err(|source| StoreError::Credential { what: what(), source })?;
            *status.counts.entry(form).or_default() += 1;
            Ok(())
        };
        for r in &grants {
            let app = text(r, "app_id")?;
            let what = || format!("the OAuth grant of app {app}");
            count(&text(r, "access_token")?, &what)?;
            if let Some(refresh) = opt_text(r, "refresh_token")? {
                count(&refresh, &what)?;
            }
        }
        for r in &pending {
            count(&text(r, "verifier")?, &|| "a pending OAuth authorization".to_owned())?;
        }
        Ok(())
    }

    /// Re-seals the grant tokens and pending verifiers under the current key, inside the
    /// rotation's transaction.
    pub(crate) async fn rotate_oauth_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        done: &mut KeyRotation,
        only_plain: bool,
    ) -> Result<(), StoreError> {
        let grants = sqlx::query(
            "SELECT tenant_id, app_id, access_token, refresh_token FROM app_oauth_grants ORDER BY tenant_id, app_id",
        )
        .fetch_all(&mut **tx)
        .await?;
        for r in &grants {
            let (tenant, app) = (text(r, "tenant_id")?, text(r, "app_id")?);
            let what = format!("the OAuth grant of app {app} (tenant {tenant})");
            let access = text(r, "access_token")?;
            let refresh = opt_text(r, "refresh_token")?;
            let mut changed = false;
            let mut reseal = |purpose: &str, stored: &str| -> Result<String, StoreError> {
                if self.keyring.keeps(stored, only_plain) {
                    done.unchanged += 1;
                    return Ok(stored.to_owned());
                }
                changed = true;
                done.rotated += 1;
                let secret = self
                    .keyring
                    .open_for_rotation(binding(purpose, &tenant, &app), stored)
                    .map_err(|source| StoreError::Credential { what: what.clone(), source })?;
                self.seal_as(purpose, &tenant, &app, &what, &secret)
            };
            let new_access = reseal(ACCESS_TOKEN, &access)?;
            let new_refresh = refresh.as_deref().map(|s| reseal(REFRESH_TOKEN, s)).transpose()?;
            if !changed {
                continue;
            }
            // Compare-and-set: a grant refreshed meanwhile must not get its old tokens back.
            let updated = sqlx::query(
                "UPDATE app_oauth_grants SET access_token = $1, refresh_token = $2 WHERE tenant_id = $3 AND app_id = $4 \
                 AND access_token = $5 AND COALESCE(refresh_token, '') = $6",
            )
            .bind(new_access)
            .bind(new_refresh)
            .bind(&tenant)
            .bind(&app)
            .bind(&access)
            .bind(refresh.as_deref().unwrap_or_default())
            .execute(&mut **tx)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::Concurrent(what));
            }
        }
        let pending = sqlx::query(
            "SELECT state_hash, tenant_id, verifier FROM oauth_authorizations WHERE used_ms IS NULL ORDER BY state_hash",
        )
        .fetch_all(&mut **tx)
        .await?;
        for r in &pending {
            let (hash, tenant, stored) = (text(r, "state_hash")?, text(r, "tenant_id")?, text(r, "verifier")?);
            if self.keyring.keeps(&stored, only_plain) {
                done.unchanged += 1;
                continue;
            }
            let what = "a pending OAuth authorization";
            let verifier = self
                .keyring
                .open_for_rotation(binding(VERIFIER, &tenant, &hash), &stored)
                .map_err(|source| StoreError::Credential { what: what.to_owned(), source })?;
            let sealed = self.seal_as(VERIFIER, &tenant, &hash, what, &verifier)?;
            sqlx::query("UPDATE oauth_authorizations SET verifier = $1 WHERE state_hash = $2 AND verifier = $3")
                .bind(sealed)
                .bind(&hash)
                .bind(&stored)
                .execute(&mut **tx)
                .await?;
            done.rotated += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn state_hash_is_sha256_hex() {
        // FIPS 180-2 test vector for "abc".
        assert_eq!(super::state_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
