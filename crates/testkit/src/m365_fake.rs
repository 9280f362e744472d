//! A fake Microsoft Graph *target* (Microsoft 365 / Entra ID users and licenses) with the
//! Microsoft identity platform's token endpoint, following Graph's documented contracts:
//!
//! - Token: `POST /{tenant}/oauth2/v2.0/token`, `grant_type=client_credentials`,
//!   `scope=https://graph.microsoft.com/.default`, `client_id` + `client_secret` in the body or
//!   HTTP Basic; errors `{"error", "error_description"}` with `AADSTS…` texts
//!   (<https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow>).
//! - `POST /v1.0/users`: `accountEnabled`, `displayName`, `mailNickname`, `userPrincipalName`,
//!   `passwordProfile.password` required (400 `Request_BadRequest` naming the missing one); a
//!   taken UPN is 400 "Another object with the same value for property userPrincipalName already
//!   exists."; 201 with the user (<https://learn.microsoft.com/en-us/graph/api/user-post-users>).
//! - `GET /v1.0/users`: `$select`, `$top` (1..999, else 400), `$filter` with `eq` on
//!   `userPrincipalName`, `mail`, `employeeId`; pages of `$top` (100 by default) linked by
//!   `@odata.nextLink` carrying a `$skiptoken` and the first request's other parameters
//!   (<https://learn.microsoft.com/en-us/graph/api/user-list>, <https://learn.microsoft.com/en-us/graph/paging>).
//!   `assignedLicenses` only when selected, as Graph returns it (not a default property).
//!   `signInActivity` (`lastSignInDateTime`, ISO 8601 UTC, absent for a user who never signed
//!   in) only when selected; then the largest page is 500 (the list documentation's "When
//!   signInActivity is selected or filtered on, the maximum page size is 500", as changed by
//!   microsoft-graph-docs-contrib pull 9591), and a tenant without Entra ID P1 answers 403
//!   `Authentication_RequestFromNonPremiumTenantOrB2CTenant`
//!   (<https://learn.microsoft.com/en-us/graph/api/resources/signinactivity>).
//! - `GET|PATCH|DELETE /v1.0/users/{id}`: 404 `Request_ResourceNotFound`; PATCH and DELETE
//!   answer 204; a deleted user is kept in deleted items (restorable for 30 days in Graph) and
//!   leaves the user list (<https://learn.microsoft.com/en-us/graph/api/user-update>,
//!   <https://learn.microsoft.com/en-us/graph/api/user-delete>).
//! - `POST /v1.0/users/{id}/assignLicense` (`addLicenses: [{skuId, disabledPlans}]`,
//!   `removeLicenses: [skuId]`): 400 "License assignment cannot be done for user with invalid
//!   usage location." when adding to a user without `usageLocation`; 400 for an unknown SKU, for
//!   one without a free prepaid unit ("Subscription … does not have any available licenses."),
//!   or for removing one the user does not hold; `consumedUnits` follows
//!   (<https://learn.microsoft.com/en-us/graph/api/user-assignlicense>).
//! - `GET /v1.0/subscribedSkus`: `skuId`, `skuPartNumber`, `prepaidUnits`, `consumedUnits`,
//!   `appliesTo`, `capabilityStatus` (<https://learn.microsoft.com/en-us/graph/api/subscribedsku-list>).
//! - Groups, their members and group-based licensing: see [`groups`].
//! - Errors `{"error": {"code", "message"}}` (<https://learn.microsoft.com/en-us/graph/errors>);
//!   throttling as 429 (or 503) with `Retry-After` on demand
//!   (<https://learn.microsoft.com/en-us/graph/throttling>).

#![allow(clippy::result_large_err)]
mod groups;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::cloud_fake::{FakeServer, Throttle};
pub use groups::FakeGroup;

pub const TENANT: &str = "99999999-8888-7777-6666-555555555555";
pub const CLIENT_ID: &str = "m365-client-id";
pub const CLIENT_SECRET: &str = "test-only-m365-secret";
pub const SCOPE: &str = "https://graph.microsoft.com/.default";
/// Microsoft 365 E3 and E5's documented SKU ids
/// (<https://learn.microsoft.com/en-us/entra/identity/users/licensing-service-plan-reference>).
pub const E3_SKU: &str = "05e9a617-0261-4cee-bb44-138d3ef5d965";
pub const E5_SKU: &str = "06ebc4ee-1bb5-47dd-8120-11324bc54e06";

#[derive(Debug, Clone, Default)]
pub struct M365Counts {
    pub token: u32,
    pub list: u32,
    pub create: u32,
    pub patch: u32,
    pub delete: u32,
    pub assign_license: u32,
    pub throttled: u32,
    /// Reads of the group list and of a group's members, one per page.
    pub group_reads: u32,
    /// `POST /groups`.
    pub group_create: u32,
    /// Member references added or removed (`…/members/$ref`).
    pub member_changes: u32,
}

#[derive(Debug, Clone)]
pub struct FakeSku {
    pub sku_id: String,
    pub part_number: String,
    pub enabled: u64,
}

pub struct M365Tenant {
    /// id -> the user's properties (Graph's names). `assignedLicenses` holds the licenses
    /// assigned to the user directly; what Graph reports adds those the user's groups give.
    pub users: BTreeMap<String, Value>,
    /// id -> the group (security groups, Microsoft 365 groups, their members and licenses).
    pub groups: BTreeMap<String, FakeGroup>,
    /// Deleted users (Graph keeps them 30 days in deleted items).
    pub deleted: BTreeMap<String, Value>,
    pub skus: Vec<FakeSku>,
    /// Server-side page size when `$top` is not given.
    pub page_size: usize,
    /// Server-driven paging: at most this many per page whatever `$top` asks (Graph may return
    /// fewer than `$top`, with an `@odata.nextLink`).
    pub max_page: Option<usize>,
    pub throttle: Throttle,
    pub counts: M365Counts,
    /// A tenant without Entra ID P1: selecting `signInActivity` is refused (403).
    pub no_premium: bool,
    tokens: HashSet<String>,
    next_id: u64,
}

impl M365Tenant {
    /// Adds a user as an admin would, returning its id.
    pub fn put_user(&mut self, upn: &str, props: Value) -> String {
        self.next_id += 1;
        let id = format!("00000000-0000-0000-0000-{:012}", self.next_id);
        let mut user = json!({
            "id": id, "userPrincipalName": upn, "displayName": upn, "accountEnabled": true,
            "mailNickname": upn.split('@').next().unwrap_or(upn), "assignedLicenses": [],
        });
        if let (Some(target), Value::Object(extra)) = (user.as_object_mut(), props) {
            target.extend(extra);
        }
        self.users.insert(id.clone(), user);
        id
    }

    /// Adds a security group as an admin would, giving its members `licenses` (SKU ids),
    /// returning its id.
    pub fn put_group(&mut self, name: &str, licenses: &[&str]) -> String {
        self.next_id += 1;
        let id = format!("11111111-0000-0000-0000-{:012}", self.next_id);
        let group = FakeGroup {
            id: id.clone(),
            display_name: name.into(),
            mail_nickname: name.chars().filter(char::is_ascii_alphanumeric).collect(),
            security_enabled: true,
            assigned_licenses: licenses.iter().map(|s| s.to_ascii_lowercase()).collect(),
            ..FakeGroup::default()
        };
        self.groups.insert(id.clone(), group);
        id
    }

    pub fn group_by_name(&self, name: &str) -> Option<&FakeGroup> {
        self.groups.values().find(|g| g.display_name.eq_ignore_ascii_case(name))
    }

    pub fn group_by_name_mut(&mut self, name: &str) -> Option<&mut FakeGroup> {
        self.groups.values_mut().find(|g| g.display_name.eq_ignore_ascii_case(name))
    }

    /// The group's members by userPrincipalName, sorted.
    pub fn members_of(&self, name: &str) -> Vec<String> {
        let Some(group) = self.group_by_name(name) else { return Vec::new() };
        let mut upns: Vec<String> = group
            .members
            .iter()
            .filter_map(|id| self.users.get(id)?["userPrincipalName"].as_str().map(str::to_owned))
            .collect();
        upns.sort();
        upns
    }

    /// Puts the user (by UPN) in the group (by name), as an admin would.
    pub fn add_to_group(&mut self, name: &str, upn: &str) {
        let id = self.by_upn(upn).and_then(|u| u["id"].as_str().map(str::to_owned));
        if let (Some(id), Some(group)) = (id, self.group_by_name_mut(name)) {
            group.members.insert(id);
        }
    }

    pub fn add_sku(&mut self, sku_id: &str, part_number: &str, enabled: u64) {
        self.skus.push(FakeSku { sku_id: sku_id.into(), part_number: part_number.into(), enabled });
    }

    /// Users holding the SKU, directly or from a group (Graph's `consumedUnits`).
    pub fn consumed(&self, sku_id: &str) -> u64 {
        self.users.values().filter(|u| holds(&self.view(u), sku_id)).count() as u64
    }

    pub fn by_upn(&self, upn: &str) -> Option<&Value> {
        self.users.values().find(|u| u["userPrincipalName"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(upn)))
    }

    /// The user's SKU ids, directly assigned or from a group.
    pub fn licenses_of(&self, upn: &str) -> Vec<String> {
        self.by_upn(upn)
            .map(|u| self.view(u))
            .as_ref()
            .and_then(|u| u["assignedLicenses"].as_array())
            .map(|l| l.iter().filter_map(|x| x["skuId"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

fn holds(user: &Value, sku_id: &str) -> bool {
    user["assignedLicenses"]
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x["skuId"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(sku_id))))
}

struct Shared {
    tenant: Mutex<M365Tenant>,
    base: String,
}

type Slot = Arc<Mutex<Option<Arc<Shared>>>>;

pub struct M365Fake {
    shared: Arc<Shared>,
    server: FakeServer,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn shared(slot: &Slot) -> Arc<Shared> {
    lock(slot).clone().expect("the fake's state is set before it serves")
}

impl M365Fake {
    pub async fn start() -> anyhow::Result<Self> {
        let slot: Slot = Arc::new(Mutex::new(None));
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/v1.0/users", get(list_users).post(create_user))
            .route("/v1.0/users/{id}", get(read_user).patch(update_user).delete(delete_user))
            .route("/v1.0/users/{id}/assignLicense", post(assign_license))
            .route("/v1.0/subscribedSkus", get(subscribed_skus))
            .route("/v1.0/groups", get(groups::list_groups).post(groups::create_group))
            .route("/v1.0/groups/{id}", get(groups::read_group))
            .route("/v1.0/groups/{id}/members", get(groups::list_members))
            .route("/v1.0/groups/{id}/members/$ref", post(groups::add_member))
            .route("/v1.0/groups/{id}/members/{member}/$ref", axum::routing::delete(groups::remove_member))
            .with_state(slot.clone());
        let server = FakeServer::start(app).await?;
        let shared = Arc::new(Shared {
            tenant: Mutex::new(M365Tenant {
                users: BTreeMap::new(),
                groups: BTreeMap::new(),
                deleted: BTreeMap::new(),
                skus: Vec::new(),
                page_size: 100,
                max_page: None,
                throttle: Throttle::default(),
                counts: M365Counts::default(),
                no_premium: false,
                tokens: HashSet::new(),
                next_id: 0,
            }),
            base: format!("{}/v1.0", server.url()),
        });
        *lock(&slot) = Some(shared.clone());
        Ok(Self { shared, server })
    }

    /// Graph's root, `…/v1.0`.
    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }

    /// The token endpoint of [`TENANT`].
    pub fn token_url(&self) -> String {
        format!("{}/{TENANT}/oauth2/v2.0/token", self.server.url())
    }

    /// The token endpoint's root, for a `--login-url`.
    pub fn login_url(&self) -> String {
        self.server.url()
    }

    pub fn tenant(&self) -> MutexGuard<'_, M365Tenant> {
        lock(&self.shared.tenant)
    }
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": code, "error_description": description}))).into_response()
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let inner = json!({"date": "2026-01-01T00:00:00", "request-id": uuid::Uuid::new_v4().to_string()});
    (status, axum::Json(json!({"error": {"code": code, "message": message, "innerError": inner}}))).into_response()
}

fn bad_request(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

fn not_found(id: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
    )
}

async fn token(State(slot): State<Slot>, Path(tenant): Path<String>, headers: HeaderMap, body: String) -> Response {
    let shared = shared(&slot);
    lock(&shared.tenant).counts.token += 1;
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    if tenant != TENANT {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "AADSTS90002: Tenant not found.");
    }
    if field("grant_type") != "client_credentials" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "AADSTS70003: unsupported grant type");
    }
    if field("scope") != SCOPE {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid.",
        );
    }
    // The secret in the body, or HTTP Basic (both accepted by the identity platform).
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| pair.split_once(':').map(|(i, s)| (i.to_owned(), s.to_owned())));
    let (id, secret) = match basic {
        Some((id, secret)) => (id, secret),
        None => (field("client_id"), field("client_secret")),
    };
    if id != CLIENT_ID {
        return oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client", "AADSTS700016: Application not found.");
    }
    if secret != CLIENT_SECRET {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let access = format!("eyJ0.m365-{}", uuid::Uuid::new_v4().simple());
    lock(&shared.tenant).tokens.insert(access.clone());
    axum::Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access}))
        .into_response()
}

/// Authenticates and applies injected throttling; `Err` is the answer to send instead.
fn admit<'a>(shared: &'a Shared, headers: &HeaderMap) -> Result<MutexGuard<'a, M365Tenant>, Response> {
    let mut tenant = lock(&shared.tenant);
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| tenant.tokens.contains(t)) {
        return Err(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty or invalid.",
        ));
    }
    let status = tenant.throttle.status;
    if let Some(retry_after) = tenant.throttle.take() {
        tenant.counts.throttled += 1;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        let code = if status == StatusCode::SERVICE_UNAVAILABLE { "serviceNotAvailable" } else { "TooManyRequests" };
        let mut response = graph_error(status, code, "Too many requests.");
        if let Some(wait) = retry_after
            && let Ok(value) = wait.as_secs().to_string().parse()
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Err(response);
    }
    Ok(tenant)
}

/// The properties Graph returns without `$select`.
const DEFAULT_PROPERTIES: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

fn selected(user: &Value, select: Option<&str>) -> Value {
    let names: Vec<&str> = match select {
        Some(s) => s.split(',').map(str::trim).collect(),
        None => DEFAULT_PROPERTIES.to_vec(),
    };
    let mut out = Map::new();
    for name in names {
        out.insert(name.to_owned(), user.get(name).cloned().unwrap_or(Value::Null));
    }
    out.insert("id".into(), user["id"].clone());
    Value::Object(out)
}

/// `property eq 'value'` (a doubled `'` inside the literal), on the properties the fake filters.
fn filter_of(text: &str) -> Result<(String, String), String> {
    let (property, rest) = text.split_once(" eq ").ok_or("Unsupported query.")?;
    let property = property.trim();
    if !matches!(property, "userPrincipalName" | "mail" | "employeeId" | "id") {
        return Err(format!("Unsupported or invalid query filter clause specified for property '{property}'."));
    }
    let literal = rest.trim();
    let inner = literal
        .strip_prefix('\'')
        .and_then(|l| l.strip_suffix('\''))
        .ok_or("Invalid filter clause: a string literal must be quoted.")?;
    Ok((property.to_owned(), inner.replace("''", "'")))
}

async fn list_users(
    State(slot): State<Slot>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    let mut tenant = match admit(&shared, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    tenant.counts.list += 1;
    let top = match query.get("$top").map(|t| t.parse::<usize>()) {
        None => tenant.page_size,
        Some(Ok(n)) if (1..=999).contains(&n) => n,
        Some(_) => return bad_request("Invalid page size specified: must be between 1 and 999 inclusive."),
    };
    let select = query.get("$select").map(String::as_str);
    let activity = select.is_some_and(|s| s.split(',').any(|p| p.trim() == "signInActivity"));
    if activity && tenant.no_premium {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        );
    }
    if activity && top > 500 {
        return bad_request("Invalid page size specified: must be between 1 and 500 inclusive.");
    }
    let top = tenant.max_page.map_or(top, |max| top.min(max.max(1)));
    let filter = match query.get("$filter").map(|f| filter_of(f)) {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(why)) => return bad_request(&why),
    };
    let skip: usize = match query.get("$skiptoken") {
        None => 0,
        Some(token) => match token.strip_prefix("X").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return bad_request("The specified page token value has expired or is invalid."),
        },
    };
    let matching: Vec<&Value> = tenant
        .users
        .values()
        .filter(|u| match &filter {
            None => true,
            Some((p, v)) => u[p.as_str()].as_str().is_some_and(|x| x.eq_ignore_ascii_case(v)),
        })
        .collect();
    let page: Vec<Value> = matching.iter().skip(skip).take(top).map(|u| selected(&tenant.view(u), select)).collect();
    let mut answer = json!({"@odata.context": format!("{}/$metadata#users", shared.base), "value": page});
    if skip + top < matching.len() {
        let mut link = url::Url::parse(&format!("{}/users", shared.base)).expect("the fake's own URL parses");
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

async fn create_user(State(slot): State<Slot>, headers: HeaderMap, body: String) -> Response {
    let shared = shared(&slot);
    let mut tenant = match admit(&shared, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    tenant.counts.create += 1;
    let Ok(Value::Object(mut props)) = serde_json::from_str::<Value>(&body) else {
        return bad_request("Unable to read JSON request payload.");
    };
    for required in ["accountEnabled", "displayName", "mailNickname", "userPrincipalName"] {
        if props.get(required).is_none_or(Value::is_null) {
            return bad_request(&format!("Invalid value specified for property '{required}' of resource 'User'."));
        }
    }
    if props.get("passwordProfile").and_then(|p| p.get("password")).and_then(Value::as_str).is_none() {
        return bad_request("Invalid value specified for property 'passwordProfile' of resource 'User'.");
    }
    let upn = props["userPrincipalName"].as_str().unwrap_or_default().to_owned();
    if !upn.contains('@') {
        return bad_request("Property userPrincipalName is invalid.");
    }
    if tenant.by_upn(&upn).is_some() {
        return bad_request("Another object with the same value for property userPrincipalName already exists.");
    }
    // Write-only: never returned.
    props.remove("passwordProfile");
    let id = tenant.put_user(&upn, Value::Object(props));
    let user = tenant.users.get(&id).cloned().unwrap_or(Value::Null);
    (StatusCode::CREATED, axum::Json(selected(&user, None))).into_response()
}

async fn read_user(
    State(slot): State<Slot>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    let tenant = match admit(&shared, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let user = tenant.users.get(&id).or_else(|| {
        tenant.users.values().find(|u| u["userPrincipalName"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(&id)))
    });
    match user {
        Some(user) => {
            axum::Json(selected(&tenant.view(user), query.get("$select").map(String::as_str))).into_response()
        }
        None => not_found(&id),
    }
}

async fn update_user(State(slot): State<Slot>, Path(id): Path<String>, headers: HeaderMap, body: String) -> Response {
    let shared = shared(&slot);
    let mut tenant = match admit(&shared, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    tenant.counts.patch += 1;
    let Ok(Value::Object(changes)) = serde_json::from_str::<Value>(&body) else {
        return bad_request("Unable to read JSON request payload.");
    };
    if let Some(upn) = changes.get("userPrincipalName").and_then(Value::as_str)
        && tenant.by_upn(upn).is_some_and(|u| u["id"] != json!(id))
    {
        return bad_request("Another object with the same value for property userPrincipalName already exists.");
    }
    if changes.contains_key("assignedLicenses") {
        return bad_request("Property 'assignedLicenses' is read-only and cannot be set.");
    }
    let Some(user) = tenant.users.get_mut(&id) else { return not_found(&id) };
    if let Some(target) = user.as_object_mut() {
        for (k, v) in changes {
            if k != "passwordProfile" {
                target.insert(k, v);
            }
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn delete_user(State(slot): State<Slot>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let shared = shared(&slot);
    let mut tenant = match admit(&shared, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    tenant.counts.delete += 1;
    match tenant.users.remove(&id) {
        Some(user) => {
            // A deleted user leaves its groups (and the licenses they gave).
            for group in tenant.groups.values_mut() {
                group.members.remove(&id);
            }
            tenant.deleted.insert(id, user);
            StatusCode::NO_CONTENT.into_response()
        }
        None => not_found(&id),
    }
}

async fn assign_license(
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
    tenant.counts.assign_license += 1;
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return bad_request("Unable to read JSON request payload.");
    };
    let (Some(add), Some(remove)) = (body["addLicenses"].as_array(), body["removeLicenses"].as_array()) else {
        return bad_request("Both addLicenses and removeLicenses are required.");
    };
    let add: Vec<String> = add.iter().filter_map(|l| l["skuId"].as_str()).map(str::to_ascii_lowercase).collect();
    let remove: Vec<String> = remove.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect();
    let Some(user) = tenant.users.get(&id).cloned() else { return not_found(&id) };
    for sku in add.iter().chain(&remove) {
        if !tenant.skus.iter().any(|s| s.sku_id.eq_ignore_ascii_case(sku)) {
            return bad_request(&format!("License {sku} does not correspond to a valid company License."));
        }
    }
    let effective = tenant.view(&user);
    for sku in &remove {
        if holds(&user, sku) {
            continue;
        }
        // A license a group gives is the group's: Graph refuses to remove it from the user
        // (<https://learn.microsoft.com/en-us/entra/identity/users/licensing-group-advanced>,
        // "Direct licenses coexist with group licenses").
        if holds(&effective, sku) {
            return bad_request(
                "User license is inherited from a group membership and it cannot be removed directly from the user.",
            );
        }
        return bad_request(&format!("User does not have a corresponding license {sku}."));
    }
    if !add.is_empty() && user["usageLocation"].as_str().is_none_or(str::is_empty) {
        return bad_request("License assignment cannot be done for user with invalid usage location.");
    }
    for sku in &add {
        let enabled = tenant.skus.iter().find(|s| s.sku_id.eq_ignore_ascii_case(sku)).map_or(0, |s| s.enabled);
        if !holds(&effective, sku) && tenant.consumed(sku) >= enabled {
            return bad_request(&format!("Subscription with SKU {sku} does not have any available licenses."));
        }
    }
    let Some(user) = tenant.users.get_mut(&id) else { return not_found(&id) };
    let mut held: Vec<Value> = user["assignedLicenses"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l["skuId"].as_str().is_none_or(|s| !remove.contains(&s.to_ascii_lowercase())))
        .collect();
    for sku in add {
        if !held.iter().any(|l| l["skuId"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(&sku))) {
            held.push(json!({"skuId": sku, "disabledPlans": []}));
        }
    }
    user["assignedLicenses"] = json!(held);
    let user = user.clone();
    let answer = selected(&tenant.view(&user), None);
    axum::Json(answer).into_response()
}

async fn subscribed_skus(State(slot): State<Slot>, headers: HeaderMap) -> Response {
    let shared = shared(&slot);
    let tenant = match admit(&shared, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let value: Vec<Value> = tenant
        .skus
        .iter()
        .map(|s| {
            json!({
                "id": format!("{TENANT}_{}", s.sku_id),
                "skuId": s.sku_id,
                "skuPartNumber": s.part_number,
                "appliesTo": "User",
                "capabilityStatus": "Enabled",
                "consumedUnits": tenant.consumed(&s.sku_id),
                "prepaidUnits": {"enabled": s.enabled, "suspended": 0, "warning": 0, "lockedOut": 0},
                "servicePlans": [],
            })
        })
        .collect();
    axum::Json(json!({"@odata.context": format!("{}/$metadata#subscribedSkus", shared.base), "value": value}))
        .into_response()
}
