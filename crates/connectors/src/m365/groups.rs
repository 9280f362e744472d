//! Entra ID groups through Graph: listing them with their members, creating a security group,
//! and changing members one reference at a time. Contracts, from Microsoft's Graph reference:
//!
//! - List: `GET /groups?$select=…&$top=N`, further pages by `@odata.nextLink`
//!   (<https://learn.microsoft.com/en-us/graph/api/group-list>,
//!   <https://learn.microsoft.com/en-us/graph/paging>); `assignedLicenses` (the licenses the
//!   group gives its members) only when selected. The groups that carry licenses alone:
//!   `$filter=assignedLicenses/$count ne 0&$count=true`, an advanced query that needs the header
//!   `ConsistencyLevel: eventual` (<https://learn.microsoft.com/en-us/graph/aad-advanced-queries>).
//! - Members: `GET /groups/{id}/members` (direct members, paged likewise)
//!   (<https://learn.microsoft.com/en-us/graph/api/group-list-members>).
//! - Add: `POST /groups/{id}/members/$ref` with `{"@odata.id": "…/directoryObjects/{id}"}`, 204;
//!   a member already there is 400 "One or more added object references already exist…"
//!   (<https://learn.microsoft.com/en-us/graph/api/group-post-members>): done, for Tenure.
//!   One reference per request: a batch (`members@odata.bind` in a PATCH, up to 20) fails
//!   whole when one of them is there already, which a retry after a lost answer always meets.
//! - Remove: `DELETE /groups/{id}/members/{userId}/$ref`, 204; not a member is 404
//!   (<https://learn.microsoft.com/en-us/graph/api/group-delete-members>): done, for Tenure.
//! - Create: `POST /groups` with `displayName`, `mailNickname`, `mailEnabled: false`,
//!   `securityEnabled: true` (a security group: the kind that can carry licenses and that Graph
//!   can make), and up to 20 first members in `members@odata.bind`
//!   (<https://learn.microsoft.com/en-us/graph/api/group-post-groups>). Graph keeps display
//!   names unique in no way, so a group is found again by name (the engine does so on a retry).
//! - Graph cannot change the members of a dynamic group (`groupTypes` holds `DynamicMembership`),
//!   of a group synced from on-premises AD (`onPremisesSyncEnabled`), or of a mail-enabled
//!   security group or distribution list (`mailEnabled` without `Unified`)
//!   (<https://learn.microsoft.com/en-us/graph/api/resources/groups-overview>).

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};
use tenure_core::RemoteGroup;
use url::Url;

use super::M365;
use super::http::invalid;
use crate::error::ConnectorError;

/// Members one `members@odata.bind` may name.
pub const MAX_BIND: usize = 20;

const GROUP_SELECT: &str =
    "id,displayName,groupTypes,mailEnabled,securityEnabled,onPremisesSyncEnabled,membershipRule,assignedLicenses";

/// An Entra group as far as Tenure needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GraphGroup {
    pub id: String,
    pub name: String,
    /// Members set by a membership rule.
    pub dynamic: bool,
    /// Synced from on-premises Active Directory.
    pub synced: bool,
    /// A mail-enabled security group or a distribution list (Exchange's to change).
    pub mail_enabled: bool,
    /// SKU ids (lower case) the group gives its members.
    pub licenses: Vec<String>,
}

impl GraphGroup {
    fn of(raw: &Value) -> Option<Self> {
        let types: Vec<&str> = raw["groupTypes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        Some(Self {
            id: raw["id"].as_str().filter(|id| crate::client::is_path_segment(id))?.to_owned(),
            name: raw["displayName"].as_str().unwrap_or_default().to_owned(),
            dynamic: types.contains(&"DynamicMembership"),
            synced: raw["onPremisesSyncEnabled"].as_bool() == Some(true),
            mail_enabled: raw["mailEnabled"].as_bool() == Some(true) && !types.contains(&"Unified"),
            licenses: super::sku_ids(raw),
        })
    }

    /// Why Graph will not change this group's members, when it will not.
    pub fn unchangeable(&self) -> Option<&'static str> {
        if self.dynamic {
            Some("its members are set by a membership rule (a dynamic group)")
        } else if self.synced {
            Some("it is synced from on-premises Active Directory, where its members are changed")
        } else if self.mail_enabled {
            Some("it is a mail-enabled security group or a distribution list, whose members Exchange keeps")
        } else {
            None
        }
    }
}

/// `mailNickname` from a group's name: only the characters Graph accepts in it.
fn group_nickname(name: &str) -> String {
    let nick: String =
        name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).take(64).collect();
    if nick.is_empty() { "group".to_owned() } else { nick }
}

impl M365 {
    /// Every object of a list, page after page by `@odata.nextLink`.
    async fn read_pages(&self, first: Url, headers: &[(&str, &str)]) -> Result<Vec<Value>, ConnectorError> {
        let mut url = first;
        let mut seen = HashSet::new();
        let mut all = Vec::new();
        loop {
            let page = self.graph.send_with(Method::GET, &url, None, headers).await?;
            let items = page["value"].as_array().ok_or_else(|| invalid("GET", url.as_str(), "no value array"))?;
            all.extend(items.iter().cloned());
            let Some(next) = page["@odata.nextLink"].as_str() else { return Ok(all) };
            if !seen.insert(next.to_owned()) {
                return Err(ConnectorError::Paging {
                    url: url.to_string(),
                    fault: "Graph handed out the same @odata.nextLink twice".into(),
                });
            }
            url = self.graph.link(next)?;
        }
    }

    fn top(&self) -> String {
        self.graph.options.page_size.clamp(1, super::MAX_PAGE).to_string()
    }

    /// The tenant's groups, with what each is and the licenses it gives.
    pub async fn graph_groups(&self) -> Result<Vec<GraphGroup>, ConnectorError> {
        let mut url = self.graph.url(&["groups"]);
        url.query_pairs_mut().append_pair("$select", GROUP_SELECT).append_pair("$top", &self.top());
        let raw = self.read_pages(url.clone(), &[]).await?;
        raw.iter()
            .map(|g| GraphGroup::of(g).ok_or_else(|| invalid("GET", url.as_str(), "a group without id")))
            .collect()
    }

    /// The groups that give licenses (group-based licensing), by Graph's advanced query.
    pub async fn licensing_groups(&self) -> Result<Vec<GraphGroup>, ConnectorError> {
        let mut url = self.graph.url(&["groups"]);
        url.query_pairs_mut()
            .append_pair("$filter", "assignedLicenses/$count ne 0")
            .append_pair("$count", "true")
            .append_pair("$select", GROUP_SELECT)
            .append_pair("$top", &self.top());
        let raw = self.read_pages(url.clone(), &[("ConsistencyLevel", "eventual")]).await?;
        raw.iter()
            .map(|g| GraphGroup::of(g).ok_or_else(|| invalid("GET", url.as_str(), "a group without id")))
            .collect()
    }

    /// One group, `None` when Graph has none by that id.
    pub async fn graph_group(&self, id: &str) -> Result<Option<GraphGroup>, ConnectorError> {
        let mut url = self.graph.url(&["groups", id]);
        url.query_pairs_mut().append_pair("$select", GROUP_SELECT);
        match self.graph.send(Method::GET, &url, None).await {
            Ok(raw) => GraphGroup::of(&raw).map(Some).ok_or_else(|| invalid("GET", url.as_str(), "a group without id")),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The group's direct members' object ids.
    async fn member_ids(&self, group_id: &str) -> Result<Vec<String>, ConnectorError> {
        let mut url = self.graph.url(&["groups", group_id, "members"]);
        url.query_pairs_mut().append_pair("$select", "id").append_pair("$top", &self.top());
        let raw = self.read_pages(url, &[]).await?;
        Ok(raw.iter().filter_map(|m| m["id"].as_str().map(str::to_owned)).collect())
    }

    pub(super) async fn groups_with_members(&self) -> Result<Vec<RemoteGroup>, ConnectorError> {
        let mut groups = Vec::new();
        for group in self.graph_groups().await? {
            let members = self.member_ids(&group.id).await?;
            groups.push(RemoteGroup { remote_id: group.id, name: group.name, members });
        }
        Ok(groups)
    }

    fn reference(&self, object_id: &str) -> String {
        self.graph.url(&["directoryObjects", object_id]).to_string()
    }

    pub(super) async fn create_security_group(
        &self,
        name: &str,
        members: &[String],
    ) -> Result<RemoteGroup, ConnectorError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ConnectorError::InvalidRequest("an Entra group needs a name".into()));
        }
        let (first, rest) = members.split_at(members.len().min(MAX_BIND));
        let mut body = json!({
            "displayName": name,
            "mailNickname": group_nickname(name),
            "mailEnabled": false,
            "securityEnabled": true,
        });
        if !first.is_empty() {
            body["members@odata.bind"] = json!(first.iter().map(|m| self.reference(m)).collect::<Vec<_>>());
        }
        let url = self.graph.url(&["groups"]);
        let created = self.graph.send(Method::POST, &url, Some(&body)).await?;
        let group =
            GraphGroup::of(&created).ok_or_else(|| invalid("POST", url.as_str(), "the created group has no id"))?;
        for member in rest {
            self.add_member(&group.id, member).await?;
        }
        Ok(RemoteGroup { remote_id: group.id, name: group.name, members: members.to_vec() })
    }

    pub(super) async fn change_members(
        &self,
        group_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), ConnectorError> {
        if group_id.is_empty() {
            return Err(ConnectorError::InvalidRequest("empty group id".into()));
        }
        for member in add {
            self.add_member(group_id, member).await?;
        }
        for member in remove {
            self.remove_member(group_id, member).await?;
        }
        Ok(())
    }

    async fn add_member(&self, group_id: &str, member: &str) -> Result<(), ConnectorError> {
        let url = self.graph.url(&["groups", group_id, "members", "$ref"]);
        let body = json!({"@odata.id": self.reference(member)});
        match self.graph.send(Method::POST, &url, Some(&body)).await {
            Ok(_) => Ok(()),
            Err(ConnectorError::Status { status: 400, detail: Some(d), .. })
                if d.contains("added object references already exist") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Takes the member out; one that is not in the group (404) is out already.
    pub(super) async fn remove_member(&self, group_id: &str, member: &str) -> Result<(), ConnectorError> {
        let url = self.graph.url(&["groups", group_id, "members", member, "$ref"]);
        match self.graph.send(Method::DELETE, &url, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_graph_cannot_change_says_why() {
        let dynamic = json!({"id": "g1", "displayName": "All staff", "groupTypes": ["DynamicMembership"],
            "membershipRule": "user.accountEnabled -eq true", "assignedLicenses": [{"skuId": "ABC"}]});
        let group = GraphGroup::of(&dynamic).unwrap();
        assert_eq!(group.licenses, ["abc"]);
        assert!(group.unchangeable().unwrap().contains("membership rule"));
        let m365 = json!({"id": "g2", "displayName": "Team", "groupTypes": ["Unified"], "mailEnabled": true});
        assert_eq!(GraphGroup::of(&m365).unwrap().unchangeable(), None, "a Microsoft 365 group is Graph's");
        let synced = json!({"id": "g3", "displayName": "HR", "onPremisesSyncEnabled": true});
        assert!(GraphGroup::of(&synced).unwrap().unchangeable().unwrap().contains("on-premises"));
        assert!(GraphGroup::of(&json!({"id": ".."})).is_none(), "an id that is no path segment");
    }

    #[test]
    fn nicknames_keep_only_what_graph_accepts() {
        assert_eq!(group_nickname("E3 licensed (EU)"), "E3licensedEU");
        assert_eq!(group_nickname("ü"), "group");
    }
}
