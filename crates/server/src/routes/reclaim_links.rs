//! The pages a license reclaim's links open (`/reclaim/{tenant}/{token}`, under `serve`'s
//! public URL). No sign-in: the signed, single-use token is the proof (checked by the engine,
//! `license_reclaim.rs`). A GET only shows the question and a button; the POST the button sends
//! answers it, so a mail scanner that follows every link in a message answers nothing.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tenure_engine::license_reclaim::{ReclaimAction, ReclaimLink};
use tenure_engine::{Engine, EngineError};

use crate::ServerState;

pub fn routes() -> Router<ServerState> {
    Router::new().route("/reclaim/{tenant}/{token}", get(show).post(answer))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta name=\"referrer\" content=\"no-referrer\"></head><body><main><h1>{t}</h1>{body}</main></body></html>",
        t = escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
        ],
        html,
    )
        .into_response()
}

fn refused(e: &EngineError) -> Response {
    match e {
        EngineError::NotFound(_) => page(StatusCode::NOT_FOUND, "Link not valid", "<p>This link is not valid.</p>"),
        EngineError::Refused(why) => page(StatusCode::CONFLICT, "Already settled", &format!("<p>{}</p>", escape(why))),
        other => {
            tracing::error!(error = %other, "cannot handle a reclaim link");
            page(StatusCode::SERVICE_UNAVAILABLE, "Try again later", "<p>Tenure cannot answer right now.</p>")
        }
    }
}

/// The tenant the path names, if it exists; a link to no tenant is not valid.
async fn engine(state: &ServerState, tenant: &str) -> Result<Engine, Response> {
    match state.existing_tenant(tenant).await {
        Ok(Some(engine)) => Ok(engine),
        Ok(None) => Err(refused(&EngineError::NotFound("reclaim link".into()))),
        Err(e) => Err(refused(&e)),
    }
}

fn question(link: &ReclaimLink) -> String {
    let q = &link.question;
    format!(
        "<p>{} ({}) has not used <strong>{}</strong> since {} ({} days).</p>",
        escape(&q.person),
        escape(&q.user_name),
        escape(&q.pool),
        escape(&q.last_active),
        q.unused_days
    )
}

async fn show(State(state): State<ServerState>, Path((tenant, token)): Path<(String, String)>) -> Response {
    let engine = match engine(&state, &tenant).await {
        Ok(engine) => engine,
        Err(response) => return response,
    };
    let link = match engine.reclaim_link(&token).await {
        Ok(link) => link,
        Err(e) => return refused(&e),
    };
    if let Some(closed) = &link.closed {
        return page(StatusCode::OK, "Already settled", &format!("{}<p>{}</p>", question(&link), escape(closed)));
    }
    let (title, button) = match link.action {
        ReclaimAction::Keep => ("Keep this license?", "Yes, I still need it"),
        ReclaimAction::Release => ("Release this license?", "Release it"),
    };
    let body = format!(
        "{}<form method=\"post\"><button type=\"submit\" name=\"confirm\" value=\"yes\">{button}</button></form>",
        question(&link)
    );
    page(StatusCode::OK, title, &body)
}

async fn answer(State(state): State<ServerState>, Path((tenant, token)): Path<(String, String)>) -> Response {
    let engine = match engine(&state, &tenant).await {
        Ok(engine) => engine,
        Err(response) => return response,
    };
    match engine.answer_reclaim(&token).await {
        Ok(link) => {
            let said = match link.action {
                ReclaimAction::Keep => "Kept. Thank you: the license stays yours.",
                ReclaimAction::Release => "Released. Thank you: the seat goes back to the pool.",
            };
            page(StatusCode::OK, "Done", &format!("{}<p>{said}</p>", question(&link)))
        }
        Err(e) => refused(&e),
    }
}
