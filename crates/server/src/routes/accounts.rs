//! An app's accounts: what Tenure has linked, the live user list, the report (JSON or CSV),
//! adopting, unlinking, and known-external marks.

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::Deserialize;
use serde_json::json;
use tenure_connectors::UserQuery;
use tenure_engine::{AccountRow, Adopted, MAX_USERS_PAGE, UsersPage};

use super::Errors;
use crate::ServerState;
use crate::api::{ApiError, ApiResult, Body, Caller, Params, json};

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/apps/{app}/accounts", get(accounts))
        .route("/apps/{app}/accounts/{account}", delete(unlink))
        .route("/apps/{app}/users", get(users))
        .route("/apps/{app}/accounts/{account}/adopt", post(adopt))
        .route("/apps/{app}/accounts/{account}/external", put(mark_external).delete(unmark_external))
        .route("/report", get(report))
}

/// The accounts of the app Tenure has linked to people, as last seen or written.
#[utoipa::path(get, path = "/api/v1/apps/{app}/accounts", tag = "accounts", params(("app" = String, Path)),
    responses((status = 200, body = Vec<Object>), Errors))]
pub async fn accounts(caller: Caller, Path(app): Path<String>) -> ApiResult<Response> {
    json(&caller.admin().stored_accounts(&app).await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Accounts whose email or userName contains this.
    search: Option<String>,
    /// 1-based.
    start_index: Option<usize>,
    /// At most 500.
    count: Option<usize>,
}

/// One page of the app's live user list, each account classified.
#[utoipa::path(get, path = "/api/v1/apps/{app}/users", tag = "accounts", params(("app" = String, Path), UsersQuery),
    responses((status = 200, body = Object, description = "a UsersPage"), Errors))]
pub async fn users(caller: Caller, Path(app): Path<String>, Params(q): Params<UsersQuery>) -> ApiResult<Response> {
    let count = q.count.unwrap_or(100);
    if count == 0 || count > MAX_USERS_PAGE {
        return Err(ApiError::field("count", format!("count {count}: must be between 1 and {MAX_USERS_PAGE}")));
    }
    let start_index = q.start_index.unwrap_or(1);
    if start_index == 0 {
        return Err(ApiError::field("start_index", "start_index is 1-based"));
    }
    let query = UserQuery { start_index, count, search: q.search.filter(|s| !s.trim().is_empty()) };
    let page: UsersPage = caller.admin().app_users(&app, &query).await?;
    json(&page)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    app: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Every account of every app (or one), read live and classified; JSON or CSV.
#[utoipa::path(get, path = "/api/v1/report", tag = "accounts", params(ReportQuery),
    responses((status = 200, body = Vec<Object>, description = "AccountRow list, or text/csv"), Errors))]
pub async fn report(caller: Caller, Params(q): Params<ReportQuery>) -> ApiResult<Response> {
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(ApiError::field("format", format!("format {other:?}: expected json or csv"))),
    };
    let rows: Vec<AccountRow> = caller.admin().report(q.app.as_deref()).await?;
    if !csv {
        return json(&rows);
    }
    let mut body = Vec::new();
    tenure_engine::write_report_csv(&mut body, &rows)
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("writing CSV: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"tenure-accounts.csv\""),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdoptBody {
    /// The person's email.
    person: String,
}

/// Links an account Tenure does not manage to a person; Tenure manages it from then on.
#[utoipa::path(post, path = "/api/v1/apps/{app}/accounts/{account}/adopt", tag = "accounts", request_body = AdoptBody,
    params(("app" = String, Path), ("account" = String, Path)), responses((status = 200, body = Object, description = "Adopted"), Errors))]
pub async fn adopt(
    caller: Caller,
    Path((app, account)): Path<(String, String)>,
    Body(body): Body<AdoptBody>,
) -> ApiResult<Response> {
    let adopted: Adopted = caller.admin().adopt(&app, &account, &body.person).await?;
    json(&adopted)
}

/// Forgets the link between an account and its person; the account is left as it is.
#[utoipa::path(delete, path = "/api/v1/apps/{app}/accounts/{account}", tag = "accounts",
    params(("app" = String, Path), ("account" = String, Path)), responses((status = 200, body = Object), Errors))]
pub async fn unlink(caller: Caller, Path((app, account)): Path<(String, String)>) -> ApiResult<Response> {
    caller.admin().unlink(&app, &account).await?;
    json(&json!({"app": app, "account": account, "unlinked": true}))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkBody {
    /// Why it is known (who owns it, until when).
    #[serde(default)]
    note: String,
}

/// Marks an account no person owns as a known external one.
#[utoipa::path(put, path = "/api/v1/apps/{app}/accounts/{account}/external", tag = "accounts", request_body = MarkBody,
    params(("app" = String, Path), ("account" = String, Path)), responses((status = 200, body = Object), Errors))]
pub async fn mark_external(
    caller: Caller,
    Path((app, account)): Path<(String, String)>,
    Body(body): Body<MarkBody>,
) -> ApiResult<Response> {
    caller.admin().mark_external(&app, &account, Some(&body.note)).await?;
    json(&json!({"app": app, "account": account, "mark": "external", "note": body.note}))
}

/// Clears an external mark.
#[utoipa::path(delete, path = "/api/v1/apps/{app}/accounts/{account}/external", tag = "accounts",
    params(("app" = String, Path), ("account" = String, Path)), responses((status = 200, body = Object), Errors))]
pub async fn unmark_external(caller: Caller, Path((app, account)): Path<(String, String)>) -> ApiResult<Response> {
    let cleared = caller.admin().mark_external(&app, &account, None).await?;
    json(&json!({"app": app, "account": account, "cleared": cleared}))
}
