//! The OAuth 2.0 redirect URI the authorization server sends an admin's browser back to after
//! Verify (no admin token: the one-time `state` is the proof, RFC 6749 §10.12). Starting an
//! authorization and the connection test are admin routes (`routes/oauth.rs`).
//!
//! The callback answers a small HTML page for the person in the browser. It echoes nothing
//! unescaped, is never cached, and sends no `Referer` onwards: its URL carries the code
//! (RFC 6749 §10.5, OAuth 2.0 Security BCP RFC 9700 §4.2.4).

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tenure_engine::{AuthorizationError, Callback};

use crate::ServerState;

/// The redirect URI's path under the server's public URL.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// How long the callback waits for the authorization server's token endpoint.
const EXCHANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The redirect URI, at the server's root.
pub fn callback_routes() -> Router<ServerState> {
    Router::new().route(CALLBACK_PATH, get(callback))
}

async fn callback(State(state): State<ServerState>, Query(query): Query<Callback>) -> Response {
    match tenure_engine::complete_authorization(&state.store, &query, EXCHANGE_TIMEOUT).await {
        Ok(done) => {
            let mut text = format!("Tenure is now authorized to reach {}.", done.app);
            if !done.refresh_token {
                text.push_str(
                    " The authorization server issued no refresh token: when the access token expires, the app \
                     must be authorized again.",
                );
            }
            text.push_str(" You can close this page; Verify tests the connection.");
            page(StatusCode::OK, "App authorized", &text)
        }
        Err(e) => {
            let status = if e.is_bad_request() {
                StatusCode::BAD_REQUEST
            } else if matches!(e, AuthorizationError::Exchange { .. }) {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            if status.is_server_error() {
                tracing::warn!(error = %e, "OAuth callback failed");
            } else {
                tracing::info!(error = %e, "OAuth callback refused");
            }
            page(status, "App not authorized", &e.to_string())
        }
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Tenure: {title}</title></head>\n\
         <body><h1>{title}</h1>\n<p>{text}</p></body></html>\n",
        title = escape(title),
        text = escape(text)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(super::escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
