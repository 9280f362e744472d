//! Change notification subscriptions on users and groups: created (`POST /subscriptions`, during
//! which Graph validates the notification URL by POSTing `?validationToken=…` to it and wants the
//! token echoed as `text/plain` within 10 seconds), renewed before they expire (`PATCH` of
//! `expirationDateTime`) and deleted. Each notification carries the subscription's id and the
//! `clientState` given at creation; the engine checks both and answers with a delta sync.
//!
//! Contracts: <https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions>,
//! <https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks>,
//! <https://learn.microsoft.com/en-us/graph/api/subscription-update>. For users and groups,
//! `updated` covers creation and soft deletion, and a subscription lives at most 41,760 minutes.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::{GraphSource, invalid};
use crate::cloud_http::CloudError;

/// The resources a Graph source subscribes to.
pub const RESOURCES: &[&str] = &["users", "groups"];

/// The longest life Graph gives a subscription on users or groups.
pub const MAX_LIFETIME: Duration = Duration::from_secs(41_760 * 60);

/// A subscription as Graph confirmed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    /// Milliseconds since the epoch.
    pub expiration_ms: i64,
}

fn expiration(after: Duration) -> String {
    let at = time::OffsetDateTime::now_utc() + after.min(MAX_LIFETIME);
    at.format(&Rfc3339).unwrap_or_default()
}

fn parse_expiration(answer: &Value) -> Option<i64> {
    let text = answer.get("expirationDateTime")?.as_str()?;
    let at = time::OffsetDateTime::parse(text, &Rfc3339).ok()?;
    Some((at.unix_timestamp_nanos() / 1_000_000) as i64)
}

impl GraphSource {
    /// Subscribes `notification_url` to changes of `resource` (`users` or `groups`) for
    /// `lifetime` (at most [`MAX_LIFETIME`]).
    pub async fn subscribe(
        &self,
        resource: &str,
        notification_url: &str,
        client_state: &str,
        lifetime: Duration,
    ) -> Result<Subscription, CloudError> {
        let inner = &self.inner;
        let url = inner.endpoint(&["subscriptions"], &[]);
        let body = json!({
            "changeType": "updated,deleted",
            "notificationUrl": notification_url,
            "resource": resource,
            "expirationDateTime": expiration(lifetime),
            "clientState": client_state,
        });
        let token = inner.credentials.token(&inner.http).await?;
        let answer = inner.http.send_json(Method::POST, &url, &token, Some(&body)).await?;
        let id = answer
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| invalid(&url, "the subscription has no id".into()))?;
        let expiration_ms = parse_expiration(&answer)
            .ok_or_else(|| invalid(&url, "the subscription has no expirationDateTime".into()))?;
        Ok(Subscription { id: id.to_owned(), expiration_ms })
    }

    /// Extends a subscription's life by `lifetime` from now; returns the new expiration.
    pub async fn renew(&self, id: &str, lifetime: Duration) -> Result<i64, CloudError> {
        let inner = &self.inner;
        let url = inner.endpoint(&["subscriptions", id], &[]);
        let body = json!({"expirationDateTime": expiration(lifetime)});
        let token = inner.credentials.token(&inner.http).await?;
        let answer = inner.http.send_json(Method::PATCH, &url, &token, Some(&body)).await?;
        parse_expiration(&answer).ok_or_else(|| invalid(&url, "the subscription has no expirationDateTime".into()))
    }

    /// Deletes a subscription (one already gone is fine).
    pub async fn unsubscribe(&self, id: &str) -> Result<(), CloudError> {
        let inner = &self.inner;
        let url = inner.endpoint(&["subscriptions", id], &[]);
        let token = inner.credentials.token(&inner.http).await?;
        match inner.http.send_json(Method::DELETE, &url, &token, None).await {
            Ok(_) => Ok(()),
            Err(CloudError::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
