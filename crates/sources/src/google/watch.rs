//! Push notification channels on the Directory API's users (`users.watch`), and stopping them
//! (`channels.stop`). A channel lives until its expiration; the engine opens a new one before
//! then and stops the old. Google then POSTs to the channel's address with the channel id and
//! token in `X-Goog-Channel-ID` / `X-Goog-Channel-Token`, and what happened in
//! `X-Goog-Resource-State` (`sync` first, on creation; then `add`, `update`, `delete`, ...).
//!
//! Contracts: <https://developers.google.com/admin-sdk/directory/reference/rest/v1/users/watch>,
//! <https://developers.google.com/admin-sdk/directory/v1/guides/push>,
//! <https://developers.google.com/workspace/admin/directory/reference/rest/v1/channels/stop>.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{GoogleSource, invalid};
use crate::cloud_http::CloudError;

/// The user events a channel can watch (`event`): one channel each.
pub const USER_EVENTS: &[&str] = &["add", "update", "delete", "undelete"];

/// A channel as Google confirmed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchChannel {
    pub id: String,
    /// Google's id of the watched resource; `channels.stop` needs it.
    pub resource_id: String,
    /// When Google stops sending, in milliseconds since the epoch.
    pub expiration_ms: i64,
}

impl GoogleSource {
    /// Opens a channel for one user `event` of the customer, sending to `address` with `token`,
    /// asking for `ttl` (Google may give less).
    pub async fn watch_users(
        &self,
        event: &str,
        id: &str,
        address: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<WatchChannel, CloudError> {
        let inner = &self.inner;
        let mut url = inner.endpoint(&["users", "watch"]);
        url.query_pairs_mut().append_pair("customer", &inner.customer).append_pair("event", event);
        let body = json!({
            "id": id,
            "type": "web_hook",
            "address": address,
            "token": token,
            "params": {"ttl": ttl.as_secs().to_string()},
        });
        let access = inner.account.token(&inner.http).await?;
        let answer = inner.http.send_json(Method::POST, &url, &access, Some(&body)).await?;
        let text = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_owned);
        let channel_id = text("id").ok_or_else(|| invalid(&url, "the channel has no id".into()))?;
        if channel_id != id {
            return Err(invalid(&url, format!("asked for channel {id}, got {channel_id}")));
        }
        let resource_id = text("resourceId").ok_or_else(|| invalid(&url, "the channel has no resourceId".into()))?;
        // `expiration` is a string of milliseconds (int64 in JSON as Google writes it).
        let expiration_ms = match answer.get("expiration") {
            Some(Value::String(ms)) => ms.parse::<i64>().ok(),
            Some(Value::Number(ms)) => ms.as_i64(),
            _ => None,
        }
        .ok_or_else(|| invalid(&url, "the channel has no expiration".into()))?;
        Ok(WatchChannel { id: channel_id, resource_id, expiration_ms })
    }

    /// Stops a channel: Google sends nothing more to it.
    pub async fn stop_channel(&self, id: &str, resource_id: &str) -> Result<(), CloudError> {
        let inner = &self.inner;
        // `channels.stop` lives beside the API's version, not under it: `/admin/directory_v1/`.
        let mut url = inner.api.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop().pop().pop().extend(["admin", "directory_v1", "channels", "stop"]);
        }
        let access = inner.account.token(&inner.http).await?;
        let body = json!({"id": id, "resourceId": resource_id});
        inner.http.send_json(Method::POST, &url, &access, Some(&body)).await?;
        Ok(())
    }
}
