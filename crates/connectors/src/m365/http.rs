//! Microsoft Graph's REST surface as the M365 connector uses it: JSON over HTTPS, an app-only
//! access token from the Microsoft identity platform (client credentials, RFC 6749 §4.4, scope
//! `https://graph.microsoft.com/.default`), fetched again once on a 401.
//!
//! - Errors: `{"error": {"code", "message", "innerError"}}`
//!   (<https://learn.microsoft.com/en-us/graph/errors>); 404 `Request_ResourceNotFound`; a taken
//!   `userPrincipalName` is 400 `Request_BadRequest` "Another object with the same value for
//!   property userPrincipalName already exists."
//! - Throttling: 429 (and 503 under load) with `Retry-After` seconds; wait that long, then retry
//!   (<https://learn.microsoft.com/en-us/graph/throttling>).

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use crate::client::{ClientOptions, error_chain, retry_wait};
use crate::error::{ConnectorError, TransportKind};
use crate::oauth::TokenSource;

#[derive(Debug, Clone)]
pub(crate) struct Graph {
    http: reqwest::Client,
    /// `https://graph.microsoft.com/v1.0` (or a fake's address), without a trailing slash.
    pub(crate) base: Url,
    tokens: Arc<TokenSource>,
    pub(crate) options: ClientOptions,
    limiter: Option<Arc<crate::RateLimiter>>,
}

impl Graph {
    pub(crate) fn new(base: &str, tokens: Arc<TokenSource>, options: ClientOptions) -> Result<Self, ConnectorError> {
        let (base, http) = crate::rest_base::checked_base_and_client(base, "Graph URL", &options)?;
        Ok(Self { http, base, tokens, options, limiter: None })
    }

    pub(crate) fn with_rate_limiter(mut self, limiter: Arc<crate::RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// `base/segments...` with each segment escaped.
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        crate::rest_base::joined(&self.base, segments)
    }

    /// A link Graph handed out (`@odata.nextLink`), followed only on Graph's own origin: the
    /// bearer token goes nowhere else.
    pub(crate) fn link(&self, link: &str) -> Result<Url, ConnectorError> {
        let url = Url::parse(link).map_err(|e| invalid("GET", link, &format!("@odata.nextLink: {e}")))?;
        if url.origin() != self.base.origin() {
            return Err(invalid("GET", link, "@odata.nextLink points away from the Graph endpoint"));
        }
        Ok(url)
    }

    /// One request, retried on transport failures, 429 and 5xx (after `Retry-After` when
    /// given), with a fresh token once after a 401. `Value::Null` for an empty answer (204).
    pub(crate) async fn send(&self, method: Method, url: &Url, body: Option<&Value>) -> Result<Value, ConnectorError> {
        self.send_with(method, url, body, &[]).await
    }

    /// [`Graph::send`] with extra request headers (`ConsistencyLevel: eventual` for an advanced
    /// query).
    pub(crate) async fn send_with(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Value, ConnectorError> {
        let mut retries = 0;
        let mut refreshed = false;
        loop {
            if let Some(limiter) = &self.limiter {
                limiter.acquire().await?;
            }
            let token = self.tokens.token().await?;
            match self.attempt(&method, url, body, headers, &token).await {
                Ok(answer) => return Ok(answer),
                Err(e) if e.status() == Some(401) && !refreshed => {
                    self.tokens.reject(&token).await;
                    refreshed = true;
                }
                Err(e) if e.is_retryable() && retries < self.options.max_retries => {
                    let wait = retry_wait(&self.options, &e, retries);
                    if e.status() == Some(429)
                        && let Some(limiter) = &self.limiter
                    {
                        limiter.hold_off(wait);
                    }
                    tracing::debug!(%method, url = %url, error = %e, wait_ms = wait.as_millis() as u64, "retrying Graph call");
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        token: &tenure_core::Secret,
    ) -> Result<Value, ConnectorError> {
        let transport = |kind: TransportKind, e: &reqwest::Error| ConnectorError::Transport {
            kind,
            method: method.to_string(),
            url: url.to_string(),
            message: error_chain(e),
        };
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .header(USER_AGENT, concat!("tenure/", env!("CARGO_PKG_VERSION")))
            .header(ACCEPT, "application/json")
            .bearer_auth(token.expose());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            let kind = if e.is_timeout() {
                TransportKind::Timeout
            } else if e.is_connect() {
                TransportKind::Connect
            } else {
                TransportKind::Io
            };
            transport(kind, &e)
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes =
            tenure_outbound::read_body(response, tenure_outbound::MAX_RESPONSE_BODY).await.map_err(|e| match e {
                tenure_outbound::BodyError::Http(e) => transport(TransportKind::Io, &e),
                too_large => invalid(method.as_str(), url.as_str(), &too_large.to_string()),
            })?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .map_err(|e| invalid(method.as_str(), url.as_str(), &format!("not JSON: {e}")));
        }
        Err(graph_error(method, url, status, retry_after, &bytes))
    }
}

pub(crate) fn invalid(method: &str, url: &str, message: &str) -> ConnectorError {
    ConnectorError::InvalidResponse { method: method.to_owned(), url: url.to_owned(), message: message.to_owned() }
}

/// Graph's `{"error": {"code", "message"}}` as a [`ConnectorError`]: a missing object is "not
/// found", a taken unique value a conflict, 429/5xx retryable after `Retry-After`; everything
/// else keeps Graph's code and message.
pub(crate) fn graph_error(
    method: &Method,
    url: &Url,
    status: StatusCode,
    retry_after: Option<Duration>,
    bytes: &[u8],
) -> ConnectorError {
    let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or_default().to_owned();
    let message = body["error"]["message"].as_str().map(str::to_owned).or_else(|| {
        let text = String::from_utf8_lossy(bytes).trim().chars().take(300).collect::<String>();
        (!text.is_empty()).then_some(text)
    });
    let detail = message.as_ref().map(|m| if code.is_empty() { m.clone() } else { format!("{code}: {m}") });
    let (method, url) = (method.to_string(), url.to_string());
    let text = message.as_deref().unwrap_or_default();
    match status.as_u16() {
        404 => ConnectorError::NotFound { method, url, detail },
        400 if text.contains("Another object with the same value for property") => {
            ConnectorError::Conflict { method, url, scim_type: None, detail }
        }
        409 => ConnectorError::Conflict { method, url, scim_type: None, detail },
        401 | 403 => ConnectorError::Vendor {
            vendor: "m365",
            code: if code.is_empty() { status.as_u16().to_string() } else { code },
            status: status.as_u16(),
            message: format!("{method} {url}: {}", message.unwrap_or_else(|| "refused".into())),
        },
        status => ConnectorError::Status { method, url, status, scim_type: None, detail, retry_after },
    }
}
