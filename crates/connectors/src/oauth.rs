//! OAuth 2.0 client credentials (RFC 6749 §4.4, <https://datatracker.ietf.org/doc/html/rfc6749#section-4.4>):
//! the access token an app's API wants, fetched from its authorization server with the client's
//! id and secret, cached until shortly before it expires, and fetched again once when the app
//! answers 401 (the token was revoked, or the clocks disagree).
//!
//! - Request (§4.4.2): `POST token_url`, `application/x-www-form-urlencoded`,
//!   `grant_type=client_credentials` and an optional `scope`.
//! - Client authentication (§2.3.1): HTTP Basic with the form-urlencoded id and secret (which
//!   every server must support), or `client_id` / `client_secret` in the body.
//! - Success (§5.1): JSON with `access_token`, `token_type` (`Bearer`, RFC 6750), optional
//!   `expires_in` seconds.
//! - Error (§5.2): HTTP 400 or 401 with JSON `error` (`invalid_client`, `invalid_scope`, ...) and
//!   optional `error_description`.
//!
//! One vendor grant besides: Zoom's server-to-server OAuth
//! (<https://developers.zoom.us/docs/internal-apps/s2s-oauth/>) asks for
//! `POST https://zoom.us/oauth/token?grant_type=account_credentials&account_id=ACCOUNT` with the
//! client authenticated by HTTP Basic, and answers like §5.1 (an hour-long token, no refresh
//! token). A token URL given in that documented form (`?grant_type=account_credentials&account_id=…`)
//! selects the grant by itself, so an app stored with it needs no other setting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use serde::Deserialize;
use tenure_core::Secret;
use tokio::time::Instant;
use url::Url;

use crate::error::{ConnectorError, TransportKind};

/// How the client proves who it is to the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ClientAuth {
    /// `Authorization: Basic` (the method every authorization server supports).
    #[default]
    Basic,
    /// `client_id` and `client_secret` form parameters.
    Body,
}

/// Which grant the token request makes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Grant {
    /// RFC 6749 §4.4: `grant_type=client_credentials` in the form body.
    #[default]
    ClientCredentials,
    /// Zoom's server-to-server grant: `grant_type=account_credentials&account_id=…` in the
    /// query string of the token request, as Zoom documents it.
    AccountCredentials { account_id: String },
}

/// Name and value pairs of a token request.
type Params<'a> = Vec<(&'static str, &'a str)>;

impl Grant {
    /// The parameters the token request carries in its query string (Zoom's form) and in its
    /// form body (RFC 6749's).
    fn parameters(&self) -> (Params<'_>, Params<'_>) {
        match self {
            Self::ClientCredentials => (Vec::new(), vec![("grant_type", "client_credentials")]),
            Self::AccountCredentials { account_id } => {
                (vec![("grant_type", "account_credentials"), ("account_id", account_id)], Vec::new())
            }
        }
    }
}

#[derive(Clone)]
pub struct OAuthConfig {
    /// Without the grant's own query parameters (those live in `grant`).
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
    /// Space-separated scopes to ask for, if the app wants any.
    pub scope: Option<String>,
    pub client_auth: ClientAuth,
    pub grant: Grant,
    /// Form parameters a vendor's token endpoint wants besides the grant's, in order (Box's
    /// client credentials grant: `box_subject_type`, `box_subject_id`).
    pub token_params: Vec<(String, String)>,
}

/// Equal when every field is, the secret included: a changed secret is another client.
impl PartialEq for OAuthConfig {
    fn eq(&self, other: &Self) -> bool {
        self.token_url == other.token_url
            && self.client_id == other.client_id
            && self.client_secret.expose() == other.client_secret.expose()
            && self.scope == other.scope
            && self.client_auth == other.client_auth
            && self.grant == other.grant
            && self.token_params == other.token_params
    }
}

impl Eq for OAuthConfig {}

impl std::hash::Hash for OAuthConfig {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.token_url.hash(state);
        self.client_id.hash(state);
        self.client_secret.expose().hash(state);
        self.scope.hash(state);
        self.client_auth.hash(state);
        self.grant.hash(state);
        self.token_params.hash(state);
    }
}

impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("scope", &self.scope)
            .field("client_auth", &self.client_auth)
            .field("grant", &self.grant)
            .field("token_params", &self.token_params)
            .finish()
    }
}

impl OAuthConfig {
    pub fn new(
        token_url: &str,
        client_id: &str,
        client_secret: Secret,
        scope: Option<&str>,
    ) -> Result<Self, ConnectorError> {
        let mut url = Url::parse(token_url.trim())
            .map_err(|e| ConnectorError::Config(format!("OAuth token URL {token_url:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConnectorError::Config(format!("OAuth token URL {token_url:?} must be an http(s) URL")));
        }
        if tenure_sources::cloud_http::is_metadata_address(&url) {
            return Err(ConnectorError::Config(format!(
                "OAuth token URL {token_url:?}: a link-local or cloud metadata address is not allowed (the client secret would go there)"
            )));
        }
        if client_id.trim().is_empty() {
            return Err(ConnectorError::Config("OAuth client id is empty".into()));
        }
        if client_secret.expose().is_empty() {
            return Err(ConnectorError::Config("OAuth client secret is empty".into()));
        }
        let grant = grant_in_url(&mut url)?;
        Ok(Self {
            token_url: url,
            client_id: client_id.trim().to_owned(),
            client_secret,
            scope: scope.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
            client_auth: ClientAuth::Basic,
            grant,
            token_params: Vec::new(),
        })
    }

    pub fn with_client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }

    /// Adds form parameters to every client-credentials token request (Box's CCG names its
    /// subject this way).
    pub fn with_token_params(mut self, params: Vec<(String, String)>) -> Self {
        self.token_params = params;
        self
    }

    /// Makes the token request with `grant` instead of the one the token URL named.
    pub fn with_grant(mut self, grant: Grant) -> Self {
        self.grant = grant;
        self
    }
}

/// Zoom's token URL with its query (`?grant_type=account_credentials&account_id=…`): the grant
/// it names, and the URL without those two parameters. Any other `grant_type` in the URL is a
/// configuration mistake rather than something to send blindly.
fn grant_in_url(url: &mut Url) -> Result<Grant, ConnectorError> {
    let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let grant_type = pairs.iter().find(|(k, _)| k == "grant_type").map(|(_, v)| v.as_str());
    let grant = match grant_type {
        None => return Ok(Grant::ClientCredentials),
        Some("client_credentials") => Grant::ClientCredentials,
        Some("account_credentials") => {
            let account_id = pairs
                .iter()
                .find(|(k, _)| k == "account_id")
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    ConnectorError::Config("the account_credentials grant needs account_id in the token URL".into())
                })?;
            Grant::AccountCredentials { account_id }
        }
        Some(other) => {
            return Err(ConnectorError::Config(format!(
                "OAuth token URL names grant_type {other:?}; supported: client_credentials, account_credentials"
            )));
        }
    };
    let rest: Vec<(String, String)> =
        pairs.into_iter().filter(|(k, _)| k != "grant_type" && k != "account_id").collect();
    if rest.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(rest);
    }
    Ok(grant)
}

struct Cached {
    token: Secret,
    /// When to fetch a new one; `None` when the server gave no lifetime (kept until a 401).
    refresh_at: Option<Instant>,
}

/// Fetches and caches access tokens for one client. Shared by every request to the app.
pub struct TokenSource {
    config: OAuthConfig,
    http: reqwest::Client,
    /// Held across a fetch, so concurrent requests wait for one token instead of each asking.
    cached: tokio::sync::Mutex<Option<Cached>>,
    fetched: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The longest a token is used before its stated expiry: enough for a request in flight to
/// arrive while the token is still valid.
const MAX_EARLY_REFRESH: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: Option<serde_json::Value>,
    refresh_token: Option<String>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    /// Zoom names it `reason` (`{"reason": "Invalid client_id or client_secret", "error": "invalid_client"}`).
    #[serde(alias = "reason")]
    error_description: Option<String>,
}

impl TokenSource {
    pub fn new(config: OAuthConfig, timeout: Duration) -> Result<Self, ConnectorError> {
        let http = http_client(timeout)?;
        Ok(Self { config, http, cached: tokio::sync::Mutex::new(None), fetched: Default::default() })
    }

    /// One token source per client configuration in this process, so every client built for
    /// an app (one per sync, per worker) shares the cached token.
    pub fn shared(config: OAuthConfig, timeout: Duration) -> Result<Arc<Self>, ConnectorError> {
        static ALL: OnceLock<Mutex<HashMap<OAuthConfig, Arc<TokenSource>>>> = OnceLock::new();
        let mut all = ALL.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(source) = all.get(&config) {
            return Ok(source.clone());
        }
        let source = Arc::new(Self::new(config.clone(), timeout)?);
        all.insert(config, source.clone());
        Ok(source)
    }

    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    /// How many tokens this source has fetched.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A token valid for a while yet: the cached one, or a new one.
    pub async fn token(&self) -> Result<Secret, ConnectorError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && c.refresh_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(c.token.clone());
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets `rejected` (the app answered 401 to it), unless another request already
    /// replaced it.
    pub async fn reject(&self, rejected: &Secret) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token.expose() == rejected.expose()) {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<Cached, ConnectorError> {
        let (query, mut form) = self.config.grant.parameters();
        if let Some(scope) = &self.config.scope {
            form.push(("scope", scope));
        }
        let mut form: Vec<(&str, &str)> = form;
        form.extend(self.config.token_params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let issued = request_token(&self.http, &self.config, &query, &form).await?;
        self.fetched.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(token_url = %self.config.token_url, client_id = %self.config.client_id, expires_in_s = issued.lifetime.map(|l| l.as_secs()), "fetched an OAuth access token");
        Ok(Cached { refresh_at: issued.lifetime.map(|l| refresh_at(issued.started, l)), token: issued.access_token })
    }
}

/// The HTTP client for a token endpoint.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, ConnectorError> {
    // The address policy, and no redirects: one would replay the client secret to wherever it points.
    tenure_outbound::client_builder()
        .timeout(timeout)
        .build()
        .map_err(|e| ConnectorError::Config(format!("HTTP client: {e}")))
}

/// When to stop using a token that lives `lifetime` from `start`: a tenth of its life early,
/// at least a second and at most [`MAX_EARLY_REFRESH`].
pub(crate) fn refresh_at(start: Instant, lifetime: Duration) -> Instant {
    start + lifetime.saturating_sub((lifetime / 10).max(Duration::from_secs(1)).min(MAX_EARLY_REFRESH))
}

/// What a token endpoint issued (RFC 6749 §5.1), whatever the grant.
pub(crate) struct Issued {
    pub access_token: Secret,
    /// A new refresh token (§6: the client must then discard the old one).
    pub refresh_token: Option<Secret>,
    pub lifetime: Option<Duration>,
    /// The scope granted, when it differs from the one asked for or the server says anyway.
    pub scope: Option<String>,
    /// When the request left: the lifetime counts from no earlier.
    pub started: Instant,
}

/// `POST token_url` with the grant's form parameters, the client authenticated as configured
/// (§2.3.1), and the answer checked: a Bearer token (§5.1) or the server's error (§5.2).
pub(crate) async fn request_token(
    http: &reqwest::Client,
    config: &OAuthConfig,
    query: &[(&str, &str)],
    grant: &[(&str, &str)],
) -> Result<Issued, ConnectorError> {
    let url = &config.token_url;
    let mut form: Vec<(&str, &str)> = grant.to_vec();
    // Zoom's account-credentials grant puts its parameters in the query string.
    let mut target = url.clone();
    if !query.is_empty() {
        target.query_pairs_mut().extend_pairs(query);
    }
    let mut request = http
        .post(target)
        .header(ACCEPT, "application/json")
        .header(USER_AGENT, concat!("tenure/", env!("CARGO_PKG_VERSION")));
    match config.client_auth {
        ClientAuth::Basic => {
            // §2.3.1: id and secret are form-urlencoded before they go into Basic.
            let id: String = url::form_urlencoded::byte_serialize(config.client_id.as_bytes()).collect();
            let secret: String =
                url::form_urlencoded::byte_serialize(config.client_secret.expose().as_bytes()).collect();
            request = request.basic_auth(id, Some(secret));
        }
        ClientAuth::Body => {
            form.push(("client_id", &config.client_id));
            form.push(("client_secret", config.client_secret.expose()));
        }
    }
    let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).finish();
    tenure_outbound::check_url_host(url).map_err(|r| ConnectorError::Config(r.to_string()))?;
    let started = Instant::now();
    let response = request
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| transport(url, &e))?;
    let status = response.status();
    let bytes = match tenure_outbound::read_body(response, tenure_outbound::MAX_RESPONSE_BODY).await {
        Ok(bytes) => bytes,
        Err(tenure_outbound::BodyError::Http(e)) => return Err(transport(url, &e)),
        Err(too_large) => {
            return Err(ConnectorError::InvalidResponse {
                method: "POST".into(),
                url: url.to_string(),
                message: too_large.to_string(),
            });
        }
    };
    if !status.is_success() {
        let (error, description) = match serde_json::from_slice::<ErrorResponse>(&bytes) {
            Ok(e) => (e.error, e.error_description),
            Err(_) => (format!("HTTP {status} without an OAuth error body"), None),
        };
        return Err(ConnectorError::OAuth {
            token_url: url.to_string(),
            status: Some(status.as_u16()),
            error,
            description: description.map(|d| d.chars().take(300).collect()),
        });
    }
    let invalid = |what: &str| ConnectorError::OAuth {
        token_url: url.to_string(),
        status: Some(status.as_u16()),
        error: "invalid_response".into(),
        description: Some(what.to_owned()),
    };
    let parsed: TokenResponse =
        serde_json::from_slice(&bytes).map_err(|e| invalid(&format!("not a token response: {e}")))?;
    if !parsed.token_type.eq_ignore_ascii_case("bearer") {
        return Err(invalid(&format!("token_type {:?}; only Bearer (RFC 6750) is supported", parsed.token_type)));
    }
    if parsed.access_token.is_empty() {
        return Err(invalid("empty access_token"));
    }
    // Some servers send expires_in as a string; both mean seconds (§5.1).
    let lifetime = match &parsed.expires_in {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    }
    .map(Duration::from_secs);
    if parsed.expires_in.as_ref().is_some_and(|v| !v.is_null()) && lifetime.is_none() {
        return Err(invalid("expires_in is not a number of seconds"));
    }
    Ok(Issued {
        access_token: Secret::new(parsed.access_token),
        refresh_token: parsed.refresh_token.filter(|r| !r.is_empty()).map(Secret::new),
        lifetime,
        scope: parsed.scope.filter(|s| !s.trim().is_empty()),
        started,
    })
}

fn transport(url: &Url, e: &reqwest::Error) -> ConnectorError {
    if let Some(refused) = tenure_outbound::refusal_in(e) {
        return ConnectorError::Config(refused.to_string());
    }
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Io
    };
    ConnectorError::Transport {
        kind,
        method: "POST".into(),
        url: url.to_string(),
        message: crate::client::error_chain(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Result<OAuthConfig, ConnectorError> {
        OAuthConfig::new(url, "id", Secret::new("s"), None)
    }

    #[test]
    fn the_grant_is_read_from_zooms_token_url_form() {
        let plain = config("https://auth.example/token").expect("valid");
        assert_eq!(plain.grant, Grant::ClientCredentials);
        let zoom =
            config("https://zoom.us/oauth/token?grant_type=account_credentials&account_id=a%2Bb").expect("valid");
        assert_eq!(zoom.grant, Grant::AccountCredentials { account_id: "a+b".into() });
        assert_eq!(zoom.token_url.as_str(), "https://zoom.us/oauth/token");
        let kept = config("https://x/token?tenant=7&grant_type=client_credentials").expect("valid");
        assert_eq!((kept.grant, kept.token_url.query()), (Grant::ClientCredentials, Some("tenant=7")));
        assert!(config("https://zoom.us/oauth/token?grant_type=account_credentials").is_err(), "no account id");
        assert!(config("https://x/token?grant_type=password").is_err());
        let explicit = plain.with_grant(Grant::AccountCredentials { account_id: "z".into() });
        assert_ne!(explicit, config("https://auth.example/token").expect("valid"), "the grant tells clients apart");
    }
}
