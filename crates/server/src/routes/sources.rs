//! Sources: list, create, show, edit (ETag / If-Match, `?preview=true`), remove, sync now, and
//! uploads of an HR export to a CSV source:
//!
//! - `POST /api/v1/sources/{name}/upload`: the body is the people CSV (any content type).
//! - `POST /api/v1/sources/{name}/upload-groups`: the body is the groups CSV (`name,parents`).
//!
//! An upload is written to a temporary file as it arrives (never held in memory whole), up to
//! the server's limit (`serve --max-upload-mb`, default 512 MiB; beyond it 413 with
//! `limit_bytes`), then validated completely and applied like `tenure sync` (scope, source
//! guard, one transaction); `?force=true` applies what the source guard refuses. 200 with the
//! import summary; 422 with `{"error", "problems": [{"file", "line", "column", "message"}]}` for
//! a bad file or a refused import, nothing changed.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tenure_engine::admin::views::{SourceEdited, SourceRemoval, SourceView};
use tenure_engine::admin::{NewSource, Origin, SourceEdit};
use tenure_engine::{CsvData, CsvUpload, EngineError, SyncOptions};

use super::Errors;
use crate::ServerState;
use crate::api::{ApiError, ApiResult, Body, Caller, Params, PreviewQuery, created, if_match, json, with_etag};

/// Exports of a few hundred thousand people run to tens of megabytes; the default leaves room
/// for ten times that.
pub const DEFAULT_UPLOAD_LIMIT: u64 = 512 * 1024 * 1024;

pub fn routes() -> Router<ServerState> {
    let uploads = Router::new()
        .route("/sources/{name}/upload", post(upload_people))
        .route("/sources/{name}/upload-groups", post(upload_groups));
    Router::new()
        .route("/sources", get(list).post(create))
        .route("/sources/{name}", get(show).put(edit).delete(remove))
        .route("/sources/{name}/sync", post(sync_one))
        .route("/sync", post(sync))
        .merge(uploads)
}

/// The tenant's sources; credentials shown as `***`.
#[utoipa::path(get, path = "/api/v1/sources", tag = "sources", responses((status = 200, body = Vec<SourceView>), Errors))]
pub async fn list(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().sources().await?)
}

/// Adds a source (org admins): `ldap`, or `csv` fed by uploads. Settings naming the server's
/// files or environment variables are for `tenure source add` on the server.
#[utoipa::path(post, path = "/api/v1/sources", tag = "sources", request_body = NewSource, responses((status = 201, body = SourceView), Errors))]
pub async fn create(caller: Caller, Body(spec): Body<NewSource>) -> ApiResult<Response> {
    created(&caller.admin().create_source(spec, Origin::Remote).await?)
}

/// One source, with its ETag.
#[utoipa::path(get, path = "/api/v1/sources/{name}", tag = "sources", params(("name" = String, Path)), responses((status = 200, body = SourceView), Errors))]
pub async fn show(caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    let view = caller.admin().show_source(&name).await?;
    with_etag(&view, view.version)
}

/// Replaces a source's settings; `?preview=true` says who a narrower sync scope would make
/// leave (and the accounts they would lose) and saves nothing.
#[utoipa::path(put, path = "/api/v1/sources/{name}", tag = "sources", request_body = SourceEdit,
    params(("name" = String, Path), ("If-Match" = Option<String>, Header), PreviewQuery), responses((status = 200, body = SourceEdited), Errors))]
pub async fn edit(
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    Params(q): Params<PreviewQuery>,
    Body(edit): Body<SourceEdit>,
) -> ApiResult<Response> {
    let edited = caller.admin().edit_source(&name, edit, if_match(&headers)?, q.preview, Origin::Remote).await?;
    with_etag(&edited, edited.source.version)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ForceQuery {
    /// Remove the source even though its people hold accounts (they leave), or apply an
    /// upload the source guard refuses.
    #[serde(default)]
    force: bool,
}

/// Removes a source: its people leave the directory. Refused while they hold accounts, unless
/// `?force=true`.
#[utoipa::path(delete, path = "/api/v1/sources/{name}", tag = "sources", params(("name" = String, Path), ForceQuery),
    responses((status = 200, body = SourceRemoval), Errors))]
pub async fn remove(caller: Caller, Path(name): Path<String>, Params(q): Params<ForceQuery>) -> ApiResult<Response> {
    json(&caller.admin().remove_source(&name, q.force).await?)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// One source (default: every one).
    source: Option<String>,
    /// Read everything, even from a source that could deliver only its changes.
    #[serde(default)]
    full: bool,
    /// Apply what the source guard refuses (audited).
    #[serde(default)]
    force: bool,
}

/// Reads sources into the directory now.
#[utoipa::path(post, path = "/api/v1/sync", tag = "sources", params(SyncQuery), responses((status = 200, body = Vec<Object>, description = "SyncReport list"), Errors))]
pub async fn sync(caller: Caller, Params(q): Params<SyncQuery>) -> ApiResult<Response> {
    let options = SyncOptions { force: q.force, full: q.full };
    json(&caller.admin().sync(q.source.as_deref(), options).await?)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SyncOneQuery {
    #[serde(default)]
    full: bool,
    #[serde(default)]
    force: bool,
}

/// Reads one source into the directory now.
#[utoipa::path(post, path = "/api/v1/sources/{name}/sync", tag = "sources", params(("name" = String, Path), SyncOneQuery),
    responses((status = 200, body = Vec<Object>, description = "SyncReport list"), Errors))]
pub async fn sync_one(
    caller: Caller,
    Path(name): Path<String>,
    Params(q): Params<SyncOneQuery>,
) -> ApiResult<Response> {
    let options = SyncOptions { force: q.force, full: q.full };
    json(&caller.admin().sync(Some(&name), options).await?)
}

/// Uploads the people CSV of a CSV source and imports it.
#[utoipa::path(post, path = "/api/v1/sources/{name}/upload", tag = "sources", request_body(content = String, content_type = "text/csv"),
    params(("name" = String, Path), ForceQuery), responses((status = 200, body = Object, description = "SyncReport"), (status = 422, body = Object, description = "every problem of the file"), Errors))]
pub async fn upload_people(
    State(state): State<ServerState>,
    caller: Caller,
    Path(name): Path<String>,
    Params(q): Params<ForceQuery>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let spooled = match spool(state.upload_limit, &headers, body).await {
        Ok(file) => file,
        Err(refused) => return refused,
    };
    let files = CsvUpload { people: Some(CsvData::File(spooled.to_path_buf())), groups: None };
    upload(caller, name, q, files).await
}

/// Uploads the groups CSV of a CSV source and imports it with the current people file.
#[utoipa::path(post, path = "/api/v1/sources/{name}/upload-groups", tag = "sources", request_body(content = String, content_type = "text/csv"),
    params(("name" = String, Path), ForceQuery), responses((status = 200, body = Object, description = "SyncReport"), (status = 422, body = Object, description = "every problem of the file"), Errors))]
pub async fn upload_groups(
    State(state): State<ServerState>,
    caller: Caller,
    Path(name): Path<String>,
    Params(q): Params<ForceQuery>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let spooled = match spool(state.upload_limit, &headers, body).await {
        Ok(file) => file,
        Err(refused) => return refused,
    };
    let files = CsvUpload { people: None, groups: Some(CsvData::File(spooled.to_path_buf())) };
    upload(caller, name, q, files).await
}

fn too_large(limit: u64) -> Response {
    let body = json!({
        "error": format!("the upload is larger than this server's limit of {limit} bytes ({} MiB); \
            raise it with `serve --max-upload-mb` or split the export", limit.div_ceil(1024 * 1024)),
        "limit_bytes": limit,
    });
    (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response()
}

/// Writes the request body to a temporary file (readable by this user only, removed when the
/// returned path is dropped) as it arrives, counting: a body over `limit` is refused as soon as
/// it passes it (at once when its `Content-Length` says so), and a body cut short is refused;
/// either way before anything is imported.
async fn spool(limit: u64, headers: &HeaderMap, body: axum::body::Body) -> Result<tempfile::TempPath, Response> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let store_error = |e: std::io::Error| {
        tracing::error!(error = %e, "cannot write an upload to a temporary file");
        ApiError::new(StatusCode::INSUFFICIENT_STORAGE, format!("cannot store the upload on the server: {e}"))
            .into_response()
    };
    let (file, path) = tempfile::NamedTempFile::new().map_err(store_error)?.into_parts();
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::from_std(file));
    let mut stream = body.into_data_stream();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("the upload was cut short: {e}")).into_response())?;
        written += chunk.len() as u64;
        if written > limit {
            return Err(too_large(limit));
        }
        out.write_all(&chunk).await.map_err(store_error)?;
    }
    out.flush().await.map_err(store_error)?;
    Ok(path)
}

async fn upload(caller: Caller, name: String, q: ForceQuery, files: CsvUpload) -> Response {
    match caller.admin().upload_csv(&name, files, q.force).await {
        Ok(report) => (StatusCode::OK, axum::Json(report)).into_response(),
        Err(EngineError::Source { error: tenure_sources::SourceError::Csv(csv), .. }) if !csv.is_retryable() => {
            let body = json!({"error": csv.to_string(), "problems": csv.problems()});
            (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
