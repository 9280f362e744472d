//! OAuth 2.0 authorization code with PKCE, for apps whose API wants a token a person consented
//! to: RFC 6749 §4.1 (<https://datatracker.ietf.org/doc/html/rfc6749#section-4.1>) and RFC 7636
//! (<https://datatracker.ietf.org/doc/html/rfc7636>).
//!
//! - Authorization request (§4.1.1): the admin's browser goes to `authorize_url` with
//!   `response_type=code`, `client_id`, `redirect_uri`, `scope`, `state`, and PKCE's
//!   `code_challenge` with `code_challenge_method=S256` (RFC 7636 §4.3). A query the
//!   authorization endpoint already has is kept (§3.1).
//! - Token request (§4.1.3): `grant_type=authorization_code`, `code`, the same `redirect_uri`,
//!   and `code_verifier` (RFC 7636 §4.5), the client authenticated as for client credentials.
//! - Refresh (§6): `grant_type=refresh_token`, `refresh_token`; the answer may carry a new
//!   refresh token, and then the old one must be discarded. `invalid_grant` (§5.2) means the
//!   grant is over (revoked, expired, consent withdrawn): an admin must authorize again.
//!
//! The tokens live in Tenure's store, not here: [`RefreshingTokenSource`] reads them through a
//! [`GrantStore`] the engine implements, and claims every refresh there first, so several
//! workers or nodes never spend one rotating refresh token twice (RFC 9700 §4.14.2: an
//! authorization server may revoke the whole grant when an old refresh token comes back).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tenure_core::Secret;
use tokio::time::Instant;
use url::Url;

use crate::bearer::{AccessTokens, BoxFuture};
use crate::error::ConnectorError;
use crate::oauth::{OAuthConfig, refresh_at, request_token};

/// 32 random bytes, base64url without padding: 43 characters, inside RFC 7636 §4.1's 43..=128
/// and its unreserved alphabet; 256 bits also make `state` unguessable (RFC 6749 §10.10).
fn random_token() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(URL_SAFE_NO_PAD.encode(bytes))
}

/// A new `state` for an authorization request.
pub fn new_state() -> Secret {
    random_token()
}

/// A PKCE pair (RFC 7636 §4.1, §4.2): the verifier stays with Tenure, the challenge goes to the
/// authorization server.
pub struct Pkce {
    pub verifier: Secret,
    pub challenge: String,
}

impl Pkce {
    pub fn generate() -> Self {
        let verifier = random_token();
        let challenge = s256_challenge(verifier.expose());
        Self { verifier, challenge }
    }
}

/// `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// An app's authorization server, for the authorization-code grant.
#[derive(Debug, Clone)]
pub struct AuthorizationCodeConfig {
    pub authorize_url: Url,
    /// Token endpoint, client id and secret, scope, client authentication.
    pub client: OAuthConfig,
}

impl AuthorizationCodeConfig {
    pub fn new(authorize_url: &str, client: OAuthConfig) -> Result<Self, ConnectorError> {
        let url = Url::parse(authorize_url.trim())
            .map_err(|e| ConnectorError::Config(format!("OAuth authorization URL {authorize_url:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConnectorError::Config(format!(
                "OAuth authorization URL {authorize_url:?} must be an http(s) URL"
            )));
        }
        // §3.1: the endpoint URI must not include a fragment.
        if url.fragment().is_some() {
            return Err(ConnectorError::Config(format!(
                "OAuth authorization URL {authorize_url:?} must not have a fragment"
            )));
        }
        Ok(Self { authorize_url: url, client })
    }

    /// Where to send the admin's browser (§4.1.1).
    pub fn authorization_url(&self, redirect_uri: &str, state: &Secret, code_challenge: &str) -> Url {
        let mut url = self.authorize_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client.client_id)
                .append_pair("redirect_uri", redirect_uri);
            if let Some(scope) = &self.client.scope {
                query.append_pair("scope", scope);
            }
            query
                .append_pair("state", state.expose())
                .append_pair("code_challenge", code_challenge)
                .append_pair("code_challenge_method", "S256");
        }
        url
    }

    /// Exchanges the code the callback received for tokens (§4.1.3, RFC 7636 §4.5).
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &Secret,
        timeout: Duration,
    ) -> Result<GrantedTokens, ConnectorError> {
        let http = crate::oauth::http_client(timeout)?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.expose()),
        ];
        let issued = request_token(&http, &self.client, &[], &form).await?;
        tracing::debug!(token_url = %self.client.token_url, client_id = %self.client.client_id, refresh_token = issued.refresh_token.is_some(), "exchanged an OAuth authorization code");
        Ok(GrantedTokens::from_issued(issued, None))
    }
}

/// Milliseconds since the Unix epoch, the store's clock.
fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The tokens of a grant, as the store keeps them.
#[derive(Debug, Clone)]
pub struct GrantedTokens {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// When the access token expires (ms since the epoch); `None` when the server did not say.
    pub expires_at_ms: Option<i64>,
    pub scope: Option<String>,
}

impl GrantedTokens {
    /// `previous_refresh` is kept when the server issued no new refresh token (§6).
    fn from_issued(issued: crate::oauth::Issued, previous_refresh: Option<Secret>) -> Self {
        // Counted from when the request left, in wall-clock time for the store.
        let sent_ms = now_ms() - issued.started.elapsed().as_millis() as i64;
        Self {
            access_token: issued.access_token,
            refresh_token: issued.refresh_token.or(previous_refresh),
            expires_at_ms: issued.lifetime.map(|l| sent_ms.saturating_add(l.as_millis() as i64)),
            scope: issued.scope,
        }
    }
}

/// The grant as stored: its tokens, its version (for compare-and-set), whether it was revoked.
#[derive(Debug, Clone)]
pub struct StoredGrant {
    pub tokens: GrantedTokens,
    pub version: i64,
    /// Why the grant is over, when the authorization server refused it.
    pub revoked: Option<String>,
}

/// Why the store could not do what was asked; says whether trying again may help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct GrantStoreError {
    pub message: String,
    pub retryable: bool,
}

impl From<GrantStoreError> for ConnectorError {
    fn from(e: GrantStoreError) -> Self {
        ConnectorError::TokenStore { message: e.message, retryable: e.retryable }
    }
}

/// Where an app's grant is kept (the engine implements it over Tenure's store). Connectors
/// never touch the store themselves.
pub trait GrantStore: Send + Sync {
    /// The grant as stored now; `None` when the app was never authorized.
    fn load(&self) -> BoxFuture<'_, Result<Option<StoredGrant>, GrantStoreError>>;
    /// Claims the refresh of the grant at `version` for `lease`; false when another holder
    /// claimed it or the grant moved on.
    fn claim_refresh(&self, version: i64, lease: Duration) -> BoxFuture<'_, Result<bool, GrantStoreError>>;
    /// Gives the claim up without saving.
    fn release_refresh(&self, version: i64) -> BoxFuture<'_, Result<(), GrantStoreError>>;
    /// Saves refreshed tokens over the grant at `version`; false when the grant changed
    /// meanwhile (re-authorized).
    fn save_refreshed<'a>(
        &'a self,
        version: i64,
        tokens: &'a GrantedTokens,
    ) -> BoxFuture<'a, Result<bool, GrantStoreError>>;
    /// Records that the authorization server refused the grant at `version`.
    fn revoke<'a>(&'a self, version: i64, reason: &'a str) -> BoxFuture<'a, Result<(), GrantStoreError>>;
}

struct Cached {
    token: Secret,
    refresh_at: Option<Instant>,
}

/// Access tokens of a user-consented grant: the stored access token until shortly before it
/// expires (or until the app refuses it), then one refresh, claimed in the store, its result
/// (a rotated refresh token included) saved there before it is used.
pub struct RefreshingTokenSource {
    config: OAuthConfig,
    http: reqwest::Client,
    grants: Arc<dyn GrantStore>,
    /// How long a refresh claim lasts: longer than a token request can take.
    lease: Duration,
    cached: tokio::sync::Mutex<Option<Cached>>,
    /// The token the app last refused: not taken from the store again.
    rejected: tokio::sync::Mutex<Option<Secret>>,
    refreshed: AtomicU64,
}

impl std::fmt::Debug for RefreshingTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshingTokenSource").field("config", &self.config).finish_non_exhaustive()
    }
}

/// How often a source waiting for another holder's refresh looks at the store.
const CLAIM_POLL: Duration = Duration::from_millis(100);

impl RefreshingTokenSource {
    pub fn new(config: OAuthConfig, grants: Arc<dyn GrantStore>, timeout: Duration) -> Result<Self, ConnectorError> {
        Ok(Self {
            http: crate::oauth::http_client(timeout)?,
            config,
            grants,
            lease: timeout + Duration::from_secs(5),
            cached: tokio::sync::Mutex::new(None),
            rejected: tokio::sync::Mutex::new(None),
            refreshed: AtomicU64::new(0),
        })
    }

    /// How many refreshes this source made.
    pub fn refreshed(&self) -> u64 {
        self.refreshed.load(Ordering::Relaxed)
    }

    /// A token valid for a while yet: the cached one, the stored one, or a refreshed one.
    pub async fn token(&self) -> Result<Secret, ConnectorError> {
        // Held across the store and the refresh: requests of this source wait for one answer.
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && c.refresh_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(c.token.clone());
        }
        let rejected = self.rejected.lock().await.clone();
        let fresh = self.obtain(rejected.as_ref()).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    pub async fn reject(&self, rejected: &Secret) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token.expose() == rejected.expose()) {
            *cached = None;
        }
        *self.rejected.lock().await = Some(rejected.clone());
    }

    /// The stored access token if it is still good, else a refresh: ours if we win the claim,
    /// another holder's if they did.
    async fn obtain(&self, rejected: Option<&Secret>) -> Result<Cached, ConnectorError> {
        let give_up = Instant::now() + self.lease * 2;
        loop {
            let grant = self
                .grants
                .load()
                .await?
                .ok_or_else(|| ConnectorError::Reauthorize { reason: "the app was never authorized".into() })?;
            if let Some(reason) = &grant.revoked {
                return Err(ConnectorError::Reauthorize { reason: reason.clone() });
            }
            let tokens = &grant.tokens;
            let refused = rejected.is_some_and(|r| r.expose() == tokens.access_token.expose());
            if !refused && let Some(usable) = usable(tokens) {
                return Ok(usable);
            }
            let Some(refresh_token) = tokens.refresh_token.clone() else {
                let reason = "the access token expired (or the app refused it) and the authorization server \
                              issued no refresh token";
                return Err(ConnectorError::Reauthorize { reason: reason.into() });
            };
            if self.grants.claim_refresh(grant.version, self.lease).await? {
                return match self.refresh(&grant, refresh_token).await {
                    Ok(Some(fresh)) => Ok(fresh),
                    // Re-authorized while we refreshed: the new grant is the one to use.
                    Ok(None) => continue,
                    Err(e) => Err(e),
                };
            }
            if Instant::now() >= give_up {
                return Err(ConnectorError::TokenStore {
                    message: "another worker has been refreshing the app's OAuth token for too long".into(),
                    retryable: true,
                });
            }
            tokio::time::sleep(CLAIM_POLL).await;
        }
    }

    /// Refreshes the grant we hold the claim of; `None` when it was replaced meanwhile.
    async fn refresh(&self, grant: &StoredGrant, refresh_token: Secret) -> Result<Option<Cached>, ConnectorError> {
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose())];
        let issued = match request_token(&self.http, &self.config, &[], &form).await {
            Ok(issued) => issued,
            Err(ConnectorError::OAuth { error, description, .. }) if error == "invalid_grant" => {
                let reason = match description {
                    Some(d) => format!("the authorization server refused the refresh token (invalid_grant: {d})"),
                    None => "the authorization server refused the refresh token (invalid_grant)".to_owned(),
                };
                tracing::warn!(token_url = %self.config.token_url, client_id = %self.config.client_id, "OAuth grant refused: the app must be re-authorized");
                self.grants.revoke(grant.version, &reason).await?;
                return Err(ConnectorError::Reauthorize { reason });
            }
            Err(e) => {
                // Someone else may succeed later (or we, on the next request).
                if let Err(release) = self.grants.release_refresh(grant.version).await {
                    tracing::warn!(error = %release, "could not release the OAuth refresh claim; it expires by itself");
                }
                return Err(e);
            }
        };
        let rotated = issued.refresh_token.is_some();
        let tokens = GrantedTokens::from_issued(issued, Some(refresh_token));
        // Saved before use: a rotated refresh token lost here would end the grant, so a store
        // that is briefly busy is tried again.
        if !self.save(grant.version, &tokens).await? {
            return Ok(None);
        }
        self.refreshed.fetch_add(1, Ordering::Relaxed);
        *self.rejected.lock().await = None;
        tracing::debug!(token_url = %self.config.token_url, client_id = %self.config.client_id, rotated, "refreshed an OAuth access token");
        Ok(Some(cached_from(&tokens)))
    }
}

impl RefreshingTokenSource {
    async fn save(&self, version: i64, tokens: &GrantedTokens) -> Result<bool, ConnectorError> {
        let mut wait = Duration::from_millis(100);
        for _ in 0..SAVE_ATTEMPTS - 1 {
            match self.grants.save_refreshed(version, tokens).await {
                Err(e) if e.retryable => {
                    tracing::warn!(error = %e, "saving the refreshed OAuth tokens failed; trying again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                other => return Ok(other?),
            }
        }
        self.grants.save_refreshed(version, tokens).await.map_err(|e| {
            tracing::error!(error = %e, "the refreshed OAuth tokens could not be saved; the app may need to be re-authorized");
            e.into()
        })
    }
}

/// Tries at saving refreshed tokens: the refresh token they replace is already spent.
const SAVE_ATTEMPTS: u32 = 4;

/// The stored access token as a cache entry, if it has life left.
fn usable(tokens: &GrantedTokens) -> Option<Cached> {
    let cached = cached_from(tokens);
    cached.refresh_at.is_none_or(|at| Instant::now() < at).then_some(cached)
}

fn cached_from(tokens: &GrantedTokens) -> Cached {
    let refresh_at = tokens.expires_at_ms.map(|at| {
        let left = Duration::from_millis(at.saturating_sub(now_ms()).max(0) as u64);
        refresh_at(Instant::now(), left)
    });
    Cached { token: tokens.access_token.clone(), refresh_at }
}

impl AccessTokens for RefreshingTokenSource {
    fn token(&self) -> BoxFuture<'_, Result<Secret, ConnectorError>> {
        Box::pin(RefreshingTokenSource::token(self))
    }

    fn reject<'a>(&'a self, rejected: &'a Secret) -> BoxFuture<'a, ()> {
        Box::pin(RefreshingTokenSource::reject(self, rejected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_fit_rfc7636() {
        let pkce = Pkce::generate();
        let v = pkce.verifier.expose();
        assert_eq!(v.len(), 43);
        assert!(v.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)));
        assert_ne!(Pkce::generate().verifier.expose(), v);
    }

    #[test]
    fn the_authorization_url_keeps_the_endpoint_query() -> Result<(), ConnectorError> {
        let client = OAuthConfig::new("https://as.example/token", "cid", Secret::new("s"), Some("scim users"))?;
        let config = AuthorizationCodeConfig::new("https://as.example/authorize?tenant=acme", client)?;
        let url = config.authorization_url("https://tenure.example/oauth/callback", &Secret::new("st"), "ch");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("tenant"), Some("acme"));
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("redirect_uri"), Some("https://tenure.example/oauth/callback"));
        assert_eq!(get("scope"), Some("scim users"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert!(AuthorizationCodeConfig::new("https://as.example/a#frag", config.client.clone()).is_err());
        Ok(())
    }
}
