//! An app's accounts through the admin API: the live user list, the visibility report (JSON or
//! CSV), adopting an account and marking one as a known external.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;
use tenure_connectors::UserQuery;
use tenure_engine::{Engine, MAX_USERS_PAGE};

use crate::ServerState;
use crate::admin::{ApiError, ApiResult, to_json};
use crate::auth::Admin;

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/apps/{app}/users", get(users))
        .route("/apps/{app}/accounts/{account}/adopt", post(adopt))
        .route("/apps/{app}/accounts/{account}/external", put(mark_external).delete(unmark_external))
        .route("/report", get(report))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersQuery {
    search: Option<String>,
    start_index: Option<usize>,
    count: Option<usize>,
}

async fn users(
    State(state): State<ServerState>,
    admin: Admin,
    Path(app): Path<String>,
    Query(q): Query<UsersQuery>,
) -> ApiResult {
    let count = q.count.unwrap_or(100);
    if count == 0 || count > MAX_USERS_PAGE {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("count {count}: must be between 1 and {MAX_USERS_PAGE}"),
        ));
    }
    let start_index = q.start_index.unwrap_or(1);
    if start_index == 0 {
        return Err(ApiError(StatusCode::BAD_REQUEST, "start_index is 1-based".into()));
    }
    let query = UserQuery { start_index, count, search: q.search.filter(|s| !s.trim().is_empty()) };
    let engine = Engine::new(state.store.clone(), admin.tenant);
    to_json(&engine.app_users(&app, &query, tenure_engine::today()).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    app: Option<String>,
    format: Option<String>,
}

async fn report(
    State(state): State<ServerState>,
    admin: Admin,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError(StatusCode::BAD_REQUEST, format!("format {other:?}: expected json or csv")));
        }
    };
    let engine = Engine::new(state.store.clone(), admin.tenant);
    let rows = engine.account_report(q.app.as_deref(), tenure_engine::today()).await?;
    if !csv {
        return Ok(to_json(&rows)?.into_response());
    }
    let mut body = Vec::new();
    tenure_engine::write_report_csv(&mut body, &rows)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("writing CSV: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"tenure-accounts.csv\""),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdoptBody {
    /// The person's email.
    person: String,
}

async fn adopt(
    State(state): State<ServerState>,
    admin: Admin,
    Path((app, account)): Path<(String, String)>,
    body: Result<axum::Json<AdoptBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let axum::Json(body) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let engine = Engine::new(state.store.clone(), admin.tenant);
    to_json(&engine.adopt_account(&app, &account, &body.person, "api").await?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MarkBody {
    #[serde(default)]
    note: String,
}

async fn mark_external(
    State(state): State<ServerState>,
    admin: Admin,
    Path((app, account)): Path<(String, String)>,
    body: Result<axum::Json<MarkBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let axum::Json(body) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    if body.note.len() > 1000 {
        return Err(ApiError(StatusCode::BAD_REQUEST, "note: at most 1000 bytes".into()));
    }
    let engine = Engine::new(state.store.clone(), admin.tenant);
    engine.mark_account(&app, &account, Some(&body.note), "api").await?;
    Ok(axum::Json(json!({"app": app, "account": account, "mark": "external", "note": body.note})))
}

async fn unmark_external(
    State(state): State<ServerState>,
    admin: Admin,
    Path((app, account)): Path<(String, String)>,
) -> ApiResult {
    let engine = Engine::new(state.store.clone(), admin.tenant);
    let cleared = engine.mark_account(&app, &account, None, "api").await?;
    Ok(axum::Json(json!({"app": app, "account": account, "cleared": cleared})))
}
