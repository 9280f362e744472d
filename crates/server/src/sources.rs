//! Uploading an HR export to a CSV source:
//!
//! - `POST /api/v1/sources/{name}/upload`: the body is the people CSV (any content type).
//! - `POST /api/v1/sources/{name}/upload-groups`: the body is the groups CSV (`name,parents`);
//!   the people are re-read from the source's current file. The source needs a groups file
//!   (`tenure source set NAME --groups-file PATH`).
//!
//! Two plain-body endpoints rather than one multipart request: a body is what `curl
//! --data-binary @people.csv` and every HR system's "HTTP export" send, and each file is a
//! complete import of its own.
//!
//! Either is validated completely against the source's column mapping and format, then applied
//! like `tenure sync` (sync scope, source guard, one transaction); `?force=true` applies what the
//! source guard refuses, audited, like `sync --force`. Answers: 200 with the import summary; 422
//! with `{"error", "problems": [{"file", "line", "column", "message"}]}` for a bad file (every
//! row problem, up to 100) or a refused import, and nothing changed; 404 for an unknown source.
//! On success the file becomes the source's current file, so a later sync reads it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;
use tenure_engine::{CsvUpload, Engine, EngineError, SyncOptions};

use crate::ServerState;
use crate::admin::ApiError;
use crate::auth::Admin;

/// Exports of a few hundred thousand people run to tens of megabytes; axum's default limit
/// (2 MB) would turn them away.
const MAX_UPLOAD_BYTES: usize = 512 * 1024 * 1024;

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/sources/{name}/upload", post(upload_people))
        .route("/sources/{name}/upload-groups", post(upload_groups))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
}

#[derive(Deserialize)]
struct UploadQuery {
    #[serde(default)]
    force: bool,
}

async fn upload_people(
    State(state): State<ServerState>,
    admin: Admin,
    Path(name): Path<String>,
    Query(q): Query<UploadQuery>,
    body: Bytes,
) -> Response {
    upload(state, admin, name, q, CsvUpload { people: Some(Vec::from(body)), groups: None }).await
}

async fn upload_groups(
    State(state): State<ServerState>,
    admin: Admin,
    Path(name): Path<String>,
    Query(q): Query<UploadQuery>,
    body: Bytes,
) -> Response {
    upload(state, admin, name, q, CsvUpload { people: None, groups: Some(Vec::from(body)) }).await
}

async fn upload(state: ServerState, admin: Admin, name: String, q: UploadQuery, files: CsvUpload) -> Response {
    let engine = Engine::new(state.store.clone(), admin.tenant);
    let bytes = files.people.as_ref().or(files.groups.as_ref()).map_or(0, Vec::len);
    let which = if files.people.is_some() { "people" } else { "groups" };
    let result = async {
        let (source, _) = engine.csv_source(&name).await?;
        engine.import_csv(&source, files, SyncOptions { force: q.force, ..Default::default() }).await
    }
    .await;
    match result {
        Ok(report) => {
            let detail = json!({"file": which, "bytes": bytes, "force": q.force});
            if let Err(e) = state.store.append_audit(admin.tenant, "api", "source.upload", &name, &detail).await {
                tracing::warn!(error = %e, "could not audit an upload that was imported");
            }
            (StatusCode::OK, axum::Json(report)).into_response()
        }
        Err(EngineError::Source { error: tenure_sources::SourceError::Csv(csv), .. }) if !csv.is_retryable() => {
            let body = json!({"error": csv.to_string(), "problems": csv.problems()});
            (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
