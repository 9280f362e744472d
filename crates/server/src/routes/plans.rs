//! Plans: compute, save, list, show, diff, approve or reject a held plan, apply, explain, and the
//! tenant-wide deprovisioning guard.

use axum::Router;
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tenure_engine::admin::views::{PlanDecision, PlanDocument, SavedPlan, StoredPlanView};
use tenure_engine::admin::{GuardSpec, GuardView};

use super::Errors;
use crate::ServerState;
use crate::api::{ApiError, ApiResult, Body, Caller, Params, created, json};

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/plan", get(plan))
        .route("/plans", get(list).post(save))
        .route("/plans/{id}", get(show))
        .route("/plans/{id}/diff", get(diff))
        .route("/plans/{id}/approve", post(approve))
        .route("/plans/{id}/reject", post(reject))
        .route("/plans/{id}/apply", post(apply_saved))
        .route("/apply", post(apply))
        .route("/explain", get(explain))
        .route("/guard", get(guard).put(set_guard))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AppFilter {
    /// One app, by name (default: every app the caller may plan).
    app: Option<String>,
}

fn plan_id(raw: &str) -> Result<tenure_core::PlanId, ApiError> {
    raw.parse().map_err(|e| ApiError::field("id", format!("plan id {raw:?}: {e}")))
}

/// What would change in the apps, and why: the same document as `tenure plan --json`.
#[utoipa::path(get, path = "/api/v1/plan", tag = "plans", params(AppFilter), responses((status = 200, body = PlanDocument), Errors))]
pub async fn plan(caller: Caller, Params(q): Params<AppFilter>) -> ApiResult<Response> {
    json(&caller.admin().plan(q.app.as_deref()).await?.1)
}

/// Computes the plan and keeps it for review (`tenure plan --save`); never executed.
#[utoipa::path(post, path = "/api/v1/plans", tag = "plans", params(AppFilter), responses((status = 201, body = SavedPlan), Errors))]
pub async fn save(caller: Caller, Params(q): Params<AppFilter>) -> ApiResult<Response> {
    created(&caller.admin().save_plan(q.app.as_deref()).await?.1)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many, newest first (default 20).
    limit: Option<i64>,
}

/// The most recent stored plans (saved, applied, held).
#[utoipa::path(get, path = "/api/v1/plans", tag = "plans", params(ListQuery), responses((status = 200, body = Vec<Object>), Errors))]
pub async fn list(caller: Caller, Params(q): Params<ListQuery>) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("limit", format!("limit {limit}: must be between 1 and 1000")));
    }
    json(&caller.admin().plans(limit).await?)
}

/// A stored plan and its operations.
#[utoipa::path(get, path = "/api/v1/plans/{id}", tag = "plans", params(("id" = String, Path)), responses((status = 200, body = StoredPlanView), Errors))]
pub async fn show(caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    json(&caller.admin().stored_plan(plan_id(&id)?).await?)
}

/// What the plan computed now does differently from a stored one.
#[utoipa::path(get, path = "/api/v1/plans/{id}/diff", tag = "plans", params(("id" = String, Path)), responses((status = 200, body = Object, description = "added and removed operations"), Errors))]
pub async fn diff(caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let (_, diff, _) = caller.admin().plan_diff(plan_id(&id)?).await?;
    json(&diff)
}

/// Approves a plan the deprovisioning guard held: the next apply may carry out the losses it
/// lists, and no others.
#[utoipa::path(post, path = "/api/v1/plans/{id}/approve", tag = "plans", params(("id" = String, Path)), responses((status = 200, body = PlanDecision), Errors))]
pub async fn approve(caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    json(&caller.admin().decide_held(plan_id(&id)?, true).await?)
}

/// Rejects a held plan.
#[utoipa::path(post, path = "/api/v1/plans/{id}/reject", tag = "plans", params(("id" = String, Path)), responses((status = 200, body = PlanDecision), Errors))]
pub async fn reject(caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    json(&caller.admin().decide_held(plan_id(&id)?, false).await?)
}

/// Computes the plan and carries it out through the queue, waiting for it.
#[utoipa::path(post, path = "/api/v1/apply", tag = "plans", params(AppFilter), responses((status = 200, body = Object, description = "ApplyReport"), Errors))]
pub async fn apply(caller: Caller, Params(q): Params<AppFilter>) -> ApiResult<Response> {
    json(&caller.admin().apply(q.app.as_deref()).await?)
}

/// Applies a saved plan exactly as saved (`tenure apply --plan ID`), through the queue and the
/// deprovisioning guard, waiting for it. 409, naming each difference, if its apps would now be
/// planned differently: nothing is queued.
#[utoipa::path(post, path = "/api/v1/plans/{id}/apply", tag = "plans", params(("id" = String, Path)), responses((status = 200, body = Object, description = "ApplyReport, with saved_plan"), Errors))]
pub async fn apply_saved(caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    json(&caller.admin().apply_saved(plan_id(&id)?).await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExplainQuery {
    /// The person's email.
    person: String,
    app: String,
}

/// Why a person has, lacks or will lose an app's account: the structured answer and the same
/// words `tenure explain` prints (`text`).
#[utoipa::path(get, path = "/api/v1/explain", tag = "plans", params(ExplainQuery), responses((status = 200, body = Object), Errors))]
pub async fn explain(caller: Caller, Params(q): Params<ExplainQuery>) -> ApiResult<Response> {
    let explanation = caller.admin().explain(&q.person, &q.app).await?;
    let mut body = serde_json::to_value(&explanation)
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("text".into(), json!(explanation.to_string()));
    }
    json(&body)
}

/// The tenant-wide deprovisioning guard's limits (people across every app within a window) and
/// the holds waiting for a decision.
#[utoipa::path(get, path = "/api/v1/guard", tag = "plans", responses((status = 200, body = GuardView), Errors))]
pub async fn guard(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().guard().await?)
}

/// Changes the tenant-wide guard's limits: what is given replaces the current value.
#[utoipa::path(put, path = "/api/v1/guard", tag = "plans", request_body = GuardSpec, responses((status = 200, body = GuardView), Errors))]
pub async fn set_guard(caller: Caller, Body(spec): Body<GuardSpec>) -> ApiResult<Response> {
    json(&caller.admin().set_guard(spec).await?)
}
