//! The webhooks cloud sources notify: Google Workspace push channels (`/hooks/google/{tenant}`)
//! and Microsoft Graph change notifications (`/hooks/graph/{tenant}`), under the public URL of
//! `serve`. No admin token: the channel's id and secret (Google's channel token, Graph's
//! `clientState`) are the proof, checked by the engine (`source_events.rs`). A valid
//! notification starts a sync of its source within seconds and is answered at once; the sync
//! runs after the answer.
//!
//! Contracts: <https://developers.google.com/admin-sdk/directory/v1/guides/push> (headers
//! `X-Goog-Channel-ID`, `X-Goog-Channel-Token`, `X-Goog-Resource-State`; a 2xx is success),
//! <https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks> (validation:
//! `?validationToken=` echoed as `text/plain` with 200 within 10 seconds; notifications answered
//! with 202 within 3 seconds).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use tenure_engine::{Engine, Notified};

use crate::ServerState;

/// Largest notification body read: Graph batches notifications, a few kilobytes each.
const MAX_BODY: usize = 1 << 20;

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route(&format!("{}/{{tenant}}", tenure_engine::GOOGLE_HOOK_PATH), post(google))
        .route(&format!("{}/{{tenant}}", tenure_engine::GRAPH_HOOK_PATH), post(graph))
}

/// The tenant the path names, if it exists (no context is made for a made-up one).
async fn engine(state: &ServerState, tenant: &str) -> Result<Engine, Response> {
    match state.existing_tenant(tenant).await {
        Ok(Some(engine)) => Ok(engine),
        Ok(None) => Err(StatusCode::NOT_FOUND.into_response()),
        Err(e) => {
            tracing::error!(error = %e, "cannot read tenants for a source notification");
            Err(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
    }
}

fn failed(e: tenure_engine::EngineError) -> Response {
    tracing::error!(error = %e, "cannot handle a source notification");
    // Both services retry a failed delivery.
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

async fn google(State(state): State<ServerState>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    let engine = match engine(&state, &tenant).await {
        Ok(engine) => engine,
        Err(response) => return response,
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(channel) = header("x-goog-channel-id") else {
        return (StatusCode::BAD_REQUEST, "X-Goog-Channel-ID is missing").into_response();
    };
    let state_header = header("x-goog-resource-state").unwrap_or_default();
    match engine.google_notification(channel, header("x-goog-channel-token"), state_header).await {
        Ok(Notified::Sync | Notified::Ignored) => StatusCode::OK.into_response(),
        Ok(Notified::Refused) => StatusCode::FORBIDDEN.into_response(),
        Err(e) => failed(e),
    }
}

#[derive(Debug, Deserialize)]
struct Validation {
    #[serde(rename = "validationToken")]
    validation_token: Option<String>,
}

async fn graph(
    State(state): State<ServerState>,
    Path(tenant): Path<String>,
    Query(query): Query<Validation>,
    body: Bytes,
) -> Response {
    // The handshake of a new subscription: the token back, as it came, as plain text. It
    // proves only that this URL answers, so it is echoed for any existing tenant.
    if let Some(token) = query.validation_token {
        if let Err(response) = engine(&state, &tenant).await {
            return response;
        }
        return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], token).into_response();
    }
    let engine = match engine(&state, &tenant).await {
        Ok(engine) => engine,
        Err(response) => return response,
    };
    if body.len() > MAX_BODY {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let Ok(notifications) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not a JSON change notification collection").into_response();
    };
    match engine.graph_notifications(&notifications).await {
        Ok(0) => StatusCode::FORBIDDEN.into_response(),
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(e) => failed(e),
    }
}
