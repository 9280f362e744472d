//! Lifecycle workflows, their runs and approvals, and the tenant's settings (its timezone).

use axum::Router;
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use tenure_engine::admin::{RunView, SettingsChange, TenantSettings, WorkflowSpec, WorkflowView};

use super::Errors;
use crate::ServerState;
use crate::api::{ApiResult, Body, Caller, Params, created, json};

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/settings", get(settings).patch(set_settings))
        .route("/workflows", get(list).post(add))
        .route("/workflows/{name}", delete(remove))
        .route("/workflow-runs", get(runs))
        .route("/workflow-runs/{id}/approve", post(approve))
        .route("/workflow-runs/{id}/reject", post(reject))
}

/// The tenant's settings: its timezone, the one dates act in.
#[utoipa::path(get, path = "/api/v1/settings", tag = "lifecycle", responses((status = 200, body = TenantSettings), Errors))]
pub async fn settings(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().tenant_settings().await?)
}

/// Changes the tenant's settings (`timezone`: an IANA name such as `Europe/Berlin`).
#[utoipa::path(patch, path = "/api/v1/settings", tag = "lifecycle", request_body = SettingsChange,
    responses((status = 200, body = TenantSettings), Errors))]
pub async fn set_settings(caller: Caller, Body(change): Body<SettingsChange>) -> ApiResult<Response> {
    json(&caller.admin().set_tenant_settings(change).await?)
}

/// The tenant's workflows.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "lifecycle", responses((status = 200, body = Vec<WorkflowView>), Errors))]
pub async fn list(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().workflows().await?)
}

/// Defines a workflow: `trigger` (with `offset_days` for dates) and `steps`, spelled as
/// `tenure workflow add` spells them.
#[utoipa::path(post, path = "/api/v1/workflows", tag = "lifecycle", request_body = WorkflowSpec,
    responses((status = 201, body = WorkflowView), Errors))]
pub async fn add(caller: Caller, Body(spec): Body<WorkflowSpec>) -> ApiResult<Response> {
    created(&caller.admin().add_workflow(spec).await?)
}

/// Removes a workflow; its unfinished runs are cancelled.
#[utoipa::path(delete, path = "/api/v1/workflows/{name}", tag = "lifecycle", params(("name" = String, Path)),
    responses((status = 200, body = Object), Errors))]
pub async fn remove(caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    let cancelled = caller.admin().remove_workflow(&name).await?;
    json(&serde_json::json!({"removed": name, "cancelled_runs": cancelled}))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunFilter {
    /// Only this person's runs (by email).
    #[serde(default)]
    person: Option<String>,
    /// At most this many, newest first (1 to 1000; default 50).
    #[serde(default)]
    limit: Option<i64>,
}

/// Workflow runs, newest first, each with its steps, results, approver and failures.
#[utoipa::path(get, path = "/api/v1/workflow-runs", tag = "lifecycle", params(RunFilter),
    responses((status = 200, body = Vec<RunView>), Errors))]
pub async fn runs(caller: Caller, Params(q): Params<RunFilter>) -> ApiResult<Response> {
    json(&caller.admin().workflow_runs(q.person.as_deref(), q.limit.unwrap_or(50)).await?)
}

/// Approves the approval a run waits for: an org admin, or the person's manager for
/// `approval:manager`.
#[utoipa::path(post, path = "/api/v1/workflow-runs/{id}/approve", tag = "lifecycle", params(("id" = String, Path)),
    responses((status = 200, body = RunView), Errors))]
pub async fn approve(caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    json(&caller.admin().approve_run(&id).await?)
}

/// Why an approval is rejected.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Shown in the run's step and the audit trail (1 to 500 characters).
    pub reason: String,
}

/// Rejects the approval a run waits for (whoever may approve it may reject it): the run ends
/// `rejected` and no later step runs.
#[utoipa::path(post, path = "/api/v1/workflow-runs/{id}/reject", tag = "lifecycle", params(("id" = String, Path)),
    request_body = Rejection, responses((status = 200, body = RunView), Errors))]
pub async fn reject(caller: Caller, Path(id): Path<String>, Body(body): Body<Rejection>) -> ApiResult<Response> {
    json(&caller.admin().reject_run(&id, &body.reason).await?)
}
