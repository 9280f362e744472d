//! License pools and the money view: the tenant's pools, an app's pool set or removed, last
//! activity uploaded, and the license report (the same document as `tenure license report
//! --format json`).

use axum::Router;
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;
use tenure_engine::admin::{ActivityUpload, LicenseSpec, ReclaimSpec};

use super::Errors;
use crate::ServerState;
use crate::api::{ApiResult, Body, Caller, Params, json};

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/licenses", get(list))
        .route("/licenses/report", get(report))
        .route("/licenses/waiting", get(waiting))
        .route("/apps/{app}/licenses", put(set).delete(remove))
        .route("/apps/{app}/licenses/activity", put(activity))
        .route("/apps/{app}/licenses/reclaim", post(reclaim))
        .route("/licenses/reclaims", get(reclaims))
}

/// Asks the holders of the app's accounts unused for their pool's days "still needed?" (keep /
/// release links by the notification channels); with `preview`, says who would be asked.
#[utoipa::path(post, path = "/api/v1/apps/{app}/licenses/reclaim", tag = "licenses", request_body = ReclaimSpec,
    params(("app" = String, Path)),
    responses((status = 200, body = tenure_engine::license_reclaim::ReclaimRun), Errors))]
pub async fn reclaim(caller: Caller, Path(app): Path<String>, Body(spec): Body<ReclaimSpec>) -> ApiResult<Response> {
    json(&caller.admin().license_reclaim(&app, spec).await?)
}

/// Every reclaim question (one app's with `?app=`), newest first, with its state and answer.
#[utoipa::path(get, path = "/api/v1/licenses/reclaims", tag = "licenses", params(WaitingQuery),
    responses((status = 200, body = Vec<tenure_engine::license_reclaim::ReclaimView>), Errors))]
pub async fn reclaims(caller: Caller, Params(q): Params<WaitingQuery>) -> ApiResult<Response> {
    json(&caller.admin().license_reclaims(q.app.as_deref()).await?)
}

/// Every license pool of the tenant.
#[utoipa::path(get, path = "/api/v1/licenses", tag = "licenses",
    responses((status = 200, body = Vec<Object>, description = "LicensePool list"), Errors))]
pub async fn list(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().licenses().await?)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// One app (default: every app with a pool).
    app: Option<String>,
    /// From the seats the last live report stored, without reading the apps.
    #[serde(default)]
    stored: bool,
}

/// Per app and tier: seats bought, used, free, wasted by reason, monthly cost and what a
/// reclaim would save; and the tenant's totals per currency. Amounts are JSON numbers with
/// their exact decimal digits.
#[utoipa::path(get, path = "/api/v1/licenses/report", tag = "licenses", params(ReportQuery),
    responses((status = 200, body = Object, description = "LicenseReport"), Errors))]
pub async fn report(caller: Caller, Params(q): Params<ReportQuery>) -> ApiResult<Response> {
    let quiet = |_: &str, _: usize, _: usize| {};
    json(&caller.admin().license_report(q.app.as_deref(), q.stored, &quiet).await?)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitingQuery {
    /// One app (default: every app).
    app: Option<String>,
}

/// Who waits for a seat of a full pool, per pool in line order (`place` from 1).
#[utoipa::path(get, path = "/api/v1/licenses/waiting", tag = "licenses", params(WaitingQuery),
    responses((status = 200, body = Vec<tenure_engine::admin::WaitingView>), Errors))]
pub async fn waiting(caller: Caller, Params(q): Params<WaitingQuery>) -> ApiResult<Response> {
    json(&caller.admin().license_waiting(q.app.as_deref()).await?)
}

/// Sets the app's pool of the tier named in the body (or of the whole app), replacing its terms.
#[utoipa::path(put, path = "/api/v1/apps/{app}/licenses", tag = "licenses", request_body = LicenseSpec,
    params(("app" = String, Path)), responses((status = 200, body = Object, description = "LicensePool"), Errors))]
pub async fn set(caller: Caller, Path(app): Path<String>, Body(spec): Body<LicenseSpec>) -> ApiResult<Response> {
    json(&caller.admin().set_license(&app, spec).await?)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TierQuery {
    /// The tier's pool (default: the whole app's).
    tier: Option<String>,
}

/// Removes a pool of the app.
#[utoipa::path(delete, path = "/api/v1/apps/{app}/licenses", tag = "licenses",
    params(("app" = String, Path), TierQuery), responses((status = 200, body = Object), Errors))]
pub async fn remove(caller: Caller, Path(app): Path<String>, Params(q): Params<TierQuery>) -> ApiResult<Response> {
    caller.admin().remove_license(&app, q.tier.as_deref()).await?;
    json(&json!({"app": app, "tier": q.tier, "removed": true}))
}

/// Replaces the last activity known of the app's accounts (where the app does not tell it).
#[utoipa::path(put, path = "/api/v1/apps/{app}/licenses/activity", tag = "licenses", request_body = ActivityUpload,
    params(("app" = String, Path)), responses((status = 200, body = Object), Errors))]
pub async fn activity(
    caller: Caller,
    Path(app): Path<String>,
    Body(upload): Body<ActivityUpload>,
) -> ApiResult<Response> {
    let accounts = caller.admin().set_license_activity(&app, upload).await?;
    json(&json!({"app": app, "accounts": accounts}))
}
