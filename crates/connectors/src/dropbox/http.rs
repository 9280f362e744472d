//! Dropbox's RPC-style API: every call a POST of JSON to `/2/<namespace>/<route>`.
//!
//! - Errors: 400 bad input (plain text), 401 a refused token, 409 an endpoint-specific error
//!   `{"error_summary": "user_not_found/..", "error": {".tag": ...}}`, 429 `too_many_requests` /
//!   `too_many_write_operations` always with `Retry-After` seconds, 5xx Dropbox's trouble
//!   (<https://www.dropbox.com/developers/documentation/http/documentation#error-handling>,
//!   <https://developers.dropbox.com/dbx-performance-guide>).

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER, USER_AGENT};
use serde_json::Value;
use tenure_core::Secret;
use url::Url;

use crate::bearer::Bearer;
use crate::client::{ClientOptions, error_chain, retry_wait};
use crate::error::{ConnectorError, TransportKind};

#[derive(Debug, Clone)]
pub(crate) struct Rpc {
    http: reqwest::Client,
    /// `https://api.dropboxapi.com/2` (or a fake's address), without a trailing slash.
    base: Url,
    bearer: Bearer,
    pub(crate) options: ClientOptions,
    limiter: Option<std::sync::Arc<crate::RateLimiter>>,
}

impl Rpc {
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

    /// `route` like `team/members/list_v2`, retried on transport failures, 5xx and 429.
    pub(crate) async fn call(&self, route: &str, arg: &Value) -> Result<Value, ConnectorError> {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(route.split('/'));
        }
        let mut retries = 0;
        let mut refreshed = false;
        loop {
            if let Some(limiter) = &self.limiter {
                limiter.acquire().await?;
            }
            let token = self.bearer.token().await?;
            let result = self.attempt(&url, arg, &token).await;
            // A short-lived token past its four hours (401 `expired_access_token`) or revoked:
            // one new token per call before the 401 stands.
            if let Err(e) = &result
                && e.status() == Some(401)
                && !refreshed
                && self.bearer.refused(&token).await
            {
                refreshed = true;
                tracing::debug!(url = %url, "Dropbox refused the access token; getting a new one");
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
                    tracing::debug!(url = %url, error = %e, wait_ms = wait.as_millis() as u64, "retrying Dropbox call");
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn attempt(&self, url: &Url, arg: &Value, token: &Secret) -> Result<Value, ConnectorError> {
        let transport = |kind: TransportKind, e: &reqwest::Error| ConnectorError::Transport {
            kind,
            method: "POST".into(),
            url: url.to_string(),
            message: error_chain(e),
        };
        let response = self
            .http
            .post(url.clone())
            .header(USER_AGENT, concat!("tenure/", env!("CARGO_PKG_VERSION")))
            .bearer_auth(token.expose())
            .json(arg)
            .send()
            .await
            .map_err(|e| {
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
                    method: "POST".to_owned(),
                    url: url.to_string(),
                    message: too_large.to_string(),
                },
            })?;
        if status.is_success() {
            return Ok(if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            });
        }
        Err(dropbox_error(url, status, &headers, &bytes))
    }
}

/// A Dropbox error as a [`ConnectorError`]: a 409 naming a missing member is "not found", one
/// naming a taken address a conflict; 429 and 5xx retryable after `Retry-After`.
pub(crate) fn dropbox_error(url: &Url, status: StatusCode, headers: &HeaderMap, bytes: &[u8]) -> ConnectorError {
    let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let summary = body["error_summary"].as_str().map(str::to_owned).or_else(|| {
        let text = String::from_utf8_lossy(bytes).trim().to_owned();
        (!text.is_empty()).then_some(text)
    });
    let tag = summary.as_deref().unwrap_or_default().split('/').next().unwrap_or_default().trim_end_matches('.');
    let (method, url) = ("POST".to_owned(), url.to_string());
    match (status.as_u16(), tag) {
        (409, "user_not_found" | "id_not_found" | "user_not_in_team" | "member_not_found") => {
            ConnectorError::NotFound { method, url, detail: summary }
        }
        (
            409,
            "user_already_on_team"
            | "email_address_already_in_use"
            | "duplicate_member_persistent_id"
            | "duplicate_external_member_id",
        ) => ConnectorError::Conflict { method, url, scim_type: None, detail: summary },
        (status, _) => ConnectorError::Status {
            method,
            url,
            status,
            scim_type: None,
            detail: summary,
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
    }
}
