//! The audit log: `GET /api/v1/audit` (one page, newest first, with `next_cursor`),
//! `GET /api/v1/audit/export` (every matching row as JSON lines or CSV, streamed a page at a
//! time) and `GET /api/v1/audit/verify` (the hash chain walked, as `tenure audit verify`). The query language and the encoding are the engine's (`tenure_engine::audit_query`),
//! shared with `tenure audit`.

use axum::Router;
use axum::body::Body;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tenure_engine::audit_query::{
    AuditParams, DEFAULT_LIMIT, ExportError, ExportFormat, ParamError, entry_json, now_ms, parse_limit,
};
use tenure_store::{AuditCursor, AuditFilter};

use super::Errors;
use crate::ServerState;
use crate::api::{ApiError, Caller};

pub fn routes() -> Router<ServerState> {
    Router::new().route("/audit", get(list)).route("/audit/export", get(export)).route("/audit/verify", get(verify))
}

fn param_error(e: ParamError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// Query parameters by name, each at most once, only the known ones.
fn params(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    known: &[&str],
) -> Result<std::collections::HashMap<String, String>, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let mut out = std::collections::HashMap::new();
    for (key, value) in pairs {
        if !known.contains(&key.as_str()) {
            return Err(param_error(ParamError::Unknown(key)));
        }
        if out.contains_key(&key) {
            return Err(param_error(ParamError::Repeated(key)));
        }
        out.insert(key, value);
    }
    Ok(out)
}

const FILTERS: [&str; 6] = ["person", "app", "action", "actor", "since", "until"];

fn filter_of(p: &mut std::collections::HashMap<String, String>) -> Result<AuditFilter, ApiError> {
    let params = AuditParams {
        person: p.remove("person"),
        app: p.remove("app"),
        action: p.remove("action"),
        actor: p.remove("actor"),
        since: p.remove("since"),
        until: p.remove("until"),
    };
    params.to_filter(now_ms()).map_err(param_error)
}

fn cursor_of(p: &std::collections::HashMap<String, String>) -> Result<Option<AuditCursor>, ApiError> {
    p.get("cursor").map(|c| c.trim().parse::<AuditCursor>()).transpose().map_err(|e| param_error(ParamError::from(e)))
}

/// One page of the audit log, newest first (org admins and auditors). Parameters: person
/// (email or id), app, action (or a family: `plan`), actor, since, until (RFC 3339, a date or
/// an age such as `7d`), limit (1 to 10000), cursor.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(("person" = Option<String>, Query), ("app" = Option<String>, Query), ("action" = Option<String>, Query),
        ("actor" = Option<String>, Query), ("since" = Option<String>, Query), ("until" = Option<String>, Query),
        ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Object, description = "{events, next_cursor}"), Errors))]
pub async fn list(
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    let known: Vec<&str> = FILTERS.iter().copied().chain(["limit", "cursor"]).collect();
    let mut p = params(query, &known)?;
    let filter = filter_of(&mut p)?;
    let cursor = cursor_of(&p)?;
    let limit = p.get("limit").map(|l| parse_limit(l)).transpose().map_err(param_error)?.unwrap_or(DEFAULT_LIMIT);
    let page = caller.admin().audit(&filter, cursor.as_ref(), limit).await?;
    Ok(axum::Json(json!({
        "events": page.entries.iter().map(entry_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor.map(|c| c.to_string()),
    })))
}

/// Walks the tenant's audit hash chain (org admins and auditors), as `tenure audit verify`:
/// `intact` and the first entry that does not chain. A broken chain is a finding, not an error
/// of the request, so it is a 200 too; monitoring alerts on `intact: false`.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = tenure_engine::admin::views::AuditVerifyView), Errors))]
pub async fn verify(caller: Caller) -> Result<axum::Json<tenure_engine::admin::views::AuditVerifyView>, ApiError> {
    Ok(axum::Json(caller.admin().verify_audit().await?))
}

/// Every matching row (or the first `limit`), streamed as JSON lines (`format=jsonl`) or CSV.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit",
    params(("format" = Option<String>, Query, description = "jsonl or csv"), ("person" = Option<String>, Query),
        ("app" = Option<String>, Query), ("action" = Option<String>, Query), ("actor" = Option<String>, Query),
        ("since" = Option<String>, Query), ("until" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("cursor" = Option<String>, Query)),
    responses((status = 200, body = String, content_type = "application/x-ndjson"), Errors))]
pub async fn export(
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let known: Vec<&str> = FILTERS.iter().copied().chain(["limit", "cursor", "format"]).collect();
    let mut p = params(query, &known)?;
    let filter = filter_of(&mut p)?;
    let cursor = cursor_of(&p)?;
    let format: ExportFormat =
        p.get("format").map(|f| f.parse()).transpose().map_err(param_error)?.unwrap_or(ExportFormat::Jsonl);
    let limit = p
        .get("limit")
        .map(|raw| {
            let invalid = || ParamError::Invalid {
                param: "limit",
                value: raw.clone(),
                reason: "a whole number of rows, at least 1".into(),
            };
            raw.trim().parse::<i64>().map_err(|_| invalid()).and_then(|l| if l >= 1 { Ok(l) } else { Err(invalid()) })
        })
        .transpose()
        .map_err(param_error)?;
    let mut export = caller.admin().audit_export(filter, format, cursor, limit)?;
    // The first page before the status line: a database that fails at once is a 5xx, not a
    // 200 with a cut body.
    let first = export.next_chunk().await.map_err(|e| match e {
        ExportError::Store(s) => ApiError::from(s),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    })?;
    Ok(export_download(export, first, format))
}

/// An export as a download: the page read already, then the rest as the client reads. Shared
/// with the console's export, so both end a download broken (never complete and shorter) when
/// the log fails part-way.
pub(crate) fn export_download(
    export: tenure_engine::audit_query::Export,
    first: Option<Vec<u8>>,
    format: ExportFormat,
) -> Response {
    let stream = futures_util::stream::unfold((export, first), |(mut export, pending)| async move {
        if let Some(chunk) = pending {
            return Some((Ok(chunk), (export, None)));
        }
        match export.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), (export, None))),
            Ok(None) => None,
            Err(e) => {
                // Headers are out; an error ends the body without its final chunk, which the
                // client sees as a broken transfer rather than a complete, shorter log.
                tracing::error!(error = %e, "audit export failed part-way");
                export.done = true;
                Some((Err(std::io::Error::other(e.to_string())), (export, None)))
            }
        }
    });
    let disposition = format!("attachment; filename=\"audit.{}\"", format.extension());
    (
        [(header::CONTENT_TYPE, format.content_type().to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        Body::from_stream(stream),
    )
        .into_response()
}
