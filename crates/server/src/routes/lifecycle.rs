//! Offboarding a person, legal holds, notification channels, and manual apps' tasks.

use axum::Router;
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use tenure_engine::admin::{
    ChannelChange, ChannelSpec, ChannelTest, ChannelView, EventView, LegalHoldSpec, LegalHoldView, OffboardRequest,
    OffboardView, TaskRead, TaskView,
};

use super::Errors;
use crate::ServerState;
use crate::api::{ApiResult, Body, Caller, created, json};

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/people/{email}/offboard", post(offboard))
        .route("/people/{email}/legal-hold", post(place_legal_hold).delete(lift_legal_hold))
        .route("/legal-holds", get(legal_holds))
        .route("/notify/channels", get(channels).post(add_channel))
        .route("/notify/channels/{name}", delete(remove_channel).patch(change_channel))
        .route("/notify/events", get(notify_events))
        .route("/notify/channels/{name}/test", post(test_channel))
        .route("/tasks", get(tasks))
        .route("/tasks/{id}/close", post(close_task))
        .route("/apps/{app}/tasks/verify", post(verify_tasks).layer(axum::extract::DefaultBodyLimit::max(MAX_APP_READ)))
}

/// The largest export of a manual app's users a read takes (the engine holds it whole).
const MAX_APP_READ: usize = 32 * 1024 * 1024;

/// Offboards a person across every app where Tenure knows an account of theirs: `preview`
/// only says what would happen (per app, from which account) and who would be told; `at` a
/// later date schedules it; `undo` re-hires; `successor` (an email) gets the person's seats in
/// the apps with license pools. Carried out through the queue before answering.
#[utoipa::path(post, path = "/api/v1/people/{email}/offboard", tag = "lifecycle", params(("email" = String, Path)),
    request_body = OffboardRequest, responses((status = 200, body = OffboardView), Errors))]
pub async fn offboard(
    caller: Caller,
    Path(email): Path<String>,
    Body(request): Body<OffboardRequest>,
) -> ApiResult<Response> {
    let (spec, successor) = request.into_parts();
    json(&caller.admin().offboard_to(&email, spec, successor.as_deref()).await?)
}

/// Puts a person on legal hold: nothing takes access away from them in any app until it is
/// lifted; losses of theirs already queued are dismissed (`dismissed`). Org admins only.
#[utoipa::path(post, path = "/api/v1/people/{email}/legal-hold", tag = "lifecycle", params(("email" = String, Path)),
    request_body = LegalHoldSpec, responses((status = 201, body = LegalHoldView), Errors))]
pub async fn place_legal_hold(
    caller: Caller,
    Path(email): Path<String>,
    Body(spec): Body<LegalHoldSpec>,
) -> ApiResult<Response> {
    created(&caller.admin().place_legal_hold(&email, spec).await?)
}

/// Lifts a person's legal hold: the next propagation pass plans them again. Org admins only.
#[utoipa::path(delete, path = "/api/v1/people/{email}/legal-hold", tag = "lifecycle", params(("email" = String, Path)),
    responses((status = 200, body = LegalHoldView), Errors))]
pub async fn lift_legal_hold(caller: Caller, Path(email): Path<String>) -> ApiResult<Response> {
    json(&caller.admin().lift_legal_hold(&email).await?)
}

/// People on legal hold.
#[utoipa::path(get, path = "/api/v1/legal-holds", tag = "lifecycle", responses((status = 200, body = Vec<LegalHoldView>), Errors))]
pub async fn legal_holds(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().legal_holds().await?)
}

/// Notification channels, with what each sent, holds and gave up; never their credentials.
#[utoipa::path(get, path = "/api/v1/notify/channels", tag = "lifecycle", responses((status = 200, body = Vec<ChannelView>), Errors))]
pub async fn channels(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().channels().await?)
}

/// Adds a channel: `email` (`smtp_url`, `from`, `to`) or `webhook`, `slack`, `teams` (`url`).
/// A generic webhook's signing key is in the answer, once.
#[utoipa::path(post, path = "/api/v1/notify/channels", tag = "lifecycle", request_body = ChannelSpec,
    responses((status = 201, body = ChannelView), Errors))]
pub async fn add_channel(caller: Caller, Body(spec): Body<ChannelSpec>) -> ApiResult<Response> {
    created(&caller.admin().add_channel(spec).await?)
}

/// Changes which events a channel sends: `events` (names or families such as `task.*`), or
/// `all_events`. Unknown names are refused with the known ones.
#[utoipa::path(patch, path = "/api/v1/notify/channels/{name}", tag = "lifecycle", params(("name" = String, Path)),
    request_body = ChannelChange, responses((status = 200, body = ChannelView), Errors))]
pub async fn change_channel(
    caller: Caller,
    Path(name): Path<String>,
    Body(change): Body<ChannelChange>,
) -> ApiResult<Response> {
    json(&caller.admin().change_channel(&name, change).await?)
}

/// The events a channel can send, with what each means.
#[utoipa::path(get, path = "/api/v1/notify/events", tag = "lifecycle", responses((status = 200, body = Vec<EventView>), Errors))]
pub async fn notify_events(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().notify_events()?)
}

/// Removes a channel and its undelivered messages.
#[utoipa::path(delete, path = "/api/v1/notify/channels/{name}", tag = "lifecycle", params(("name" = String, Path)),
    responses((status = 200, body = Object), Errors))]
pub async fn remove_channel(caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    caller.admin().remove_channel(&name).await?;
    json(&serde_json::json!({"removed": name}))
}

/// Sends a test message through a channel now.
#[utoipa::path(post, path = "/api/v1/notify/channels/{name}/test", tag = "lifecycle", params(("name" = String, Path)),
    responses((status = 200, body = ChannelTest), Errors))]
pub async fn test_channel(caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    json(&caller.admin().test_channel(&name).await?)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// Closed tasks too.
    #[serde(default)]
    all: bool,
}

/// Manual apps' tasks the caller may see (open ones unless `all`).
#[utoipa::path(get, path = "/api/v1/tasks", tag = "lifecycle", params(TaskFilter), responses((status = 200, body = Vec<TaskView>), Errors))]
pub async fn tasks(caller: Caller, crate::api::Params(q): crate::api::Params<TaskFilter>) -> ApiResult<Response> {
    json(&caller.admin().tasks(!q.all).await?)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseTask {
    #[serde(default)]
    note: Option<String>,
}

/// Closes a task: the work was done by hand.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/close", tag = "lifecycle", params(("id" = String, Path)),
    request_body = CloseTask, responses((status = 200, body = TaskView), Errors))]
pub async fn close_task(caller: Caller, Path(id): Path<String>, Body(body): Body<CloseTask>) -> ApiResult<Response> {
    json(&caller.admin().close_task(&id, body.note.as_deref()).await?)
}

/// The next read of a manual app (`tenure task verify APP --csv FILE`): the body is the CSV
/// export of its users (a header naming them by `email` or `userName`, optionally `active`).
/// Each task closed and awaiting a read is confirmed where the read shows the work done, and
/// reopened with the reason otherwise; a bad export changes nothing.
#[utoipa::path(post, path = "/api/v1/apps/{app}/tasks/verify", tag = "lifecycle", params(("app" = String, Path)),
    request_body(content = String, content_type = "text/csv"), responses((status = 200, body = TaskRead), Errors))]
pub async fn verify_tasks(caller: Caller, Path(app): Path<String>, body: axum::body::Bytes) -> ApiResult<Response> {
    json(&caller.admin().verify_tasks(&app, &body).await?)
}
