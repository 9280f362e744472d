//! Apps: list, create, show, edit (ETag / If-Match, `?preview=true`), rotate credentials,
//! disable, enable, remove (with a preview of what stays), assignments, the capability probe,
//! the app catalog.

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use tenure_engine::admin::views::{AppEdited, AppRemoval, AppView, AssignmentChange, AssignmentView, CatalogApp};
use tenure_engine::admin::{AppEdit, AssignmentSpec, Credentials, NewApp, Unassign};

use super::Errors;
use crate::ServerState;
use crate::api::{ApiError, ApiResult, Body, Caller, Params, PreviewQuery, created, if_match, json, with_etag};

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/apps", get(list).post(create))
        .route("/apps/{app}", get(show).patch(edit).delete(remove))
        .route("/apps/{app}/credentials", post(rotate))
        .route("/apps/{app}/disable", post(disable))
        .route("/apps/{app}/enable", post(enable))
        .route("/apps/{app}/check", post(check))
        .route("/apps/{app}/assignments", get(assignments).post(assign))
        .route("/apps/{app}/assignments/{id}", delete(unassign))
        .route("/catalog", get(catalog))
}

/// The app catalog: each app with what its vendor documents (API, what DELETE does, whether an
/// account can be re-activated, published limits, documentation addresses); public vendor
/// documentation, the same for every tenant and role.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "apps", responses((status = 200, body = Vec<CatalogApp>), Errors))]
pub async fn catalog(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().catalog())
}

/// The apps the caller may read.
#[utoipa::path(get, path = "/api/v1/apps", tag = "apps", responses((status = 200, body = Vec<AppView>), Errors))]
pub async fn list(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().apps().await?)
}

/// Adds an app (org admins): a SCIM app from `{"name","kind":"scim","base_url","token"}`, an
/// OAuth one with `oauth`, Google Workspace with `google`.
#[utoipa::path(post, path = "/api/v1/apps", tag = "apps", request_body = NewApp,
    responses((status = 201, body = AppView), Errors))]
pub async fn create(caller: Caller, Body(spec): Body<NewApp>) -> ApiResult<Response> {
    let app = caller.admin().create_app(spec).await?;
    let mut response = created(&app)?;
    if let Ok(tag) = axum::http::HeaderValue::from_str(&format!("\"{}\"", app.version)) {
        response.headers_mut().insert(axum::http::header::ETAG, tag);
    }
    Ok(response)
}

/// One app, with its ETag.
#[utoipa::path(get, path = "/api/v1/apps/{app}", tag = "apps", params(("app" = String, Path)),
    responses((status = 200, body = AppView, headers(("ETag" = String))), Errors))]
pub async fn show(caller: Caller, Path(app): Path<String>) -> ApiResult<Response> {
    let view = caller.admin().app(&app).await?;
    with_etag(&view, view.version)
}

/// Edits an app: only what is given changes; a changed `base_url` needs `credentials`.
/// `If-Match` with the ETag read makes a concurrent edit a 412 instead of a lost update;
/// `?preview=true` answers the plan the change would cause and saves nothing.
#[utoipa::path(patch, path = "/api/v1/apps/{app}", tag = "apps", request_body = AppEdit,
    params(("app" = String, Path), ("If-Match" = Option<String>, Header), PreviewQuery),
    responses((status = 200, body = AppEdited), Errors))]
pub async fn edit(
    caller: Caller,
    Path(app): Path<String>,
    headers: HeaderMap,
    Params(q): Params<PreviewQuery>,
    Body(edit): Body<AppEdit>,
) -> ApiResult<Response> {
    let expected = if_match(&headers)?;
    let edited = caller.admin().edit_app(&app, edit, expected, q.preview).await?;
    with_etag(&edited, edited.app.version)
}

/// Removes the app from Tenure (org admins): nobody is deprovisioned, every account stays in
/// the app as it is. `?preview=true` lists what stays.
#[utoipa::path(delete, path = "/api/v1/apps/{app}", tag = "apps",
    params(("app" = String, Path), ("If-Match" = Option<String>, Header), PreviewQuery),
    responses((status = 200, body = AppRemoval), Errors))]
pub async fn remove(
    caller: Caller,
    Path(app): Path<String>,
    headers: HeaderMap,
    Params(q): Params<PreviewQuery>,
) -> ApiResult<Response> {
    json(&caller.admin().remove_app(&app, if_match(&headers)?, q.preview).await?)
}

/// Replaces the app's credentials (`token`, `client_secret` or `service_account_key`, as its
/// auth takes); lifts a quarantine.
#[utoipa::path(post, path = "/api/v1/apps/{app}/credentials", tag = "apps", request_body = Credentials,
    params(("app" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AppView), Errors))]
pub async fn rotate(
    caller: Caller,
    Path(app): Path<String>,
    headers: HeaderMap,
    Body(credentials): Body<Credentials>,
) -> ApiResult<Response> {
    let view = caller.admin().rotate_credentials(&app, credentials, if_match(&headers)?).await?;
    with_etag(&view, view.version)
}

/// Pauses provisioning into the app: nothing is planned or carried out, nobody deprovisioned.
#[utoipa::path(post, path = "/api/v1/apps/{app}/disable", tag = "apps",
    params(("app" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AppView), Errors))]
pub async fn disable(caller: Caller, Path(app): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let view = caller.admin().set_app_disabled(&app, true, if_match(&headers)?).await?;
    with_etag(&view, view.version)
}

/// Resumes provisioning into the app; it is planned in full.
#[utoipa::path(post, path = "/api/v1/apps/{app}/enable", tag = "apps",
    params(("app" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AppView), Errors))]
pub async fn enable(caller: Caller, Path(app): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let view = caller.admin().set_app_disabled(&app, false, if_match(&headers)?).await?;
    with_etag(&view, view.version)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// Also create, change and delete one `tenure-probe-*` user.
    #[serde(default)]
    pub write_probe: bool,
}

/// Probes what the SCIM app supports and stores the profile (`tenure app check`).
#[utoipa::path(post, path = "/api/v1/apps/{app}/check", tag = "apps", request_body = Option<CheckBody>,
    params(("app" = String, Path)), responses((status = 200, body = Object), Errors))]
pub async fn check(caller: Caller, Path(app): Path<String>, body: Bytes) -> ApiResult<Response> {
    let write = if body.iter().all(u8::is_ascii_whitespace) {
        false
    } else {
        serde_json::from_slice::<CheckBody>(&body)
            .map_err(|e| ApiError::bad_request(format!("the body: {e}")))?
            .write_probe
    };
    let report = caller.admin().check_app(&app, write).await?;
    json(&report)
}

/// The app's assignments.
#[utoipa::path(get, path = "/api/v1/apps/{app}/assignments", tag = "assignments", params(("app" = String, Path)),
    responses((status = 200, body = Vec<AssignmentView>), Errors))]
pub async fn assignments(caller: Caller, Path(app): Path<String>) -> ApiResult<Response> {
    json(&caller.admin().assignments(&app).await?)
}

/// Grants the app to a person, group, org unit or rule (or, with `exclude`, keeps it from
/// them). `?preview=true` answers the plan change and saves nothing.
#[utoipa::path(post, path = "/api/v1/apps/{app}/assignments", tag = "assignments", request_body = AssignmentSpec,
    params(("app" = String, Path), PreviewQuery),
    responses((status = 201, body = AssignmentChange), (status = 200, body = AssignmentChange, description = "a preview, or a replaced assignment"), Errors))]
pub async fn assign(
    caller: Caller,
    Path(app): Path<String>,
    Params(q): Params<PreviewQuery>,
    Body(spec): Body<AssignmentSpec>,
) -> ApiResult<Response> {
    let change = caller.admin().assign(&app, &spec, q.preview).await?;
    if change.created { created(&change) } else { json(&change) }
}

/// Removes an assignment; the accounts it granted are deprovisioned by the next plan.
/// `?preview=true` answers the plan change and saves nothing.
#[utoipa::path(delete, path = "/api/v1/apps/{app}/assignments/{id}", tag = "assignments",
    params(("app" = String, Path), ("id" = String, Path), PreviewQuery),
    responses((status = 200, body = AssignmentChange), Errors))]
pub async fn unassign(
    caller: Caller,
    Path((app, id)): Path<(String, String)>,
    Params(q): Params<PreviewQuery>,
) -> ApiResult<Response> {
    let id = id.parse().map_err(|_| ApiError::field("id", format!("assignment id {id:?} is not a UUID")))?;
    json(&caller.admin().unassign(&app, Unassign::Id(id), q.preview).await?)
}
