//! The queue through the admin API: its state, the operations in it, retry and dismiss.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tenure_core::OperationId;
use tenure_engine::Engine;
use tenure_store::OperationStatus;

use crate::ServerState;
use crate::admin::{ApiError, ApiResult, to_json};
use crate::auth::Admin;

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/queue", get(status))
        .route("/operations", get(list))
        .route("/operations/retry", post(retry_all))
        .route("/operations/{id}/retry", post(retry))
        .route("/operations/{id}/dismiss", post(dismiss))
}

async fn status(State(state): State<ServerState>, admin: Admin) -> ApiResult {
    to_json(&Engine::new(state.store.clone(), admin.tenant).queue_status().await?)
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    app: Option<String>,
    limit: Option<i64>,
}

async fn list(State(state): State<ServerState>, admin: Admin, Query(q): Query<ListQuery>) -> ApiResult {
    let status = q.status.as_deref().map(parse_status).transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError(StatusCode::BAD_REQUEST, format!("limit {limit}: must be between 1 and 10000")));
    }
    let engine = Engine::new(state.store.clone(), admin.tenant);
    to_json(&engine.list_operations(status, q.app.as_deref(), limit).await?)
}

fn parse_status(raw: &str) -> Result<OperationStatus, ApiError> {
    serde_json::from_value(json!(raw)).map_err(|_| {
        ApiError(StatusCode::BAD_REQUEST, format!("status {raw:?}: expected pending, succeeded, failed or dismissed"))
    })
}

fn operation_id(raw: &str) -> Result<OperationId, ApiError> {
    raw.parse().map_err(|_| ApiError(StatusCode::BAD_REQUEST, format!("operation id {raw:?} is not a UUID")))
}

async fn retry_all(State(state): State<ServerState>, admin: Admin) -> ApiResult {
    let n = Engine::new(state.store.clone(), admin.tenant).retry_operations(None, "api").await?;
    Ok(axum::Json(json!({"requeued": n})))
}

async fn retry(State(state): State<ServerState>, admin: Admin, Path(id): Path<String>) -> ApiResult {
    let op = operation_id(&id)?;
    let n = Engine::new(state.store.clone(), admin.tenant).retry_operations(Some(op), "api").await?;
    Ok(axum::Json(json!({"requeued": n})))
}

async fn dismiss(State(state): State<ServerState>, admin: Admin, Path(id): Path<String>) -> ApiResult {
    let op = operation_id(&id)?;
    Engine::new(state.store.clone(), admin.tenant).dismiss_operation(op, "api").await?;
    Ok(axum::Json(json!({"dismissed": op})))
}
