//! The Admin SDK Data Transfer API in the Google Workspace fake: Drive files owned by users,
//! handed to another user by a transfer that runs for a while, as Google documents it.
//!
//! Contract followed (<https://developers.google.com/workspace/admin/data-transfer/reference/rest/v1/transfers>,
//! <https://developers.google.com/workspace/admin/data-transfer/reference/rest/v1/transfers/list>,
//! <https://developers.google.com/workspace/admin/data-transfer/v1/parameters>):
//! - `POST /admin/datatransfer/v1/transfers` with `{oldOwnerUserId, newOwnerUserId,
//!   applicationDataTransfers: [{applicationId, applicationTransferParams: [{key, value}]}]}`,
//!   owners by user id; answers the DataTransfer (`kind` `admin#datatransfer#DataTransfer`, `id`,
//!   `requestTime`, `overallTransferStatusCode`, each application's `applicationTransferStatus`).
//! - Google Docs and Google Drive is application 55656082996; `PRIVACY_LEVEL` is `PRIVATE`
//!   and/or `SHARED` and defaults to `SHARED` alone.
//! - `GET /admin/datatransfer/v1/transfers/{dataTransferId}`; `GET …/transfers` with
//!   `oldOwnerUserId`, `newOwnerUserId`, `status`, `maxResults` (default 100), `pageToken`,
//!   answering `dataTransfers` and `nextPageToken`.
//! - Scope `https://www.googleapis.com/auth/admin.datatransfer` (the `.readonly` one reads).
//!
//! The fake's choices where the documentation says nothing: an owner that is not a user is 400
//! `invalid`; a transfer is `inProgress` for [`DriveState::polls_to_complete`] reads, then
//! `completed` with the files moved (or `failed` when [`DriveState::fail`] is set), and stays
//! `inProgress` while [`DriveState::hold`] is set.

// Handlers return the early answer (an error, a throttle) as `Err(Response)`; its size is of no
// concern in a test fake.
#![allow(clippy::result_large_err)]

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::google_fake::{Slot, admit_scoped, api_error, lock, parse_body, shared, text};

pub const SCOPE: &str = "https://www.googleapis.com/auth/admin.datatransfer";
const READ_SCOPE: &str = "https://www.googleapis.com/auth/admin.datatransfer.readonly";
pub const DRIVE_APPLICATION_ID: &str = "55656082996";
/// Applications the fake knows (Calendar, Drive and Docs, Looker Studio).
const APPLICATIONS: &[&str] = &["435070579839", DRIVE_APPLICATION_ID, "810260081642"];

/// A Drive file, by its owner's user id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveFile {
    pub name: String,
    pub owner: String,
    /// Shared with at least one other user (`SHARED`), or not (`PRIVATE`).
    pub shared: bool,
}

#[derive(Debug, Default)]
pub struct DriveState {
    pub files: Vec<DriveFile>,
    /// DataTransfer resources as the API returns them.
    pub transfers: Vec<Value>,
    /// Reads a transfer stays `inProgress` for before it completes (0: completes at once).
    pub polls_to_complete: u32,
    /// Transfers stay `inProgress` while set.
    pub hold: bool,
    /// Transfers end `failed`.
    pub fail: bool,
    /// The client is not delegated the Data Transfer scope: its token request is refused.
    pub transfer_scope_withheld: bool,
    reads: std::collections::HashMap<String, u32>,
}

impl DriveState {
    /// The names of the files `owner` (a user id) owns, sorted.
    pub fn files_of(&self, owner: &str) -> Vec<String> {
        let mut names: Vec<String> = self.files.iter().filter(|f| f.owner == owner).map(|f| f.name.clone()).collect();
        names.sort();
        names
    }

    /// One more read of the transfer at `index`: it moves on when its time has come.
    fn advance(&mut self, index: usize) {
        let id = text(&self.transfers[index], "id").to_owned();
        if text(&self.transfers[index], "overallTransferStatusCode") != "inProgress" || self.hold {
            return;
        }
        let reads = self.reads.entry(id).or_default();
        *reads += 1;
        if *reads < self.polls_to_complete {
            return;
        }
        let status = if self.fail { "failed" } else { "completed" };
        let transfer = &mut self.transfers[index];
        if status == "completed" {
            let (from, to) = (text(transfer, "oldOwnerUserId").to_owned(), text(transfer, "newOwnerUserId").to_owned());
            let levels = privacy_levels(transfer);
            for file in self.files.iter_mut().filter(|f| f.owner == from) {
                let level = if file.shared { "SHARED" } else { "PRIVATE" };
                if levels.iter().any(|l| l == level) {
                    file.owner = to.clone();
                }
            }
        }
        let transfer = &mut self.transfers[index];
        transfer["overallTransferStatusCode"] = json!(status);
        if let Some(apps) = transfer.get_mut("applicationDataTransfers").and_then(Value::as_array_mut) {
            for app in apps {
                app["applicationTransferStatus"] = json!(status);
            }
        }
    }
}

/// The Drive application's `PRIVACY_LEVEL` values, `SHARED` when not given.
fn privacy_levels(transfer: &Value) -> Vec<String> {
    let drive = transfer
        .get("applicationDataTransfers")
        .and_then(Value::as_array)
        .and_then(|apps| apps.iter().find(|a| application_id(a).as_deref() == Some(DRIVE_APPLICATION_ID)));
    let given: Vec<String> = drive
        .and_then(|d| d.get("applicationTransferParams"))
        .and_then(Value::as_array)
        .and_then(|params| params.iter().find(|p| text(p, "key") == "PRIVACY_LEVEL"))
        .and_then(|p| p.get("value"))
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if given.is_empty() { vec!["SHARED".to_owned()] } else { given }
}

/// An int64 sent as a string (the JSON API's way) or as a number.
fn application_id(app: &Value) -> Option<String> {
    match app.get("applicationId")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

pub(crate) async fn insert(State(slot): State<Slot>, headers: HeaderMap, body: String) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit_scoped(&shared, &headers, Some(SCOPE), |c| c.transfers += 1) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => Value::Object(b),
        Err(r) => return r,
    };
    let (from, to) = (text(&body, "oldOwnerUserId").to_owned(), text(&body, "newOwnerUserId").to_owned());
    if from.is_empty() || to.is_empty() {
        return api_error(StatusCode::BAD_REQUEST, "required", "Required parameter: oldOwnerUserId, newOwnerUserId");
    }
    let mut dir = lock(&shared.dir);
    for id in [&from, &to] {
        if !dir.users.iter().any(|u| text(u, "id") == id.as_str()) {
            return api_error(StatusCode::BAD_REQUEST, "invalid", &format!("Invalid user id: {id}"));
        }
    }
    if from == to {
        return api_error(StatusCode::BAD_REQUEST, "invalid", "The source and destination users are the same");
    }
    let Some(apps) = body.get("applicationDataTransfers").and_then(Value::as_array).filter(|a| !a.is_empty()) else {
        return api_error(StatusCode::BAD_REQUEST, "required", "Required parameter: applicationDataTransfers");
    };
    let mut stored_apps = Vec::new();
    for app in apps {
        let Some(id) = application_id(app).filter(|id| APPLICATIONS.contains(&id.as_str())) else {
            return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid applicationId");
        };
        let params = app.get("applicationTransferParams").cloned().unwrap_or_else(|| json!([]));
        let bad_level = params.as_array().into_iter().flatten().any(|p| {
            text(p, "key") == "PRIVACY_LEVEL"
                && p.get("value")
                    .and_then(Value::as_array)
                    .is_none_or(|v| v.is_empty() || v.iter().any(|l| !matches!(l.as_str(), Some("PRIVATE" | "SHARED"))))
        });
        if bad_level {
            return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid value for PRIVACY_LEVEL");
        }
        stored_apps.push(json!({
            "applicationId": id,
            "applicationTransferParams": params,
            "applicationTransferStatus": "inProgress",
        }));
    }
    let id = format!("AKrEt{}", dir.fresh_id());
    let transfer = json!({
        "kind": "admin#datatransfer#DataTransfer",
        "etag": format!("\"{id}\""),
        "id": id,
        "oldOwnerUserId": from,
        "newOwnerUserId": to,
        "applicationDataTransfers": stored_apps,
        "overallTransferStatusCode": "inProgress",
        "requestTime": rfc3339_now(),
    });
    dir.drive.transfers.push(transfer);
    let index = dir.drive.transfers.len() - 1;
    if dir.drive.polls_to_complete == 0 {
        dir.drive.advance(index);
    }
    axum::Json(dir.drive.transfers[index].clone()).into_response()
}

fn admit_read(shared: &crate::google_fake::Shared, headers: &HeaderMap) -> Result<(), Response> {
    admit_scoped(shared, headers, Some(SCOPE), |c| c.transfer_reads += 1)
        .or_else(|_| admit_scoped(shared, headers, Some(READ_SCOPE), |_| {}))
}

pub(crate) async fn get(State(slot): State<Slot>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit_read(&shared, &headers) {
        return r;
    }
    let mut dir = lock(&shared.dir);
    let Some(index) = dir.drive.transfers.iter().position(|t| text(t, "id") == id) else {
        return api_error(StatusCode::NOT_FOUND, "notFound", "Resource Not Found: dataTransferId");
    };
    dir.drive.advance(index);
    axum::Json(dir.drive.transfers[index].clone()).into_response()
}

pub(crate) async fn list(
    State(slot): State<Slot>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit_read(&shared, &headers) {
        return r;
    }
    let size = match query.get("maxResults").map(|v| v.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=500).contains(&n) => n,
        Some(_) => return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid value for maxResults"),
    };
    let offset = match query.get("pageToken").map(|t| t.strip_prefix("dt-").and_then(|n| n.parse::<usize>().ok())) {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid page token"),
    };
    let mut dir = lock(&shared.dir);
    let wanted = |t: &Value| {
        [
            ("oldOwnerUserId", "oldOwnerUserId"),
            ("newOwnerUserId", "newOwnerUserId"),
            ("status", "overallTransferStatusCode"),
        ]
        .iter()
        .all(|(param, field)| query.get(*param).is_none_or(|v| v.is_empty() || text(t, field) == v))
    };
    let matching: Vec<usize> = (0..dir.drive.transfers.len()).filter(|i| wanted(&dir.drive.transfers[*i])).collect();
    let end = (offset + size).min(matching.len());
    let mut items = Vec::new();
    for &i in matching.get(offset..end).unwrap_or_default() {
        dir.drive.advance(i);
        items.push(dir.drive.transfers[i].clone());
    }
    let mut body = json!({"kind": "admin#datatransfer#dataTransfersList", "dataTransfers": items});
    if end < matching.len() {
        body["nextPageToken"] = json!(format!("dt-{end}"));
    }
    axum::Json(body).into_response()
}
