//! "Verify" for apps: start an OAuth 2.0 authorization (the browser comes back to
//! `crate::oauth`'s callback) and the connection test.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use tenure_engine::{AuthorizationStart, Verification};

use super::Errors;
use crate::ServerState;
use crate::api::{ApiError, ApiResult, Caller, json};
use crate::oauth::CALLBACK_PATH;

pub fn routes() -> Router<ServerState> {
    Router::new().route("/apps/{app}/oauth/authorize", post(authorize)).route("/apps/{app}/verify", post(verify))
}

/// Starts the app's OAuth authorization-code flow: answers the URL to open in a browser.
#[utoipa::path(post, path = "/api/v1/apps/{app}/oauth/authorize", tag = "apps", params(("app" = String, Path)),
    responses((status = 200, body = Object, description = "AuthorizationStart"), Errors))]
pub async fn authorize(
    State(state): State<ServerState>,
    caller: Caller,
    Path(app): Path<String>,
) -> ApiResult<Response> {
    let Some(public) = state.public_url.as_deref() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the server does not know its public URL, which the authorization server must send the browser back \
             to: start it with --public-url (e.g. https://tenure.example.com)",
        ));
    };
    let redirect_uri = format!("{}{CALLBACK_PATH}", public.trim_end_matches('/'));
    let start: AuthorizationStart = caller.admin().authorize_app(&app, &redirect_uri).await?;
    json(&start)
}

/// Tests the app's connection: authenticates, reads one page of users, probes the endpoint.
#[utoipa::path(post, path = "/api/v1/apps/{app}/verify", tag = "apps", params(("app" = String, Path)),
    responses((status = 200, body = Object, description = "Verification"), Errors))]
pub async fn verify(caller: Caller, Path(app): Path<String>) -> ApiResult<Response> {
    let verdict: Verification = caller.admin().verify_app(&app).await?;
    json(&verdict)
}
