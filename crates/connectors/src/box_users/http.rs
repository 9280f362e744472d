//! Box's REST API as its documentation describes it.
//!
//! - Errors: a JSON body `{"type": "error", "status", "code", "message", "request_id"}`; 409
//!   `user_login_already_used` for a taken login; 404 `not_found`
//!   (<https://developer.box.com/guides/api-calls/permissions-and-errors/common-errors/>).
//! - Rate limits: 429 with a `retry-after` header in seconds and an error body
//!   (<https://developer.box.com/guides/api-calls/permissions-and-errors/rate-limits/>).
//! - Marker paging: `usemarker=true`, `limit` (at most 1000), then `marker=next_marker` until the
//!   answer has no `next_marker` (<https://developer.box.com/guides/api-calls/pagination/marker-based/>,
//!   <https://developer.box.com/reference/get-users/>).

use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tenure_core::Secret;
use url::Url;

use crate::bearer::Bearer;
use crate::client::{ClientOptions, error_chain, retry_wait};
use crate::error::{ConnectorError, TransportKind};

#[derive(Debug, Clone)]
pub(crate) struct Rest {
    http: reqwest::Client,
    /// `https://api.box.com/2.0` (or a fake's address), without a trailing slash.
    base: Url,
    bearer: Bearer,
    pub(crate) options: ClientOptions,
    limiter: Option<std::sync::Arc<crate::RateLimiter>>,
}

impl Rest {
    pub(crate) fn new(base: &str, token: Secret, options: ClientOptions) -> Result<Self, ConnectorError> {
        let (base, http) = crate::rest_base::checked_base_and_client(base, "API URL", &options)?;
        Ok(Self { http, base, bearer: Bearer::Static(token), options, limiter: None })
    }

    /// Tokens from `source` (OAuth) instead of the static one; a token the app refuses (401) is
    /// replaced once per request.
    pub(crate) fn with_access_tokens(mut self, source: std::sync::Arc<dyn crate::bearer::AccessTokens>) -> Self {
        self.bearer = Bearer::Source(source);
        self
    }

    pub(crate) fn with_rate_limiter(mut self, limiter: std::sync::Arc<crate::RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        crate::rest_base::joined(&self.base, segments)
    }

    /// One request, retried on transport failures, 5xx and 429 (waiting as `retry-after` says,
    /// within `max_retry_wait`). `None` for an answer without a body (204).
    pub(crate) async fn send(&self, method: Method, url: &Url, body: Option<&Value>) -> Result<Value, ConnectorError> {
        let mut retries = 0;
        let mut refreshed = false;
        loop {
            if let Some(limiter) = &self.limiter {
                limiter.acquire().await?;
            }
            let token = self.bearer.token().await?;
            let result = self.attempt(method.clone(), url, body, &token).await;
            // An expired or revoked OAuth token (401 `invalid_token`): one new token per request
            // before the 401 stands.
            if let Err(e) = &result
                && e.status() == Some(401)
                && !refreshed
                && self.bearer.refused(&token).await
            {
                refreshed = true;
                tracing::debug!(url = %url, "Box refused the access token; getting a new one");
                continue;
            }
            match result {
                Ok(answer) => return Ok(answer),
                Err(e) if e.is_retryable() && retries < self.options.max_retries => {
                    let wait = retry_wait(&self.options, &e, retries);
                    if e.status() == Some(429)
                        && let Some(limiter) = &self.limiter
                    {
                        limiter.hold_off(wait);
                    }
                    tracing::debug!(url = %url, error = %e, wait_ms = wait.as_millis() as u64, "retrying Box request");
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn attempt(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        token: &Secret,
    ) -> Result<Value, ConnectorError> {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, concat!("tenure/", env!("CARGO_PKG_VERSION")))
            .bearer_auth(token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        let transport = |kind: TransportKind, e: &reqwest::Error| ConnectorError::Transport {
            kind,
            method: method.to_string(),
            url: url.to_string(),
            message: error_chain(e),
        };
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
        let headers = response.headers().clone();
        // Capped like every answer Tenure reads: a hostile or broken server cannot make it buffer
        // without end.
        let bytes =
            tenure_outbound::read_body(response, tenure_outbound::MAX_RESPONSE_BODY).await.map_err(|e| match e {
                tenure_outbound::BodyError::Http(e) => transport(TransportKind::Io, &e),
                too_large => ConnectorError::InvalidResponse {
                    method: method.to_string(),
                    url: url.to_string(),
                    message: too_large.to_string(),
                },
            })?;
        let body: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if status.is_success() {
            return Ok(body);
        }
        Err(box_error(&method, url, status, &headers, &body))
    }
}

/// A Box error as a [`ConnectorError`]: 404 "not found", 409 a conflict to look up, 429 and 5xx
/// retryable with the wait Box asks for; everything else with Box's `code` and `message`.
pub(crate) fn box_error(
    method: &Method,
    url: &Url,
    status: StatusCode,
    headers: &HeaderMap,
    body: &Value,
) -> ConnectorError {
    let code = body["code"].as_str().unwrap_or_default();
    let message = body["message"].as_str().unwrap_or_default();
    // A refused token is a 401 without a body; the reason is in `WWW-Authenticate`
    // (`Bearer realm="Service", error="invalid_token", error_description="..."`).
    let challenge = headers.get(reqwest::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
    let detail = match (code.is_empty(), message.is_empty()) {
        (true, true) => challenge.map(|c| c.chars().take(300).collect()),
        (false, true) => Some(code.to_owned()),
        (true, false) => Some(message.to_owned()),
        (false, false) => Some(format!("{code}: {message}")),
    };
    match status.as_u16() {
        404 => ConnectorError::NotFound { method: method.to_string(), url: url.to_string(), detail },
        409 => ConnectorError::Conflict { method: method.to_string(), url: url.to_string(), scim_type: None, detail },
        status => ConnectorError::Status {
            method: method.to_string(),
            url: url.to_string(),
            status,
            scim_type: None,
            detail,
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
    }
}
