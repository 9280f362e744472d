//! HTTP for the cloud directory sources (Google Workspace, Microsoft Graph): JSON GETs with a
//! bearer token and OAuth token requests, retried on throttling and transient failures, and
//! errors that say what went wrong and whether trying again can help.
//!
//! Throttling contracts followed here:
//! - Microsoft Graph answers 429 with `Retry-After` (seconds)
//!   (<https://learn.microsoft.com/en-us/graph/throttling>).
//! - Google's Admin SDK answers 403 or 429 with an `errors[].reason` of `rateLimitExceeded`,
//!   `userRateLimitExceeded` or `quotaExceeded`, and asks for exponential backoff
//!   (<https://developers.google.com/workspace/admin/directory/v1/limits>,
//!   <https://developers.google.com/workspace/admin/directory/v1/guides/troubleshoot-error-codes>).

use std::time::Duration;

use rand::Rng;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tenure_core::Secret;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

/// Which service a request goes to: it decides how errors read and which are throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Google,
    Graph,
}

impl Service {
    fn label(self) -> &'static str {
        match self {
            Service::Google => "Google Workspace",
            Service::Graph => "Microsoft Graph",
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// For a whole request, response body included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts per request, the first included, for throttling and transient failures.
    pub max_attempts: u32,
    /// First backoff when the service gives no `Retry-After`; doubled per attempt, with jitter.
    pub initial_backoff: Duration,
    /// Upper bound on any single wait, `Retry-After` included, so a service asking for hours
    /// fails the sync (to be retried by the next run) instead of stalling it.
    pub max_retry_wait: Duration,
    /// Requests in flight at once where a sync fans out (members of each group, users).
    pub concurrency: usize,
    /// Largest page asked for when listing; `None`: the API's maximum. Smaller pages only cost
    /// more requests (tests use them to exercise paging).
    pub page_size: Option<u32>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_retry_wait: Duration::from_secs(120),
            concurrency: 8,
            page_size: None,
        }
    }
}

/// Why a cloud source could not deliver. Any of these fails the whole sync: nothing partial is
/// ever delivered.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("{service} source configuration: {reason}")]
    Config { service: Service, reason: String },
    /// The token endpoint refused the credentials (wrong secret, wrong key, unknown client, no
    /// domain-wide delegation). Retrying cannot help until an admin fixes them.
    #[error("{service} rejected the credentials at {url}: {code}: {detail}")]
    Credentials { service: Service, url: String, code: String, detail: String },
    /// Still throttled (rate limit or quota) after every attempt.
    #[error("{service} kept throttling {url} ({reason}) after {attempts} attempts; try again later")]
    Throttled { service: Service, url: String, reason: String, attempts: u32 },
    /// Authenticated, but not allowed (missing API permission or admin role): not retryable.
    /// `request` is the method and the URL, its query hidden.
    #[error("{service} denied {request}: HTTP {status} {code}: {message}")]
    Denied { service: Service, request: String, status: u16, code: String, message: String },
    #[error("{service}: {request}: HTTP {status} {code}: {message}")]
    Status { service: Service, request: String, status: u16, code: String, message: String },
    #[error("{service}: {request}: {message}")]
    Transport { service: Service, request: String, message: String },
    #[error("{service}: {url}: unexpected response: {message}")]
    InvalidResponse { service: Service, url: String, message: String },
    /// The delta token is no longer valid (410 Gone, `syncStateNotFound`, `resyncRequired`).
    /// The Graph source answers it with a full resync; it surfaces only if that fails too.
    #[error("{service}: the delta cursor has expired ({code}); a full resync is needed")]
    CursorExpired { service: Service, code: String },
}

impl CloudError {
    /// Whether the same sync may succeed if simply run again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            CloudError::Throttled { .. } | CloudError::Transport { .. } | CloudError::CursorExpired { .. } => true,
            CloudError::Status { status, .. } => *status >= 500 || *status == 408,
            CloudError::Config { .. }
            | CloudError::Credentials { .. }
            | CloudError::Denied { .. }
            | CloudError::InvalidResponse { .. } => false,
        }
    }
}

/// Longest slice of an error body kept in an error message.
const MAX_DETAIL: usize = 300;

/// OAuth error codes (RFC 6749 §5.2) meaning the credentials themselves are wrong.
const CREDENTIAL_ERRORS: &[&str] = &[
    "invalid_grant",
    "invalid_client",
    "unauthorized_client",
    "invalid_scope",
    "access_denied",
    "unsupported_grant_type",
    "invalid_request",
];

/// Google's reasons for "slow down" (403 or 429).
const GOOGLE_THROTTLE_REASONS: &[&str] = &["rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"];

/// Graph's codes for a delta token it no longer knows
/// (<https://learn.microsoft.com/en-us/graph/delta-query-overview#synchronization-reset>).
const GRAPH_EXPIRED_CODES: &[&str] = &["syncStateNotFound", "resyncRequired", "syncStateInvalid"];

#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    pub(crate) options: HttpOptions,
    pub(crate) service: Service,
}

/// One attempt's outcome before the retry loop decides.
enum Failure {
    /// Worth another attempt: throttling or a transient failure.
    Retry {
        error: CloudError,
        retry_after: Option<Duration>,
        throttle: Option<String>,
    },
    Fatal(CloudError),
}

impl Http {
    pub fn new(service: Service, options: HttpOptions) -> Result<Self, CloudError> {
        if options.max_attempts == 0 || options.concurrency == 0 {
            return Err(CloudError::Config {
                service,
                reason: "max_attempts and concurrency must be at least 1".into(),
            });
        }
        // The address policy and no redirects (one could carry the bearer token to another host).
        let client = tenure_outbound::client_builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| CloudError::Config { service, reason: format!("HTTP client: {}", error_chain(&e)) })?;
        Ok(Self { client, options, service })
    }

    /// GET a JSON document with a bearer token.
    pub async fn get_json(&self, url: &Url, token: &Secret) -> Result<Value, CloudError> {
        self.send(Method::GET, url, false, || self.client.get(url.clone()).bearer_auth(token.expose())).await
    }

    /// Sends a JSON body (or none) with a bearer token: the calls that set up and renew event
    /// channels. An empty success answer (204) reads as `null`.
    pub async fn send_json(
        &self,
        method: Method,
        url: &Url,
        token: &Secret,
        body: Option<&Value>,
    ) -> Result<Value, CloudError> {
        let body = body.map(Value::to_string);
        self.send(method.clone(), url, false, || {
            let request = self.client.request(method.clone(), url.clone()).bearer_auth(token.expose());
            match &body {
                Some(json) => request.header(CONTENT_TYPE, "application/json").body(json.clone()),
                None => request,
            }
        })
        .await
    }

    /// POST an `application/x-www-form-urlencoded` token request (RFC 6749 §4.4, RFC 7523 §2.1).
    pub async fn post_token_form(&self, url: &Url, form: &[(&str, &str)]) -> Result<Value, CloudError> {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        self.send(Method::POST, url, true, || {
            self.client.post(url.clone()).header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(body.clone())
        })
        .await
    }

    async fn send(
        &self,
        method: Method,
        url: &Url,
        token_endpoint: bool,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Value, CloudError> {
        if let Err(refused) = tenure_outbound::check_url_host(url) {
            return Err(CloudError::Config { service: self.service, reason: refused.to_string() });
        }
        let mut attempt = 1;
        loop {
            let request = build()
                .header(ACCEPT, "application/json")
                .header(USER_AGENT, concat!("tenure/", env!("CARGO_PKG_VERSION")));
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(response.headers());
                    match tenure_outbound::read_body(response, tenure_outbound::MAX_RESPONSE_BODY).await {
                        Ok(body) if status.is_success() && body.iter().all(u8::is_ascii_whitespace) => {
                            return Ok(Value::Null);
                        }
                        Ok(body) if status.is_success() => {
                            return serde_json::from_slice(&body).map_err(|e| CloudError::InvalidResponse {
                                service: self.service,
                                url: redact_url(url),
                                message: format!("not JSON: {e}: {}", snippet(&body)),
                            });
                        }
                        Ok(body) => self.classify(&method, url, token_endpoint, status, retry_after, &body),
                        Err(tenure_outbound::BodyError::Http(e)) => self.transport(&method, url, &e),
                        Err(too_large) => Failure::Fatal(CloudError::InvalidResponse {
                            service: self.service,
                            url: redact_url(url),
                            message: too_large.to_string(),
                        }),
                    }
                }
                Err(e) => self.transport(&method, url, &e),
            };
            match failure {
                Failure::Fatal(error) => return Err(error),
                Failure::Retry { error, retry_after, throttle } => {
                    if attempt >= self.options.max_attempts {
                        return Err(match throttle {
                            Some(reason) => CloudError::Throttled {
                                service: self.service,
                                url: redact_url(url),
                                reason,
                                attempts: attempt,
                            },
                            None => error,
                        });
                    }
                    let wait = self.wait(retry_after, attempt);
                    if throttle.is_some() {
                        tracing::debug!(service = %self.service, url = %redact_url(url), attempt, wait_ms = wait.as_millis() as u64, "throttled; waiting");
                    } else {
                        tracing::warn!(service = %self.service, url = %redact_url(url), attempt, wait_ms = wait.as_millis() as u64, %error, "request failed; retrying");
                    }
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn wait(&self, retry_after: Option<Duration>, attempt: u32) -> Duration {
        let cap = self.options.max_retry_wait;
        if let Some(asked) = retry_after {
            return asked.min(cap);
        }
        let exp = self.options.initial_backoff.saturating_mul(2u32.saturating_pow(attempt - 1)).min(cap);
        // Half fixed, half random: clients throttled together do not come back together.
        let half = exp / 2;
        let jitter_ms = rand::rng().random_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter_ms)
    }

    fn transport(&self, method: &Method, url: &Url, e: &reqwest::Error) -> Failure {
        if let Some(refused) = tenure_outbound::refusal_in(e) {
            return Failure::Fatal(CloudError::Config { service: self.service, reason: refused.to_string() });
        }
        let error = CloudError::Transport {
            service: self.service,
            request: format!("{method} {}", redact_url(url)),
            message: error_chain(e),
        };
        Failure::Retry { error, retry_after: None, throttle: None }
    }

    fn classify(
        &self,
        method: &Method,
        url: &Url,
        token_endpoint: bool,
        status: StatusCode,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> Failure {
        let service = self.service;
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let (code, message, reasons) = error_parts(parsed.as_ref(), body);
        if token_endpoint && CREDENTIAL_ERRORS.contains(&code.as_str()) {
            return Failure::Fatal(CloudError::Credentials { service, url: redact_url(url), code, detail: message });
        }
        let google_throttle =
            reasons.iter().find(|r| service == Service::Google && GOOGLE_THROTTLE_REASONS.contains(&r.as_str()));
        let throttle = match (status.as_u16(), google_throttle) {
            (_, Some(reason)) => Some(reason.clone()),
            (429, None) => Some(if code.is_empty() { "429 Too Many Requests".to_owned() } else { code.clone() }),
            _ => None,
        };
        if service == Service::Graph && (status == StatusCode::GONE || GRAPH_EXPIRED_CODES.contains(&code.as_str())) {
            let code = if code.is_empty() { "410 Gone".to_owned() } else { code };
            return Failure::Fatal(CloudError::CursorExpired { service, code });
        }
        let request = format!("{method} {}", redact_url(url));
        let status_code = status.as_u16();
        if throttle.is_some() {
            let error = CloudError::Status { service, request, status: status_code, code, message };
            return Failure::Retry { error, retry_after, throttle };
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Failure::Fatal(CloudError::Denied { service, request, status: status_code, code, message });
        }
        let error = CloudError::Status { service, request, status: status_code, code, message };
        if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            Failure::Retry { error, retry_after, throttle: None }
        } else {
            Failure::Fatal(error)
        }
    }
}

/// `(code, message, reasons)` of an error body. OAuth endpoints answer
/// `{"error": "invalid_grant", "error_description": ...}`; Google APIs
/// `{"error": {"code": 403, "message", "errors": [{"reason"}], "status"}}`; Graph
/// `{"error": {"code": "syncStateNotFound", "message"}}`.
fn error_parts(parsed: Option<&Value>, body: &[u8]) -> (String, String, Vec<String>) {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let Some(error) = parsed.and_then(|v| v.get("error")) else {
        return (String::new(), snippet(body), Vec::new());
    };
    if let Some(code) = error.as_str() {
        return (code.to_owned(), text(parsed.and_then(|v| v.get("error_description"))), Vec::new());
    }
    let reasons: Vec<String> = error
        .get("errors")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|e| e.get("reason").and_then(Value::as_str)).map(str::to_owned).collect())
        .unwrap_or_default();
    let code = match error.get("code") {
        Some(Value::String(s)) => s.clone(),
        _ => text(error.get("status")),
    };
    let mut message = text(error.get("message"));
    if let Some(first) = reasons.first() {
        message = format!("{message} (reason {first})");
    }
    (code, message, reasons)
}

/// An admin-supplied endpoint (base URL, token URL), parsed and checked: http(s), no query, and
/// not a link-local or cloud metadata address, where a credentialed request could be turned
/// against the host's own instance metadata (SSRF). Names are checked as written; a name that
/// resolves to such an address is not caught here.
pub fn admin_url(service: Service, what: &str, raw: &str) -> Result<Url, CloudError> {
    let bad = |reason: &str| CloudError::Config { service, reason: format!("{what} {raw:?}: {reason}") };
    let url = Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(bad("not an http(s) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    if url.host().is_none() {
        return Err(bad("no host"));
    }
    if is_metadata_address(&url) {
        return Err(bad("a link-local or metadata address is not allowed"));
    }
    Ok(url)
}

/// Whether the outbound policy refuses `url`'s host as written (a link-local or metadata
/// address in any spelling, a metadata name; private ranges when the operator refuses them).
/// Names are checked again on the addresses they resolve to when the connection is made.
pub fn is_metadata_address(url: &Url) -> bool {
    tenure_outbound::check_url_host(url).is_err()
}

/// Delta and page tokens are credentials of a kind (they replay the caller's view): errors and
/// logs show the endpoint, not the query.
pub(crate) fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.query().is_none() {
        return shown.to_string();
    }
    shown.set_query(None);
    format!("{shown}?…")
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX_DETAIL) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = raw.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc2822).ok()?;
    Some((at - time::OffsetDateTime::now_utc()).try_into().unwrap_or(Duration::ZERO))
}

/// An access token kept until shortly before it expires, so a long sync reuses one token and a
/// sync after the expiry gets a new one.
#[derive(Debug, Default)]
pub struct TokenCache {
    slot: Mutex<Option<(Secret, Instant)>>,
}

/// Renewed this long before the token's stated expiry, so a request never carries one that
/// expires in flight.
const TOKEN_MARGIN: Duration = Duration::from_secs(120);

impl TokenCache {
    /// The cached token, or a new one from `fetch` (which returns the token and its lifetime).
    /// The lock is held while fetching so concurrent requests share one token request.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<Secret, CloudError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(Secret, Duration), CloudError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((token, until)) = slot.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = fetch().await?;
        let until = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
        *slot = Some((token.clone(), until));
        Ok(token)
    }

    /// Forgets the cached token, so the next [`get`](Self::get) fetches a new one.
    pub async fn forget(&self) {
        *self.slot.lock().await = None;
    }
}

/// Reads `access_token` and `expires_in` from a token response (RFC 6749 §5.1).
pub(crate) fn token_from_response(service: Service, url: &Url, body: &Value) -> Result<(Secret, Duration), CloudError> {
    let token = body.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty()).ok_or_else(|| {
        CloudError::InvalidResponse {
            service,
            url: redact_url(url),
            message: "token response without access_token".into(),
        }
    })?;
    // Some endpoints send expires_in as a string.
    let seconds = match body.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or(3600);
    Ok((Secret::new(token), Duration::from_secs(seconds)))
}

/// Runs `work` over `inputs` with at most `limit` in flight; results in input order. The first
/// error aborts the rest (dropping the set cancels them) and is returned: a fan-out either
/// completes or fails whole.
pub async fn bounded<I, R, F, Fut>(
    service: Service,
    inputs: Vec<I>,
    limit: usize,
    work: F,
) -> Result<Vec<R>, CloudError>
where
    I: Send + 'static,
    R: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = Result<R, CloudError>> + Send + 'static,
{
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let total = inputs.len();
    for (index, input) in inputs.into_iter().enumerate() {
        let permit = semaphore.clone();
        let task = work(input);
        set.spawn(async move {
            // The semaphore is never closed, so acquiring only waits.
            let _permit = permit.acquire_owned().await;
            task.await.map(|r| (index, r))
        });
    }
    let mut results: Vec<Option<R>> = (0..total).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok((index, r))) => results[index] = Some(r),
            Ok(Err(e)) => return Err(e),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    // Only a runtime shutting down cancels a task; a missing result must not pass as "none".
    results.into_iter().collect::<Option<Vec<R>>>().ok_or_else(|| CloudError::Transport {
        service,
        request: String::new(),
        message: "a request was cancelled (shutting down?)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_each_service_are_read() {
        let oauth = serde_json::json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."});
        let (code, message, _) = error_parts(Some(&oauth), b"");
        assert_eq!((code.as_str(), message.as_str()), ("invalid_grant", "Invalid JWT Signature."));
        let google = serde_json::json!({"error": {"code": 403, "message": "Quota", "status": "PERMISSION_DENIED",
            "errors": [{"domain": "usageLimits", "reason": "userRateLimitExceeded"}]}});
        let (code, _, reasons) = error_parts(Some(&google), b"");
        assert_eq!((code.as_str(), reasons), ("PERMISSION_DENIED", vec!["userRateLimitExceeded".to_owned()]));
        let graph = serde_json::json!({"error": {"code": "syncStateNotFound", "message": "gone"}});
        assert_eq!(error_parts(Some(&graph), b"").0, "syncStateNotFound");
        assert_eq!(error_parts(None, b"<html>bad gateway</html>").1, "<html>bad gateway</html>");
    }

    #[test]
    fn admin_urls_refuse_metadata_addresses() {
        for ok in ["https://graph.microsoft.com/v1.0", "http://127.0.0.1:8080/v1.0"] {
            assert!(admin_url(Service::Graph, "base URL", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/",
            "http://metadata.google.internal/computeMetadata/v1",
            "ftp://example.com/",
            "https://example.com/?a=b",
        ] {
            assert!(admin_url(Service::Google, "base URL", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_in_errors_hide_tokens() {
        let url = Url::parse("https://graph.example/v1.0/users/delta?$deltatoken=SECRET").unwrap();
        assert_eq!(redact_url(&url), "https://graph.example/v1.0/users/delta?…");
    }
}
