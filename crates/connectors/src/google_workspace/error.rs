//! Google's errors as [`ConnectorError`]s.
//!
//! The Directory API answers `{"error": {"code", "message", "errors": [{"domain", "reason",
//! "message"}]}}` (<https://developers.google.com/workspace/admin/directory/v1/guides/troubleshoot-error-codes>).
//! It throttles with 403 *or* 429 and a reason of `rateLimitExceeded`, `userRateLimitExceeded` or
//! `quotaExceeded`, and asks for exponential backoff
//! (<https://developers.google.com/workspace/admin/directory/v1/limits>).

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tenure_sources::CloudError;
use url::Url;

use crate::error::{ConnectorError, TransportKind};

/// Google's reasons for "slow down".
const THROTTLE_REASONS: &[&str] = &["rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"];

/// Longest slice of a non-JSON error body kept in a message.
const MAX_DETAIL: usize = 300;

/// A URL for errors and logs: page tokens and search queries (people's addresses) stay out.
pub(crate) fn shown(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.query().is_none() {
        return shown.to_string();
    }
    shown.set_query(None);
    format!("{shown}?…")
}

/// `(message, first reason)` of a Google error body; a body that is not Google's JSON (a proxy's
/// HTML page) is kept as a short snippet.
fn parts(body: &[u8]) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let Some(error) = error.filter(|e| e.is_object()) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let snippet = match text.char_indices().nth(MAX_DETAIL) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_owned(),
        };
        return (snippet, String::new());
    };
    let message = error.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
    let reason = error
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|items| items.iter().find_map(|e| e.get("reason").and_then(Value::as_str)))
        .unwrap_or_default()
        .to_owned();
    (message, reason)
}

/// The error for a non-success answer.
pub(crate) fn status_error(
    method: &Method,
    url: &Url,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ConnectorError {
    let (message, reason) = parts(body);
    let with_reason = if reason.is_empty() { message.clone() } else { format!("{message} ({reason})") };
    let (method_text, url_text) = (method.to_string(), shown(url));
    let detail = (!with_reason.is_empty()).then(|| with_reason.clone());
    if status == 429 || THROTTLE_REASONS.contains(&reason.as_str()) {
        // Reported as 429 whatever Google's status: that is what "slow down, then retry" is to
        // every caller (the rate limiter holds off, the queue retries without blaming the app's
        // credentials, which a 403 would).
        return ConnectorError::Status {
            method: method_text,
            url: url_text,
            status: 429,
            scim_type: None,
            detail: Some(format!("Google answered HTTP {status}: {with_reason}")),
            retry_after,
        };
    }
    match status {
        400 => {
            ConnectorError::InvalidRequest(format!("Google Workspace refused {method_text} {url_text}: {with_reason}"))
        }
        401 => ConnectorError::Vendor {
            vendor: "google_workspace",
            status: 401,
            code: if reason.is_empty() { "authError".into() } else { reason },
            message: format!(
                "Google Workspace refused the access token for {method_text} {url_text}: {with_reason}; check the \
                 service account's domain-wide delegation"
            ),
        },
        403 => ConnectorError::Vendor {
            vendor: "google_workspace",
            status: 403,
            code: if reason.is_empty() { "forbidden".into() } else { reason },
            message: format!(
                "Google Workspace denied {method_text} {url_text}: {with_reason}; the impersonated admin needs user \
                 and group management privileges, and the service account the admin.directory.user and \
                 admin.directory.group scopes"
            ),
        },
        404 => ConnectorError::NotFound { method: method_text, url: url_text, detail },
        409 => ConnectorError::Conflict { method: method_text, url: url_text, scim_type: None, detail },
        // 412 `conditionNotMet`: a precondition of the request does not hold (the resource
        // changed, or is not ready); the same request will keep failing, so it is not retried.
        _ => {
            ConnectorError::Status { method: method_text, url: url_text, status, scim_type: None, detail, retry_after }
        }
    }
}

/// A token endpoint failure, in the connector's terms. A refused service account is a 401: the
/// engine pauses the app until an admin fixes the key or the delegation.
pub(crate) fn token_error(e: CloudError) -> ConnectorError {
    let post = || "POST".to_owned();
    match e {
        CloudError::Credentials { url, code, detail, .. } => ConnectorError::Vendor {
            vendor: "google_workspace",
            status: 401,
            code: code.clone(),
            message: format!(
                "Google's token endpoint {url} refused the service account ({code}: {detail}); check the key, the \
                 admin to impersonate, and that the client id is granted the admin.directory.user and \
                 admin.directory.group scopes under domain-wide delegation"
            ),
        },
        CloudError::Denied { status, code, message, .. } => {
            ConnectorError::Vendor { vendor: "google_workspace", status, code, message }
        }
        CloudError::Throttled { url, reason, .. } => ConnectorError::Status {
            method: post(),
            url,
            status: 429,
            scim_type: None,
            detail: Some(reason),
            retry_after: None,
        },
        CloudError::Status { request, status, code, message, .. } => ConnectorError::Status {
            method: post(),
            url: request,
            status,
            scim_type: None,
            detail: Some(format!("{code}: {message}")),
            retry_after: None,
        },
        // The token endpoint is part of reaching the app at all.
        CloudError::Transport { request, message, .. } => {
            ConnectorError::Transport { kind: TransportKind::Connect, method: post(), url: request, message }
        }
        CloudError::Config { reason, .. } => ConnectorError::Config(reason),
        CloudError::InvalidResponse { url, message, .. } => {
            ConnectorError::InvalidResponse { method: post(), url, message }
        }
        other @ CloudError::CursorExpired { .. } => {
            ConnectorError::InvalidResponse { method: post(), url: String::new(), message: other.to_string() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: u16, reason: &str, message: &str) -> Vec<u8> {
        serde_json::json!({"error": {"code": code, "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}]}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn each_documented_error_maps_to_what_the_caller_should_do() {
        let url = Url::parse("https://admin.googleapis.com/admin/directory/v1/users?query=email%3D'a%40x'").unwrap();
        let m = Method::POST;
        let throttled = status_error(&m, &url, 403, None, &body(403, "userRateLimitExceeded", "Rate Limit Exceeded"));
        assert!(throttled.is_retryable());
        assert_eq!(throttled.status(), Some(429));
        assert!(status_error(&m, &url, 429, None, &body(429, "rateLimitExceeded", "x")).is_retryable());
        let denied =
            status_error(&m, &url, 403, None, &body(403, "forbidden", "Not Authorized to access this resource/api"));
        assert!(!denied.is_retryable());
        assert_eq!(denied.status(), Some(403));
        assert!(status_error(&m, &url, 409, None, &body(409, "duplicate", "Entity already exists.")).is_conflict());
        assert!(
            status_error(&m, &url, 404, None, &body(404, "notFound", "Resource Not Found: userKey")).is_not_found()
        );
        let bad = status_error(&m, &url, 400, None, &body(400, "invalid", "Invalid Given/Family Name: FamilyName"));
        assert!(matches!(&bad, ConnectorError::InvalidRequest(t) if t.contains("Invalid Given/Family Name")));
        assert!(!bad.to_string().contains("a%40x"), "queries stay out of errors: {bad}");
        let unauthorized = status_error(&m, &url, 401, None, &body(401, "authError", "Invalid Credentials"));
        assert_eq!(unauthorized.status(), Some(401));
        let precondition = status_error(&m, &url, 412, None, &body(412, "conditionNotMet", "Precondition Failed"));
        assert!(!precondition.is_retryable());
        assert!(status_error(&m, &url, 503, None, b"<html>unavailable</html>").is_retryable());
    }
}
