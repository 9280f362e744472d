//! GitHub's REST API as its documentation describes it: JSON with a `message` and a
//! `documentation_url` on errors, pages linked by the `Link` header, and two kinds of rate limit.
//!
//! - Errors: https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api
//!   (`{"message": ..., "documentation_url": ..., "errors": [...]}`; 422 "Validation Failed").
//! - Pagination: https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
//!   (`per_page` up to 100; follow `Link: <...>; rel="next"` until there is none).
//! - Rate limits: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
//!   (primary: `x-ratelimit-remaining: 0` on a 403 or 429, wait until `x-ratelimit-reset`, epoch
//!   seconds; secondary: a 403 or 429 with `retry-after` seconds, or without it at least a minute).

use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tenure_core::Secret;
use url::Url;

use crate::client::{ClientOptions, error_chain, retry_wait};
use crate::error::{ConnectorError, TransportKind};

/// The REST API version every request names (`X-GitHub-Api-Version`).
pub const API_VERSION: &str = "2022-11-28";

#[derive(Debug, Clone)]
pub(crate) struct Rest {
    http: reqwest::Client,
    /// `https://api.github.com` (or a fake's address), without a trailing slash.
    base: Url,
    token: Secret,
    pub(crate) options: ClientOptions,
    limiter: Option<std::sync::Arc<crate::RateLimiter>>,
}

pub(crate) struct Answer {
    pub headers: HeaderMap,
    pub body: Value,
}

impl Rest {
    pub(crate) fn new(base: &str, token: Secret, options: ClientOptions) -> Result<Self, ConnectorError> {
        let mut base = Url::parse(base.trim()).map_err(|e| ConnectorError::Config(format!("API URL {base:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ConnectorError::Config(format!("API URL {base} must be an http(s) URL")));
        }
        if tenure_sources::cloud_http::is_metadata_address(&base) {
            return Err(ConnectorError::Config(format!(
                "API URL {base}: a link-local or cloud metadata address is not allowed (the token would go there)"
            )));
        }
        if let Ok(mut path) = base.path_segments_mut() {
            path.pop_if_empty();
        }
        let http = tenure_outbound::client_builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| ConnectorError::Config(format!("HTTP client: {}", error_chain(&e))))?;
        Ok(Self { http, base, token, options, limiter: None })
    }

    pub(crate) fn with_rate_limiter(mut self, limiter: std::sync::Arc<crate::RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// One request, retried on transport failures, 5xx and both rate limits (waiting as GitHub
    /// says, within `max_retry_wait`).
    pub(crate) async fn send(&self, method: Method, url: &Url, body: Option<&Value>) -> Result<Answer, ConnectorError> {
        let mut retries = 0;
        loop {
            if let Some(limiter) = &self.limiter {
                limiter.acquire().await?;
            }
            match self.attempt(method.clone(), url, body).await {
                Ok(answer) => return Ok(answer),
                Err(e) if e.is_retryable() && retries < self.options.max_retries => {
                    let wait = retry_wait(&self.options, &e, retries);
                    if e.status().is_some_and(|s| s == 403 || s == 429)
                        && let Some(limiter) = &self.limiter
                    {
                        limiter.hold_off(wait);
                    }
                    tracing::debug!(url = %url, error = %e, wait_ms = wait.as_millis() as u64, "retrying GitHub request");
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn attempt(&self, method: Method, url: &Url, body: Option<&Value>) -> Result<Answer, ConnectorError> {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .header(ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION)
            .header(USER_AGENT, concat!("tenure/", env!("CARGO_PKG_VERSION")))
            .bearer_auth(self.token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        tenure_outbound::check_url_host(url).map_err(|r| ConnectorError::Config(r.to_string()))?;
        let response = request.send().await.map_err(|e| match tenure_outbound::refusal_in(&e) {
            Some(refused) => ConnectorError::Config(refused.to_string()),
            None => ConnectorError::Transport {
                kind: if e.is_timeout() {
                    TransportKind::Timeout
                } else if e.is_connect() {
                    TransportKind::Connect
                } else {
                    TransportKind::Io
                },
                method: method.to_string(),
                url: url.to_string(),
                message: error_chain(&e),
            },
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes =
            tenure_outbound::read_body(response, tenure_outbound::MAX_RESPONSE_BODY).await.map_err(|e| match e {
                tenure_outbound::BodyError::Http(e) => ConnectorError::Transport {
                    kind: TransportKind::Io,
                    method: method.to_string(),
                    url: url.to_string(),
                    message: error_chain(&e),
                },
                too_large => ConnectorError::InvalidResponse {
                    method: method.to_string(),
                    url: url.to_string(),
                    message: too_large.to_string(),
                },
            })?;
        let body: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if status.is_success() {
            return Ok(Answer { headers, body });
        }
        Err(github_error(&method, url, status, &headers, &body))
    }

    /// Every item of a listing, following `Link: rel="next"` from `per_page=100`.
    pub(crate) async fn list(&self, url: &Url) -> Result<Vec<Value>, ConnectorError> {
        let mut next = Some({
            let mut first = url.clone();
            first.query_pairs_mut().append_pair("per_page", "100");
            first
        });
        let mut all = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 10_000 {
                return Err(ConnectorError::InvalidResponse {
                    method: "GET".into(),
                    url: url.to_string(),
                    message: "more than 10,000 pages: the Link header loops".into(),
                });
            }
            let answer = self.send(Method::GET, &url, None).await?;
            match answer.body {
                Value::Array(items) => all.extend(items),
                other => {
                    return Err(ConnectorError::InvalidResponse {
                        method: "GET".into(),
                        url: url.to_string(),
                        message: format!("expected a JSON array, got {other}"),
                    });
                }
            }
            next = next_link(&answer.headers).and_then(|l| Url::parse(&l).ok());
            // A next link must stay on the API's host: the token goes with it.
            if next.as_ref().is_some_and(|n| n.origin() != self.base.origin()) {
                return Err(ConnectorError::InvalidResponse {
                    method: "GET".into(),
                    url: url.to_string(),
                    message: "a Link header points to another host".into(),
                });
            }
        }
        Ok(all)
    }
}

/// The `rel="next"` target of a `Link` header (RFC 8288), if any.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get("link")?.to_str().ok()?;
    raw.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
        });
        is_next.then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
    })
}

/// A GitHub error as a [`ConnectorError`]: both rate limits become retryable statuses with the
/// wait GitHub asks for; 404 is "not found"; everything else carries GitHub's `message` and
/// validation `errors`.
fn github_error(method: &Method, url: &Url, status: StatusCode, headers: &HeaderMap, body: &Value) -> ConnectorError {
    let message = body.get("message").and_then(Value::as_str).unwrap_or("").to_owned();
    let details: Vec<String> = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .map(|e| e.get("message").and_then(Value::as_str).map_or_else(|| e.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let detail = if details.is_empty() { message.clone() } else { format!("{message}: {}", details.join("; ")) };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let throttled = matches!(status.as_u16(), 403 | 429)
        && (header("retry-after").is_some()
            || header("x-ratelimit-remaining") == Some("0")
            || message.to_ascii_lowercase().contains("rate limit"));
    if status == StatusCode::NOT_FOUND {
        return ConnectorError::NotFound { method: method.to_string(), url: url.to_string(), detail: Some(detail) };
    }
    let retry_after = if throttled {
        let asked = header(RETRY_AFTER.as_str()).and_then(|v| v.parse::<u64>().ok()).map(Duration::from_secs);
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok()).map(|reset| {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            Duration::from_secs(u64::try_from(reset - now).unwrap_or(0).max(1))
        });
        // GitHub: a secondary limit without retry-after means "at least a minute".
        Some(
            asked
                .or(if header("x-ratelimit-remaining") == Some("0") { reset } else { None })
                .unwrap_or(Duration::from_secs(60)),
        )
    } else {
        None
    };
    ConnectorError::Status {
        method: method.to_string(),
        url: url.to_string(),
        // A throttled 403 is reported as 429 so callers and the queue treat it as throttling,
        // not as refused credentials.
        status: if throttled { 429 } else { status.as_u16() },
        scim_type: None,
        detail: Some(detail).filter(|d| !d.is_empty()),
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn next_link_is_found_among_the_others() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static(
                "<https://api.github.com/orgs/a/members?per_page=100&page=3>; rel=\"next\", <https://api.github.com/orgs/a/members?per_page=100&page=9>; rel=\"last\"",
            ),
        );
        assert_eq!(next_link(&h).as_deref(), Some("https://api.github.com/orgs/a/members?per_page=100&page=3"));
        h.insert("link", HeaderValue::from_static("<https://x/y?page=1>; rel=\"prev\""));
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn both_rate_limits_are_retryable_with_githubs_wait() {
        let url = Url::parse("https://api.github.com/orgs/a/members").unwrap();
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        let body = serde_json::json!({"message": "You have exceeded a secondary rate limit", "documentation_url": "x"});
        let e = github_error(&Method::GET, &url, StatusCode::FORBIDDEN, &h, &body);
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        let reset = time::OffsetDateTime::now_utc().unix_timestamp() + 30;
        h.insert("x-ratelimit-reset", HeaderValue::from_str(&reset.to_string()).unwrap());
        let e = github_error(
            &Method::GET,
            &url,
            StatusCode::FORBIDDEN,
            &h,
            &serde_json::json!({"message": "API rate limit exceeded"}),
        );
        assert!(e.retry_after().is_some_and(|w| w > Duration::from_secs(20) && w <= Duration::from_secs(30)), "{e:?}");
        // A plain 403 is a refusal, not throttling.
        let e = github_error(
            &Method::GET,
            &url,
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            &serde_json::json!({"message": "Must have admin rights"}),
        );
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("Must have admin rights"), "{e}");
        let e = github_error(
            &Method::POST,
            &url,
            StatusCode::UNPROCESSABLE_ENTITY,
            &HeaderMap::new(),
            &serde_json::json!({"message": "Validation Failed", "errors": [{"resource": "OrganizationInvitation", "code": "unprocessable", "message": "Invitee is already a part of this organization"}]}),
        );
        assert!(e.to_string().contains("already a part of this organization"), "{e}");
    }
}
