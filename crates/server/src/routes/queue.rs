//! The queue: its state, the operations in it, retry and dismiss.

use axum::Router;
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tenure_core::OperationId;
use tenure_store::OperationStatus;

use super::Errors;
use crate::ServerState;
use crate::api::{ApiError, ApiResult, Caller, Params, json};

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/queue", get(status))
        .route("/operations", get(list))
        .route("/operations/retry", post(retry_all))
        .route("/operations/{id}/retry", post(retry))
        .route("/operations/{id}/dismiss", post(dismiss))
}

/// Queued, waiting and failed operations, and the apps that keep failing.
#[utoipa::path(get, path = "/api/v1/queue", tag = "queue", responses((status = 200, body = Object, description = "QueueStatus"), Errors))]
pub async fn status(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().queue_status().await?)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// pending, succeeded, failed or dismissed.
    status: Option<String>,
    app: Option<String>,
    /// 1 to 10000 (default 100).
    limit: Option<i64>,
}

/// Operations, newest first.
#[utoipa::path(get, path = "/api/v1/operations", tag = "queue", params(ListQuery), responses((status = 200, body = Vec<Object>), Errors))]
pub async fn list(caller: Caller, Params(q): Params<ListQuery>) -> ApiResult<Response> {
    let status = q.status.as_deref().map(parse_status).transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::field("limit", format!("limit {limit}: must be between 1 and 10000")));
    }
    json(&caller.admin().operations(status, q.app.as_deref(), limit).await?)
}

fn parse_status(raw: &str) -> Result<OperationStatus, ApiError> {
    serde_json::from_value(json!(raw)).map_err(|_| {
        ApiError::field("status", format!("status {raw:?}: expected pending, succeeded, failed or dismissed"))
    })
}

fn operation_id(raw: &str) -> Result<OperationId, ApiError> {
    raw.parse().map_err(|_| ApiError::field("id", format!("operation id {raw:?} is not a UUID")))
}

/// Puts every failed operation back in the queue.
#[utoipa::path(post, path = "/api/v1/operations/retry", tag = "queue", responses((status = 200, body = Object), Errors))]
pub async fn retry_all(caller: Caller) -> ApiResult<Response> {
    let n = caller.admin().retry_operations(None).await?;
    json(&json!({"requeued": n}))
}

/// Puts a failed operation back in the queue.
#[utoipa::path(post, path = "/api/v1/operations/{id}/retry", tag = "queue", params(("id" = String, Path)), responses((status = 200, body = Object), Errors))]
pub async fn retry(caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let n = caller.admin().retry_operations(Some(operation_id(&id)?)).await?;
    json(&json!({"requeued": n}))
}

/// Gives up on a failed or waiting operation.
#[utoipa::path(post, path = "/api/v1/operations/{id}/dismiss", tag = "queue", params(("id" = String, Path)), responses((status = 200, body = Object), Errors))]
pub async fn dismiss(caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let op = operation_id(&id)?;
    caller.admin().dismiss_operation(op).await?;
    json(&json!({"dismissed": op}))
}
