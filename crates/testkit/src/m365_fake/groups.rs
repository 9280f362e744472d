//! Entra ID groups in the fake Graph target: listing, creating, their members, and group-based
//! licensing, following Graph's documented contracts:
//!
//! - `GET /v1.0/groups`: `$select`, `$top` (1..999), paged by `@odata.nextLink` with a
//!   `$skiptoken` (<https://learn.microsoft.com/en-us/graph/api/group-list>,
//!   <https://learn.microsoft.com/en-us/graph/paging>). `assignedLicenses` only when selected.
//!   `$filter=displayName eq '…'`, and `$filter=assignedLicenses/$count ne 0` (the groups that
//!   carry licenses), an advanced query: without `$count=true` and the header
//!   `ConsistencyLevel: eventual` it is refused with 400 `Request_UnsupportedQuery`
//!   (<https://learn.microsoft.com/en-us/graph/aad-advanced-queries>).
//! - `POST /v1.0/groups`: `displayName`, `mailEnabled`, `mailNickname`, `securityEnabled`
//!   required; a security group is `mailEnabled: false, securityEnabled: true`; a mail-enabled
//!   security group cannot be made through Graph (400); `members@odata.bind` with at most 20
//!   references; 201 with the group (<https://learn.microsoft.com/en-us/graph/api/group-post-groups>).
//!   Graph does not keep display names unique: two groups may share one.
//! - `GET /v1.0/groups/{id}/members`: direct members as directoryObjects with `@odata.type`,
//!   paged like the list (<https://learn.microsoft.com/en-us/graph/api/group-list-members>).
//! - `POST /v1.0/groups/{id}/members/$ref` with `{"@odata.id": "…/directoryObjects/{id}"}`:
//!   204; a member already there is 400 "One or more added object references already exist for
//!   the following modified properties: 'members'."; an unknown object 404
//!   (<https://learn.microsoft.com/en-us/graph/api/group-post-members>).
//! - `DELETE /v1.0/groups/{id}/members/{memberId}/$ref`: 204; not a member is 404
//!   `Request_ResourceNotFound` (<https://learn.microsoft.com/en-us/graph/api/group-delete-members>).
//! - Members of a dynamic group (`groupTypes` holds `DynamicMembership`, a `membershipRule`)
//!   are the rule's, of a group synced from on-premises AD (`onPremisesSyncEnabled`) the on-
//!   premises directory's, of a mail-enabled security group or a distribution list Exchange's:
//!   Graph refuses to change them (400)
//!   (<https://learn.microsoft.com/en-us/graph/api/resources/groups-overview>).
//! - Group-based licensing: a group's `assignedLicenses` go to its direct members (not through
//!   nested groups). A user's `assignedLicenses` lists them with the direct ones, and
//!   `licenseAssignmentStates` tells each one's origin: `assignedByGroup` null for a direct
//!   license, else the group's id; `state` `Active`; `error` null when assigned
//!   (<https://learn.microsoft.com/en-us/graph/api/resources/licenseassignmentstate>,
//!   <https://learn.microsoft.com/en-us/entra/identity/users/licensing-groups-assign>).

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{M365Tenant, Shared, Slot, admit, bad_request, graph_error, not_found, shared};

/// Graph's cap on references in one `members@odata.bind`.
pub const MAX_BIND: usize = 20;

#[derive(Debug, Clone, Default)]
pub struct FakeGroup {
    pub id: String,
    pub display_name: String,
    pub mail_nickname: String,
    pub mail_enabled: bool,
    pub security_enabled: bool,
    /// `Unified` (a Microsoft 365 group), `DynamicMembership`.
    pub group_types: Vec<String>,
    pub membership_rule: Option<String>,
    /// Synced from on-premises Active Directory.
    pub on_premises_sync: bool,
    /// SKU ids (lower case) the group gives its members.
    pub assigned_licenses: Vec<String>,
    /// Member object ids.
    pub members: BTreeSet<String>,
}

impl FakeGroup {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "displayName": self.display_name,
            "mailNickname": self.mail_nickname,
            "mailEnabled": self.mail_enabled,
            "securityEnabled": self.security_enabled,
            "groupTypes": self.group_types,
            "membershipRule": self.membership_rule,
            "onPremisesSyncEnabled": if self.on_premises_sync { json!(true) } else { Value::Null },
            "assignedLicenses": self.assigned_licenses.iter()
                .map(|s| json!({"skuId": s, "disabledPlans": []})).collect::<Vec<_>>(),
        })
    }

    /// Why Graph refuses to change this group's members, if it does.
    fn refusal(&self) -> Option<&'static str> {
        if self.group_types.iter().any(|t| t == "DynamicMembership") {
            Some(
                "Insufficient privileges to complete the operation: the members of a dynamic group are set by its membership rule.",
            )
        } else if self.on_premises_sync {
            Some(
                "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.",
            )
        } else if self.mail_enabled && !self.group_types.iter().any(|t| t == "Unified") {
            Some("Cannot Update a mail-enabled security groups and or distribution list.")
        } else {
            None
        }
    }
}

/// Group properties Graph returns without `$select` (`assignedLicenses` is not among them).
const DEFAULT_GROUP_PROPERTIES: [&str; 8] = [
    "id",
    "displayName",
    "mailNickname",
    "mailEnabled",
    "securityEnabled",
    "groupTypes",
    "membershipRule",
    "onPremisesSyncEnabled",
];

fn select(object: &Value, select: Option<&str>, defaults: &[&str]) -> Value {
    let names: Vec<&str> = match select {
        Some(s) => s.split(',').map(str::trim).collect(),
        None => defaults.to_vec(),
    };
    let mut out = Map::new();
    if let Some(kind) = object.get("@odata.type") {
        out.insert("@odata.type".into(), kind.clone());
    }
    for name in names {
        out.insert(name.to_owned(), object.get(name).cloned().unwrap_or(Value::Null));
    }
    out.insert("id".into(), object["id"].clone());
    Value::Object(out)
}

impl M365Tenant {
    /// The user as Graph reports it: `assignedLicenses` the direct ones and those its groups
    /// give, `licenseAssignmentStates` saying which came from where.
    pub fn view(&self, user: &Value) -> Value {
        let id = user["id"].as_str().unwrap_or_default();
        let mut states: Vec<Value> = user["assignedLicenses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["skuId"].as_str())
            .map(|sku| state(sku, None))
            .collect();
        for group in self.groups.values().filter(|g| g.members.contains(id)) {
            for sku in &group.assigned_licenses {
                states.push(state(sku, Some(&group.id)));
            }
        }
        let mut assigned: Vec<Value> = Vec::new();
        for s in &states {
            if !assigned.iter().any(|a| a["skuId"] == s["skuId"]) {
                assigned.push(json!({"skuId": s["skuId"], "disabledPlans": []}));
            }
        }
        let mut view = user.clone();
        view["assignedLicenses"] = json!(assigned);
        view["licenseAssignmentStates"] = json!(states);
        view
    }
}

fn state(sku: &str, group: Option<&str>) -> Value {
    json!({
        "skuId": sku.to_ascii_lowercase(),
        "assignedByGroup": group,
        "disabledPlans": [],
        "state": "Active",
        "error": null,
        "lastUpdatedDateTime": "2026-01-01T00:00:00Z",
    })
}

/// `$top` (1..999, else 400) and `$skiptoken` of a list request.
fn paging(tenant: &M365Tenant, query: &HashMap<String, String>) -> Result<(usize, usize), Response> {
    let top = match query.get("$top").map(|t| t.parse::<usize>()) {
        None => tenant.page_size,
        Some(Ok(n)) if (1..=999).contains(&n) => n,
        Some(_) => return Err(bad_request("Invalid page size specified: must be between 1 and 999 inclusive.")),
    };
    let top = tenant.max_page.map_or(top, |max| top.min(max.max(1)));
    let skip = match query.get("$skiptoken") {
        None => 0,
        Some(token) => match token.strip_prefix("X").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return Err(bad_request("The specified page token value has expired or is invalid.")),
        },
    };
    Ok((top, skip))
}

/// One page of `items`, with an `@odata.nextLink` repeating the request's other parameters.
fn page(
    shared: &Shared,
    path: &str,
    query: &HashMap<String, String>,
    items: Vec<Value>,
    (top, skip): (usize, usize),
) -> Response {
    let total = items.len();
    let value: Vec<Value> = items.into_iter().skip(skip).take(top).collect();
    let mut answer = json!({"@odata.context": format!("{}/$metadata#{path}", shared.base), "value": value});
    if query.get("$count").is_some_and(|c| c == "true") {
        answer["@odata.count"] = json!(total);
    }
    if skip + top < total {
        let mut link = url::Url::parse(&format!("{}/{path}", shared.base)).expect("the fake's own URL parses");
        {
            let mut pairs = link.query_pairs_mut();
            for (k, v) in query.iter().filter(|(k, _)| k.as_str() != "$skiptoken") {
                pairs.append_pair(k, v);
            }
            pairs.append_pair("$skiptoken", &format!("X{}", skip + top));
        }
        answer["@odata.nextLink"] = json!(link.to_string());
    }
    axum::Json(answer).into_response()
}

pub(super) async fn list_groups(
    State(slot): State<Slot>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    let mut tenant = match admit(&shared, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    tenant.counts.group_reads += 1;
    let paging = match paging(&tenant, &query) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let eventual = headers.get("ConsistencyLevel").and_then(|v| v.to_str().ok()) == Some("eventual");
    let counted = query.get("$count").is_some_and(|c| c == "true");
    let keep: Box<dyn Fn(&super::FakeGroup) -> bool> = match query.get("$filter").map(|f| f.trim()) {
        None => Box::new(|_| true),
        Some("assignedLicenses/$count ne 0") if eventual && counted => Box::new(|g| !g.assigned_licenses.is_empty()),
        Some("assignedLicenses/$count ne 0") => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                "Operator 'ne' is not supported because the required parameters might be missing. Try adding $count with a value of true and ConsistencyLevel header with a value of eventual.",
            );
        }
        Some(other) => match other.strip_prefix("displayName eq '").and_then(|r| r.strip_suffix('\'')) {
            Some(name) => {
                let name = name.replace("''", "'");
                Box::new(move |g| g.display_name.eq_ignore_ascii_case(&name))
            }
            None => return bad_request(&format!("Unsupported or invalid query filter clause: {other}")),
        },
    };
    let chosen = query.get("$select").map(String::as_str);
    let items: Vec<Value> = tenant
        .groups
        .values()
        .filter(|g| keep(g))
        .map(|g| select(&g.json(), chosen, &DEFAULT_GROUP_PROPERTIES))
        .collect();
    page(&shared, "groups", &query, items, paging)
}

pub(super) async fn read_group(
    State(slot): State<Slot>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    let mut tenant = match admit(&shared, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    tenant.counts.group_reads += 1;
    match tenant.groups.get(&id) {
        Some(g) => axum::Json(select(&g.json(), query.get("$select").map(String::as_str), &DEFAULT_GROUP_PROPERTIES))
            .into_response(),
        None => not_found(&id),
    }
}

/// The object id an `@odata.id` reference names (`…/directoryObjects/{id}` or `…/users/{id}`).
fn referenced(reference: &str) -> Option<&str> {
    let (collection, id) = reference.trim_end_matches('/').rsplit_once('/')?;
    (collection.ends_with("/directoryObjects") || collection.ends_with("/users")).then_some(id)
}

pub(super) async fn create_group(State(slot): State<Slot>, headers: HeaderMap, body: String) -> Response {
    let shared = shared(&slot);
    let mut tenant = match admit(&shared, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    tenant.counts.group_create += 1;
    let Ok(Value::Object(props)) = serde_json::from_str::<Value>(&body) else {
        return bad_request("Unable to read JSON request payload.");
    };
    for required in ["displayName", "mailEnabled", "mailNickname", "securityEnabled"] {
        if props.get(required).is_none_or(Value::is_null) {
            return bad_request(&format!("Invalid value specified for property '{required}' of resource 'Group'."));
        }
    }
    let flag = |name: &str| props.get(name).and_then(Value::as_bool).unwrap_or(false);
    let types: Vec<String> = props
        .get("groupTypes")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if flag("mailEnabled") && !types.iter().any(|t| t == "Unified") {
        return bad_request("Creating mail-enabled security groups or distribution lists is not supported.");
    }
    let binds: Vec<String> = props
        .get("members@odata.bind")
        .and_then(Value::as_array)
        .map(|b| b.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if binds.len() > MAX_BIND {
        return bad_request(&format!("A maximum of {MAX_BIND} members can be added in one request."));
    }
    let mut members = BTreeSet::new();
    for bind in &binds {
        match referenced(bind) {
            Some(id) if tenant.users.contains_key(id) => {
                members.insert(id.to_owned());
            }
            Some(id) => return not_found(id),
            None => return bad_request(&format!("Invalid object identifier '{bind}'.")),
        }
    }
    let name = props.get("displayName").and_then(Value::as_str).unwrap_or_default().to_owned();
    let id = tenant.put_group(&name, &[]);
    let Some(group) = tenant.groups.get_mut(&id) else { return not_found(&id) };
    group.mail_nickname = props.get("mailNickname").and_then(Value::as_str).unwrap_or_default().to_owned();
    group.mail_enabled = flag("mailEnabled");
    group.security_enabled = flag("securityEnabled");
    group.group_types = types;
    group.members = members;
    let answer = select(&group.json(), None, &DEFAULT_GROUP_PROPERTIES);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

pub(super) async fn list_members(
    State(slot): State<Slot>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    let mut tenant = match admit(&shared, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    tenant.counts.group_reads += 1;
    let paging = match paging(&tenant, &query) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(group) = tenant.groups.get(&id) else { return not_found(&id) };
    let chosen = query.get("$select").map(String::as_str);
    let items: Vec<Value> = group
        .members
        .iter()
        .filter_map(|m| tenant.users.get(m))
        .map(|u| {
            let mut user = u.clone();
            user["@odata.type"] = json!("#microsoft.graph.user");
            select(&user, chosen, &["id", "displayName", "userPrincipalName", "mail"])
        })
        .collect();
    page(&shared, &format!("groups/{id}/members"), &query, items, paging)
}

pub(super) async fn add_member(
    State(slot): State<Slot>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let shared = shared(&slot);
    let mut tenant = match admit(&shared, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    tenant.counts.member_changes += 1;
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return bad_request("Unable to read JSON request payload.");
    };
    let Some(reference) = body["@odata.id"].as_str() else {
        return bad_request("Invalid request body: an @odata.id reference is required.");
    };
    let Some(member) = referenced(reference).map(str::to_owned) else {
        return bad_request(&format!("Invalid object identifier '{reference}'."));
    };
    if !tenant.users.contains_key(&member) {
        return not_found(&member);
    }
    let Some(group) = tenant.groups.get_mut(&id) else { return not_found(&id) };
    if let Some(why) = group.refusal() {
        return bad_request(why);
    }
    if !group.members.insert(member) {
        return bad_request(
            "One or more added object references already exist for the following modified properties: 'members'.",
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn remove_member(
    State(slot): State<Slot>,
    Path((id, member)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let shared = shared(&slot);
    let mut tenant = match admit(&shared, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    tenant.counts.member_changes += 1;
    let Some(group) = tenant.groups.get_mut(&id) else { return not_found(&id) };
    if let Some(why) = group.refusal() {
        return bad_request(why);
    }
    if !group.members.remove(&member) {
        return not_found(&member);
    }
    StatusCode::NO_CONTENT.into_response()
}
