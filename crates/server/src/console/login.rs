//! Signing in and out. A sign-in names no reason for a refusal (wrong email, wrong password and
//! too many attempts read alike), and opens a session through the engine (audited in the
//! admin's tenant); the browser gets its id in a cookie only scripts cannot read.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tenure_core::Secret;
use tenure_engine::admin::sessions::{self, SignInError};

use super::auth::{COOKIE, ClientIp, Signed, cookie};
use super::view::{Failure, render};
use crate::ServerState;

const REFUSED: &str = "Wrong email or password, or too many attempts: wait a few minutes and try again.";

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    email: &'a str,
    error: Option<&'a str>,
}

pub async fn form(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, COOKIE)
        && matches!(sessions::session(&state.store, id).await, Ok(Some(_)))
    {
        return Redirect::to("/").into_response();
    }
    render(&LoginPage { email: "", error: None })
}

#[derive(Deserialize)]
pub struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn submit(
    State(state): State<ServerState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Response {
    // A sign-in form posted from another site would sign the browser in as someone else.
    if !same_origin(&state, &headers) {
        return Failure::new(StatusCode::FORBIDDEN, "A sign-in must come from this server's own page.").into_response();
    }
    let refused = |status| {
        let mut response = render(&LoginPage { email: &form.email, error: Some(REFUSED) });
        *response.status_mut() = status;
        response
    };
    let blocked = match state.sign_in_limits.blocked(&state.store, &form.email, ip).await {
        Ok(blocked) => blocked,
        Err(e) => return Failure::from(tenure_engine::EngineError::from(e)).into_response(),
    };
    if blocked {
        tracing::warn!(email = %form.email, "console: sign-in refused, too many attempts");
        return refused(StatusCode::TOO_MANY_REQUESTS);
    }
    match sessions::sign_in(&state.store, &form.email, Secret::new(form.password.clone())).await {
        Ok(signed) => {
            if let Err(e) = state.sign_in_limits.succeeded(&state.store, &form.email).await {
                tracing::warn!(error = %e, "console: could not forget the failed sign-ins of an admin who signed in");
            }
            let mut response = Redirect::to("/").into_response();
            let value = format!(
                "{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax{}",
                signed.session_id.expose(),
                if state.served_over_tls() { "; Secure" } else { "" }
            );
            match HeaderValue::from_str(&value) {
                Ok(v) => {
                    response.headers_mut().insert(header::SET_COOKIE, v);
                    response
                }
                Err(_) => Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "the session cookie could not be set")
                    .into_response(),
            }
        }
        Err(SignInError::Refused) => {
            tracing::info!(email = %form.email, "console: sign-in refused");
            if let Err(e) = state.sign_in_limits.failed(&state.store, &form.email, ip).await {
                return Failure::from(tenure_engine::EngineError::from(e)).into_response();
            }
            refused(StatusCode::UNAUTHORIZED)
        }
        Err(SignInError::Engine(e)) => Failure::from(e).into_response(),
    }
}

/// Browsers say where a form came from: `Sec-Fetch-Site` (always, in current ones) and `Origin`,
/// which a page under `Referrer-Policy: no-referrer` sends as `null`. Either naming another
/// site refuses; a client that sends neither (a script) has nothing to compare.
fn same_origin(state: &ServerState, headers: &HeaderMap) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| *o != "null") else {
        return true;
    };
    if state.public_url.as_deref() == Some(origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

pub async fn sign_out(signed: Signed) -> Response {
    if let Err(e) = signed.admin().sign_out(&signed.session_id).await {
        return Failure::from(e).into_response();
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("tenure_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    response
}
