//! What can go wrong talking to an app, sorted by what the caller should do about it: retry
//! later, look the account up and link it (conflict), or stop and tell an admin.

use std::time::Duration;

use tenure_scim::ScimType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Timeout,
    Connect,
    /// The connection broke while the request or the response was in flight.
    Io,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The client was set up wrongly (bad base URL, page size 0, ...).
    #[error("connector configuration: {0}")]
    Config(String),

    /// The caller asked for something the client refuses to send (no userName, an attribute it
    /// cannot map, a malformed filter attribute).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    #[error("{kind:?} error on {method} {url}: {message}")]
    Transport { kind: TransportKind, method: String, url: String, message: String },

    /// A non-success status other than 404 and 409, with what the app said about it.
    #[error("{method} {url} returned HTTP {status}{}{}", fmt_scim_type(*scim_type), fmt_detail(detail))]
    Status {
        method: String,
        url: String,
        status: u16,
        scim_type: Option<ScimType>,
        detail: Option<String>,
        retry_after: Option<Duration>,
    },

    /// 409: the app already holds a resource with one of these unique values (RFC 7644 §3.3), so
    /// the caller can find it and link it instead.
    #[error("{method} {url} conflicts with an existing resource{}{}", fmt_scim_type(*scim_type), fmt_detail(detail))]
    Conflict { method: String, url: String, scim_type: Option<ScimType>, detail: Option<String> },

    #[error("{method} {url}: not found{}", fmt_detail(detail))]
    NotFound { method: String, url: String, detail: Option<String> },

    /// The app answered success with a body we cannot use; retrying will not change it.
    #[error("unexpected response from {method} {url}: {message}")]
    InvalidResponse { method: String, url: String, message: String },

    /// The app's OAuth 2.0 authorization server did not issue a token (RFC 6749 §5.2), or
    /// answered with something that is not a usable token response.
    #[error("OAuth token request to {token_url} failed{}: {error}{}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default(), fmt_detail(description))]
    OAuth { token_url: String, status: Option<u16>, error: String, description: Option<String> },

    /// The connector cannot do this in the app at all (see its descriptor).
    #[error("the app's connector cannot {operation}")]
    Unsupported { operation: String },

    /// The app's user-consented OAuth grant (authorization code, RFC 6749 §4.1) is missing or
    /// no longer honoured: the authorization server refused the refresh token (`invalid_grant`,
    /// §5.2: revoked, expired, or consent withdrawn). Only an admin consenting again fixes it.
    #[error(
        "the app's OAuth authorization is not usable: {reason}; re-authorize the app (Verify, or `tenure app authorize APP`)"
    )]
    Reauthorize { reason: String },

    /// The app's OAuth tokens could not be read from or saved to Tenure's store.
    #[error("the app's stored OAuth tokens: {message}")]
    TokenStore { message: String, retryable: bool },

    /// The app answered with an error its vendor documents as needing an admin (a plan without
    /// SCIM, SSO not enabled, ...): no retry helps. `message` is written for the admin.
    #[error("{message} (HTTP {status})")]
    Vendor { vendor: &'static str, code: String, status: u16, message: String },

    /// A lookup that must identify one account matched several.
    #[error("{count} accounts match {filter}; refusing to pick one")]
    Ambiguous { filter: String, count: usize },

    /// The app's list does not add up (see `paging::PagingFault`): it cannot be read as
    /// complete, so nothing may be created or deprovisioned from it. The app's fault; a retry
    /// does not help.
    #[error("listing {url} cannot be trusted: {fault}")]
    Paging { url: String, fault: String },

    /// The list changed while it was read: its `totalResults` moved between pages, and again
    /// when read once more. The read raced writes (during a wave of creates, Tenure's own), so
    /// it cannot be trusted as complete; read in a quiet moment it can. A paging fault too.
    #[error("listing {url} raced changes to it: {fault}")]
    ListChanging { url: String, fault: String },

    /// One of the app's budgets over a long window (an hour, a day) is spent: the request was
    /// not sent. Not retried within the request (the wait is long); the queue holds the
    /// operation until the window frees, without counting an attempt.
    #[error("{0}")]
    WindowSpent(#[from] crate::ratelimit::WindowSpent),
}

fn fmt_scim_type(t: Option<ScimType>) -> String {
    t.map(|t| format!(" ({t:?})")).unwrap_or_default()
}

fn fmt_detail(d: &Option<String>) -> String {
    d.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
}

impl ConnectorError {
    /// True when the same request may succeed later: transport failures, 429, 408 and 5xx other
    /// than 501, which says the app does not implement the request (RFC 9110 §15.6.2) and will
    /// not later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status == 408 || (*status >= 500 && *status != 501),
            // The server's own trouble (RFC 6749 §4.1.2.1 names these two); a refused client,
            // grant or scope stays refused until an admin changes the app's settings.
            Self::OAuth { status, error, .. } => {
                matches!(error.as_str(), "temporarily_unavailable" | "server_error")
                    || status.is_some_and(|s| s == 429 || s == 408 || s >= 500)
            }
            Self::TokenStore { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// The wait the app asked for with `Retry-After`, uncapped.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            Self::WindowSpent(spent) => {
                Some(spent.until.duration_since(std::time::SystemTime::now()).unwrap_or_default())
            }
            _ => None,
        }
    }

    /// The HTTP status the app answered with, when it answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Conflict { .. } => Some(409),
            Self::NotFound { .. } => Some(404),
            Self::Vendor { status, .. } => Some(*status),
            // Client credentials refused: reported as 401 whatever the server answered (RFC 6749
            // §5.2 allows 400 or 401 for invalid_client), so callers treat it like a refused token.
            Self::OAuth { error, .. } if matches!(error.as_str(), "invalid_client" | "unauthorized_client") => {
                Some(401)
            }
            Self::OAuth { status, .. } => *status,
            // Like a refused token: the app's credentials, not the request, are at fault.
            Self::Reauthorize { .. } => Some(401),
            _ => None,
        }
    }

    pub fn scim_type(&self) -> Option<ScimType> {
        match self {
            Self::Status { scim_type, .. } | Self::Conflict { scim_type, .. } => *scim_type,
            _ => None,
        }
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// A budget over a long window is spent: nothing was sent, and the same request may go later.
    pub fn is_window_spent(&self) -> bool {
        matches!(self, Self::WindowSpent(_))
    }

    /// The app's list cannot be read as complete: it pages (or partitions) inconsistently, or
    /// it changed while read.
    pub fn is_paging_fault(&self) -> bool {
        matches!(self, Self::Paging { .. } | Self::ListChanging { .. })
    }

    /// The app's list changed while read: worth reading again once writes to it pause.
    pub fn is_list_changing(&self) -> bool {
        matches!(self, Self::ListChanging { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> ConnectorError {
        ConnectorError::Status {
            method: "GET".into(),
            url: "http://x/Users".into(),
            status: code,
            scim_type: None,
            detail: Some("nope".into()),
            retry_after: Some(Duration::from_secs(2)),
        }
    }

    #[test]
    fn retryability_follows_the_status() {
        assert!(status(429).is_retryable());
        assert!(status(503).is_retryable());
        assert!(!status(501).is_retryable(), "not implemented stays not implemented");
        assert!(!status(400).is_retryable());
        assert!(!status(401).is_retryable());
        assert_eq!(status(429).retry_after(), Some(Duration::from_secs(2)));
        let transport = ConnectorError::Transport {
            kind: TransportKind::Timeout,
            method: "GET".into(),
            url: "http://x".into(),
            message: "timed out".into(),
        };
        assert!(transport.is_retryable());
        let conflict = ConnectorError::Conflict {
            method: "POST".into(),
            url: "u".into(),
            scim_type: Some(ScimType::Uniqueness),
            detail: None,
        };
        assert!(!conflict.is_retryable());
        assert_eq!(conflict.status(), Some(409));
        assert!(status(500).to_string().contains("HTTP 500: nope"));
    }
}
