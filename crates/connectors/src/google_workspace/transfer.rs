//! Drive files of a departing user handed to a recipient through the Admin SDK Data Transfer
//! API, before the user is suspended or deleted.
//!
//! Contract (<https://developers.google.com/workspace/admin/data-transfer/reference/rest/v1/transfers>,
//! <https://developers.google.com/workspace/admin/data-transfer/v1/parameters>):
//! - `POST admin/datatransfer/v1/transfers` with a DataTransfer `{oldOwnerUserId, newOwnerUserId,
//!   applicationDataTransfers: [{applicationId, applicationTransferParams: [{key, value: []}]}]}`;
//!   both owners by their user (profile) id. Google Docs and Google Drive is application
//!   55656082996; its `PRIVACY_LEVEL` defaults to `SHARED` alone, so both `PRIVATE` and `SHARED`
//!   are asked for to transfer every file.
//! - The answer, and `GET admin/datatransfer/v1/transfers/{dataTransferId}`, carry `id`,
//!   `requestTime` and `overallTransferStatusCode` (`new`, `inProgress`, `completed`, `failed`).
//! - `GET admin/datatransfer/v1/transfers?oldOwnerUserId=…&newOwnerUserId=…` lists transfers
//!   (`dataTransfers`, paged by `pageToken`/`nextPageToken`): how a retry finds the transfer an
//!   earlier attempt requested instead of requesting a second one.
//! - Scope `https://www.googleapis.com/auth/admin.datatransfer`; the recipient must be a user of
//!   the same domain.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::GoogleWorkspace;
use crate::connector::{FileTransfer, TransferStatus};
use crate::error::ConnectorError;

/// The Data Transfer API's read-write scope.
pub const SCOPE: &str = "https://www.googleapis.com/auth/admin.datatransfer";

/// Google Docs and Google Drive in the Data Transfer API.
pub const DRIVE_APPLICATION_ID: &str = "55656082996";

/// Longest pause between two looks at a running transfer.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(5);

impl GoogleWorkspace {
    /// Transfers every Drive file `remote_id` owns (private and shared) to `recipient` (a user
    /// id or primary address), resuming a transfer between the two requested at or after
    /// `since_ms` rather than requesting another. Polls for at most the request timeout.
    pub async fn transfer_drive(
        &self,
        remote_id: &str,
        recipient: &str,
        since_ms: i64,
    ) -> Result<FileTransfer, ConnectorError> {
        let recipient_key = recipient.trim();
        let Some(to) = self.get_raw(recipient_key).await? else {
            return Err(ConnectorError::InvalidRequest(format!(
                "the Drive files' recipient {recipient_key} is not a user of this Google Workspace"
            )));
        };
        let to_id = to.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        if to_id.is_empty() {
            return Err(self.invalid(&Method::GET, &self.user_url(recipient_key)?, "the user has no id".into()));
        }
        if to_id == remote_id {
            return Err(ConnectorError::InvalidRequest(format!(
                "the Drive files' recipient {recipient_key} is the departing user"
            )));
        }
        if to.get("suspended").and_then(Value::as_bool) == Some(true) {
            return Err(ConnectorError::InvalidRequest(format!(
                "the Drive files' recipient {recipient_key} is suspended"
            )));
        }
        let (mut transfer, resumed) = match self.earlier_transfer(remote_id, &to_id, since_ms).await? {
            Some(found) => (found, true),
            None => (self.request_transfer(remote_id, &to_id).await?, false),
        };
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        let mut pause = self.options.initial_backoff.clamp(Duration::from_millis(50), MAX_POLL_INTERVAL);
        loop {
            let status = status_of(&transfer);
            if status != TransferStatus::InProgress || tokio::time::Instant::now() + pause > deadline {
                let id = text(&transfer, "id").to_owned();
                return Ok(FileTransfer { id, recipient_id: to_id, status, resumed });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_POLL_INTERVAL);
            transfer = self.get_transfer(text(&transfer, "id")).await?;
        }
    }

    async fn request_transfer(&self, from: &str, to: &str) -> Result<Value, ConnectorError> {
        let body = json!({
            "oldOwnerUserId": from,
            "newOwnerUserId": to,
            "applicationDataTransfers": [{
                "applicationId": DRIVE_APPLICATION_ID,
                "applicationTransferParams": [{"key": "PRIVACY_LEVEL", "value": ["PRIVATE", "SHARED"]}],
            }],
        });
        let url = self.transfers.clone();
        let answer = self.send_as(&self.transfer_account, Method::POST, &url, &[], Some(&body)).await?;
        let transfer = answer.ok_or_else(|| self.invalid(&Method::POST, &url, "empty body".into()))?;
        if text(&transfer, "id").is_empty() {
            return Err(self.invalid(&Method::POST, &url, "the transfer has no id".into()));
        }
        tracing::info!(from, to, transfer = text(&transfer, "id"), "Drive transfer requested");
        Ok(transfer)
    }

    async fn get_transfer(&self, id: &str) -> Result<Value, ConnectorError> {
        let url = crate::rest_base::joined(&self.transfers, &[id]);
        self.send_as(&self.transfer_account, Method::GET, &url, &[], None)
            .await?
            .ok_or_else(|| self.invalid(&Method::GET, &url, "empty body".into()))
    }

    /// The newest Drive transfer from `from` to `to` requested at or after `since_ms` and not
    /// failed: what an earlier attempt of the same operation asked for.
    async fn earlier_transfer(&self, from: &str, to: &str, since_ms: i64) -> Result<Option<Value>, ConnectorError> {
        let url = self.transfers.clone();
        let mut found: Vec<Value> = Vec::new();
        let mut seen = HashSet::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("oldOwnerUserId", from.to_owned()), ("newOwnerUserId", to.to_owned())];
            if let Some(t) = &token {
                query.push(("pageToken", t.clone()));
            }
            let page = self
                .send_as(&self.transfer_account, Method::GET, &url, &query, None)
                .await?
                .ok_or_else(|| self.invalid(&Method::GET, &url, "empty body".into()))?;
            if let Some(items) = page.get("dataTransfers").and_then(Value::as_array) {
                found.extend(items.iter().cloned());
            }
            match page.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                None => break,
                Some(next) if !seen.insert(next.to_owned()) => {
                    return Err(self.invalid(&Method::GET, &url, "nextPageToken repeats an earlier page".into()));
                }
                Some(next) => token = Some(next.to_owned()),
            }
        }
        let mut matching: Vec<(i64, Value)> = found
            .into_iter()
            .filter(|t| text(t, "oldOwnerUserId") == from && text(t, "newOwnerUserId") == to)
            .filter(|t| status_of(t) != TransferStatus::Failed && moves_drive(t))
            .filter_map(|t| requested_ms(&t).filter(|ms| *ms >= since_ms).map(|ms| (ms, t)))
            .collect();
        matching.sort_by_key(|(ms, _)| *ms);
        Ok(matching.pop().map(|(_, t)| t))
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn status_of(transfer: &Value) -> TransferStatus {
    match text(transfer, "overallTransferStatusCode") {
        "completed" => TransferStatus::Completed,
        "failed" => TransferStatus::Failed,
        // `new`, `inProgress`, or a code Google adds later: not done yet.
        _ => TransferStatus::InProgress,
    }
}

/// Whether the transfer carries Drive (application ids are int64, sent as strings by the JSON
/// API, but a number is accepted too).
fn moves_drive(transfer: &Value) -> bool {
    transfer.get("applicationDataTransfers").and_then(Value::as_array).is_some_and(|apps| {
        apps.iter().any(|a| match a.get("applicationId") {
            Some(Value::String(s)) => s == DRIVE_APPLICATION_ID,
            Some(Value::Number(n)) => n.to_string() == DRIVE_APPLICATION_ID,
            _ => false,
        })
    })
}

fn requested_ms(transfer: &Value) -> Option<i64> {
    let raw = transfer.get("requestTime")?.as_str()?;
    let at = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).ok()?;
    Some((at.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_request_times_are_read_as_documented() {
        let t = json!({
            "id": "t1",
            "oldOwnerUserId": "1",
            "newOwnerUserId": "2",
            "overallTransferStatusCode": "inProgress",
            "requestTime": "2026-12-06T21:00:00.123Z",
            "applicationDataTransfers": [{"applicationId": "55656082996"}],
        });
        assert_eq!(status_of(&t), TransferStatus::InProgress);
        assert!(moves_drive(&t));
        assert_eq!(requested_ms(&t), Some(1_796_590_800_123));
        assert_eq!(status_of(&json!({"overallTransferStatusCode": "completed"})), TransferStatus::Completed);
        assert_eq!(status_of(&json!({"overallTransferStatusCode": "failed"})), TransferStatus::Failed);
        assert_eq!(status_of(&json!({"overallTransferStatusCode": "new"})), TransferStatus::InProgress);
        assert!(!moves_drive(&json!({"applicationDataTransfers": [{"applicationId": 435070579839u64}]})));
        assert!(moves_drive(&json!({"applicationDataTransfers": [{"applicationId": 55656082996u64}]})));
    }
}
