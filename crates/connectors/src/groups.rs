//! An app's groups: listing them with their members, creating one, and changing its members
//! as a diff (RFC 7644 §3.5.2: `add` with a `members` value list, `remove` with a value filter).

use reqwest::Method;
use serde_json::{Value, json};
use tenure_core::RemoteGroup;
use tenure_scim::{PatchOp, PatchOperation, PatchVerb};

use crate::client::{ScimClient, parse_json};
use crate::error::ConnectorError;

/// Members per PATCH request. Apps cap it (AWS IAM Identity Center: 100), and a smaller request
/// that fails loses less.
pub const MEMBERS_PER_REQUEST: usize = 100;

impl ScimClient {
    fn groups_url(&self, id: Option<&str>) -> url::Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push("Groups");
            if let Some(id) = id {
                segments.push(id);
            }
        }
        url
    }

    /// Every group with its members' account ids, paged like users.
    pub async fn list_groups(&self) -> Result<Vec<RemoteGroup>, ConnectorError> {
        let url = self.groups_url(None);
        let parse = |raw: Value| {
            group_from(&raw).ok_or_else(|| ConnectorError::InvalidResponse {
                method: "GET".into(),
                url: url.to_string(),
                message: format!("a group without an id or displayName: {raw}"),
            })
        };
        self.list_all(&url, Some("displayName"), parse).await
    }

    pub async fn create_group(&self, name: &str, members: &[String]) -> Result<RemoteGroup, ConnectorError> {
        let url = self.groups_url(None);
        let body = json!({
            "schemas": [tenure_scim::schemas::GROUP],
            "displayName": name,
            "members": members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>(),
        });
        let payload = serde_json::to_vec(&body).map_err(|e| ConnectorError::InvalidRequest(e.to_string()))?;
        let answer = self.send(Method::POST, &url, &[], Some(payload)).await?;
        let raw: Value = parse_json(&Method::POST, &url, &answer)?;
        group_from(&raw).ok_or_else(|| ConnectorError::InvalidResponse {
            method: "POST".into(),
            url: url.to_string(),
            message: "the created group has no id".into(),
        })
    }

    /// Adds and removes members, at most [`MEMBERS_PER_REQUEST`] per request, or fewer where the
    /// app's profile names a lower limit; with GET + PUT where the app has no PATCH.
    pub async fn change_group_members(
        &self,
        group_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), ConnectorError> {
        if group_id.is_empty() {
            return Err(ConnectorError::InvalidRequest("empty group id".into()));
        }
        let url = self.groups_url(Some(group_id));
        if self.capabilities.as_ref().is_some_and(|c| c.without_patch()) {
            // No PATCH: the group is read, its member list changed, and written back whole.
            return self
                .replace_resource(&url, "group", |group| {
                    crate::put::change_members(group, add, remove);
                    Ok(())
                })
                .await;
        }
        let per_request = self
            .capabilities
            .as_ref()
            .and_then(|c| c.max_members_per_request)
            .map_or(MEMBERS_PER_REQUEST, |m| (m as usize).clamp(1, MEMBERS_PER_REQUEST));
        let mut requests: Vec<PatchOperation> = Vec::new();
        for chunk in add.chunks(per_request) {
            requests.push(PatchOperation {
                op: PatchVerb::Add,
                path: Some("members".into()),
                value: Some(Value::Array(chunk.iter().map(|m| json!({"value": m})).collect())),
            });
        }
        // An app probed not to take value-filter paths gets the members to remove as a value
        // list (the form Entra ID and Okta send), which needs no filter.
        let by_value = self.capabilities.as_ref().is_some_and(|c| c.patch.value_filter_path.is_no());
        for chunk in remove.chunks(per_request) {
            requests.push(if by_value {
                PatchOperation {
                    op: PatchVerb::Remove,
                    path: Some("members".into()),
                    value: Some(Value::Array(chunk.iter().map(|m| json!({"value": m})).collect())),
                }
            } else {
                let filter: Vec<String> =
                    chunk.iter().map(|m| format!("value eq {}", Value::String(m.clone()))).collect();
                PatchOperation {
                    op: PatchVerb::Remove,
                    path: Some(format!("members[{}]", filter.join(" or "))),
                    value: None,
                }
            });
        }
        for operation in requests {
            let payload = serde_json::to_vec(&PatchOp::new(vec![operation]))
                .map_err(|e| ConnectorError::InvalidRequest(e.to_string()))?;
            self.send(Method::PATCH, &url, &[], Some(payload)).await?;
        }
        Ok(())
    }
}

fn group_from(raw: &Value) -> Option<RemoteGroup> {
    let remote_id = raw.get("id")?.as_str().filter(|s| crate::client::is_path_segment(s))?.to_owned();
    let name = raw.get("displayName")?.as_str()?.to_owned();
    let members = raw
        .get("members")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|m| m.get("value")?.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    Some(RemoteGroup { remote_id, name, members })
}
