//! The admin JSON API: enough to see the directory, the apps and their accounts, and to plan,
//! apply and sync. Every handler is scoped to the tenant of the caller's token.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tenure_engine::{Engine, EngineError};
use tenure_store::StoreError;

use crate::ServerState;
use crate::auth::Admin;

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/people", get(people))
        .route("/groups", get(groups))
        .route("/apps", get(apps))
        .route("/apps/{app}/accounts", get(accounts))
        .route("/plan", get(plan))
        .route("/explain", get(explain))
        .route("/plans/{id}/approve", post(approve))
        .route("/plans/{id}/reject", post(reject))
        .route("/apply", post(apply))
        .route("/sync", post(sync))
        .merge(crate::audit::routes())
        .merge(crate::operations::routes())
        .merge(crate::accounts::routes())
}

pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"error": self.1}))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            e if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self(status, e.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(s) => s.into(),
            EngineError::NotFound(what) => Self(StatusCode::NOT_FOUND, format!("{what} not found")),
            EngineError::NotHeld { .. } | EngineError::Refused(_) => Self(StatusCode::CONFLICT, e.to_string()),
            EngineError::Invalid(_) => Self(StatusCode::BAD_REQUEST, e.to_string()),
            EngineError::Connector { .. } => Self(StatusCode::BAD_GATEWAY, e.to_string()),
            EngineError::Internal(_) => Self(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            other => Self(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
        }
    }
}

pub type ApiResult = Result<axum::Json<Value>, ApiError>;

pub fn to_json<T: serde::Serialize>(value: &T) -> ApiResult {
    serde_json::to_value(value).map(axum::Json).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn people(State(state): State<ServerState>, admin: Admin) -> ApiResult {
    to_json(&state.store.list_people(admin.tenant).await?)
}

async fn groups(State(state): State<ServerState>, admin: Admin) -> ApiResult {
    to_json(&state.store.list_groups(admin.tenant).await?)
}

async fn apps(State(state): State<ServerState>, admin: Admin) -> ApiResult {
    let mut out = Vec::new();
    for record in state.store.list_apps(admin.tenant).await? {
        let (linked, active) = state.store.account_counts(admin.tenant, record.app.id).await?;
        let assignments = state.store.list_assignments(admin.tenant, record.app.id).await?;
        out.push(json!({
            "app": record.app,
            "assignments": assignments,
            "linked_accounts": linked,
            "active_accounts": active,
        }));
    }
    to_json(&out)
}

async fn accounts(State(state): State<ServerState>, admin: Admin, Path(app): Path<String>) -> ApiResult {
    let record = state.store.app_by_name(admin.tenant, &app).await?;
    to_json(&state.store.list_accounts(admin.tenant, record.app.id).await?)
}

#[derive(Deserialize)]
struct AppFilter {
    app: Option<String>,
}

async fn plan(State(state): State<ServerState>, admin: Admin, Query(filter): Query<AppFilter>) -> ApiResult {
    let engine = Engine::new(state.store.clone(), admin.tenant);
    to_json(&engine.plan(filter.app.as_deref(), tenure_engine::today()).await?)
}

#[derive(Deserialize)]
struct ExplainQuery {
    person: String,
    app: String,
}

/// Why a person has, lacks or will lose an app's account: the structured answer plus the same
/// words `tenure explain` prints.
async fn explain(State(state): State<ServerState>, admin: Admin, Query(q): Query<ExplainQuery>) -> ApiResult {
    let engine = Engine::new(state.store.clone(), admin.tenant);
    let explanation = engine.explain(&q.person, &q.app, tenure_engine::today()).await?;
    let mut body =
        serde_json::to_value(&explanation).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("text".into(), json!(explanation.to_string()));
    }
    Ok(axum::Json(body))
}

async fn approve(State(state): State<ServerState>, admin: Admin, Path(id): Path<String>) -> ApiResult {
    decide(state, admin, id, true).await
}

async fn reject(State(state): State<ServerState>, admin: Admin, Path(id): Path<String>) -> ApiResult {
    decide(state, admin, id, false).await
}

/// An admin's decision on a plan the deprovisioning guard held.
async fn decide(state: ServerState, admin: Admin, id: String, approve: bool) -> ApiResult {
    let plan: tenure_core::PlanId =
        id.parse().map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("plan id {id:?}: {e}")))?;
    let engine = Engine::new(state.store.clone(), admin.tenant);
    let status = engine.decide_held(plan, approve, "api").await?;
    Ok(axum::Json(json!({"plan": plan, "status": status})))
}

async fn apply(State(state): State<ServerState>, admin: Admin, Query(filter): Query<AppFilter>) -> ApiResult {
    let engine = Engine::new(state.store.clone(), admin.tenant);
    let plans = engine.plan(filter.app.as_deref(), tenure_engine::today()).await?;
    to_json(&engine.apply(plans).await?)
}

#[derive(Deserialize)]
struct SourceFilter {
    source: Option<String>,
}

async fn sync(State(state): State<ServerState>, admin: Admin, Query(filter): Query<SourceFilter>) -> ApiResult {
    let engine = Engine::new(state.store.clone(), admin.tenant);
    to_json(&engine.sync(filter.source.as_deref()).await?)
}
