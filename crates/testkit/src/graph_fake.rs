//! A fake Microsoft Graph with the Microsoft identity platform's token endpoint: client
//! credentials (secret or certificate assertion), `/users/delta`, `/groups/delta` with
//! `members@delta`, and `/users/{id}`, over a directory tests change between syncs. Every change
//! is stamped with a sequence number; a delta token is the number it was issued at, so a delta
//! round returns exactly what changed since.
//!
//! Contracts followed:
//! - Token endpoint: `POST /{tenant}/oauth2/v2.0/token`, `grant_type=client_credentials`,
//!   `scope=https://graph.microsoft.com/.default`, `client_secret` or `client_assertion_type` +
//!   `client_assertion` (RS256, `x5t` = base64url SHA-1 of the registered certificate, `aud` the
//!   token URL, `iss` = `sub` = client id, `exp`/`nbf`); errors `{"error", "error_description"}`
//!   (<https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow>,
//!   <https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials>).
//! - Delta: pages linked by `@odata.nextLink` (`$skiptoken`), the last with `@odata.deltaLink`
//!   (`$deltatoken`); query parameters of the first request carried in the links; removed objects
//!   as `{"id", "@removed": {"reason": "changed" | "deleted"}}`; a group's members as
//!   `members@delta`, removed ones with `@removed`, and one group's members split over several
//!   objects; an expired token answered with 410 Gone or `syncStateNotFound`
//!   (<https://learn.microsoft.com/en-us/graph/delta-query-overview>,
//!   <https://learn.microsoft.com/en-us/graph/api/user-delta>,
//!   <https://learn.microsoft.com/en-us/graph/api/group-delta>).
//! - Throttling: 429 with `Retry-After` (<https://learn.microsoft.com/en-us/graph/throttling>).
//! - Change notifications: `POST /subscriptions` (`changeType`, `notificationUrl`, `resource`
//!   `users` or `groups`, `expirationDateTime` at most 41,760 minutes ahead, `clientState` up to
//!   128 characters), answered 201 only after the notification URL passed the validation
//!   request (`POST {notificationUrl}?validationToken=…`, the token echoed as `text/plain` with
//!   200 within 10 seconds), else 400 `ValidationError`; `PATCH /subscriptions/{id}` renews
//!   (`expirationDateTime`), `DELETE` removes (204); notifications are
//!   `{"value": [{"subscriptionId", "clientState", "changeType", "resource", "resourceData",
//!   "subscriptionExpirationDateTime", "tenantId"}]}` POSTed to the URL, which answers 2xx
//!   (<https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions>,
//!   <https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks>,
//!   <https://learn.microsoft.com/en-us/graph/api/subscription-update>). Where Graph insists on
//!   an `https` notification URL, the fake also takes `http` (tests serve plain HTTP).

// Handlers return the early answer (an error, a throttle) as `Err(Response)`; its size is of no
// concern in a test fake.
#![allow(clippy::result_large_err)]
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::cloud_fake::{
    FakeServer, TEST_CERT, TEST_KEY, Throttle, fixture, now, public_key_der, thumbprint, verify_rs256,
};

pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
pub const CLIENT_SECRET: &str = "test-only-client-secret";
const SCOPE: &str = "https://graph.microsoft.com/.default";

/// How an expired delta token is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// 410 Gone.
    Gone,
    /// 400 with error code `syncStateNotFound`.
    SyncStateNotFound,
}

#[derive(Debug, Clone)]
struct User {
    props: Value,
    manager: Option<String>,
    changed: u64,
}

#[derive(Debug, Clone)]
struct Group {
    display: String,
    /// member id -> `@odata.type`.
    members: BTreeMap<String, String>,
    changed: u64,
}

#[derive(Debug, Clone, Default)]
pub struct GraphCounts {
    pub token: u32,
    pub users_delta: u32,
    pub groups_delta: u32,
    pub user_reads: u32,
    pub member_of_reads: u32,
    pub throttled: u32,
    pub subscriptions_created: u32,
    pub subscriptions_renewed: u32,
    pub subscriptions_deleted: u32,
    /// Subscriptions refused because the notification URL failed the validation request.
    pub validations_failed: u32,
}

/// A change notification subscription as the fake keeps it.
#[derive(Debug, Clone)]
pub struct FakeSubscription {
    pub id: String,
    pub resource: String,
    pub change_type: String,
    pub notification_url: String,
    pub client_state: Option<String>,
    pub expiration: String,
}

#[derive(Debug, Clone)]
struct DeltaState {
    resource: &'static str,
    since: u64,
    upto: u64,
    offset: usize,
    select: String,
    generation: u64,
}

#[derive(Debug)]
pub struct GraphDirectory {
    seq: u64,
    users: BTreeMap<String, User>,
    /// Removed users: when and with which reason.
    user_tombstones: BTreeMap<String, (u64, &'static str)>,
    groups: BTreeMap<String, Group>,
    group_tombstones: BTreeMap<String, u64>,
    /// `(seq, group, member, type, added)`.
    member_log: Vec<(u64, String, String, String, bool)>,
    /// Entries per delta page.
    pub page_size: usize,
    /// Members per group object in a delta page: larger groups are split over several objects.
    pub members_per_object: usize,
    pub throttle: Throttle,
    pub counts: GraphCounts,
    pub expiry: Expiry,
    generation: u64,
    states: HashMap<String, DeltaState>,
    tokens: HashSet<String>,
    pub subscriptions: BTreeMap<String, FakeSubscription>,
}

impl GraphDirectory {
    fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Creates or replaces a user's properties (`id` is added).
    pub fn put_user(&mut self, id: &str, mut props: Value) {
        let seq = self.bump();
        props["id"] = json!(id);
        let manager = self.users.get(id).and_then(|u| u.manager.clone());
        self.user_tombstones.remove(id);
        self.users.insert(id.to_owned(), User { props, manager, changed: seq });
    }

    /// Changes one property of a user.
    pub fn set_user_prop(&mut self, id: &str, key: &str, value: Value) {
        let seq = self.bump();
        if let Some(u) = self.users.get_mut(id) {
            u.props[key] = value;
            u.changed = seq;
        }
    }

    pub fn set_manager(&mut self, id: &str, manager: Option<&str>) {
        let seq = self.bump();
        if let Some(u) = self.users.get_mut(id) {
            u.manager = manager.map(str::to_owned);
            u.changed = seq;
        }
    }

    /// Soft delete (restorable): `@removed` reason `changed`.
    pub fn soft_delete_user(&mut self, id: &str) {
        self.remove_user(id, "changed");
    }

    /// Permanent delete: `@removed` reason `deleted`.
    pub fn hard_delete_user(&mut self, id: &str) {
        self.remove_user(id, "deleted");
    }

    fn remove_user(&mut self, id: &str, reason: &'static str) {
        let seq = self.bump();
        if self.users.remove(id).is_some() {
            self.user_tombstones.insert(id.to_owned(), (seq, reason));
        }
    }

    pub fn put_group(&mut self, id: &str, display: &str) {
        let seq = self.bump();
        self.group_tombstones.remove(id);
        let members = self.groups.get(id).map(|g| g.members.clone()).unwrap_or_default();
        self.groups.insert(id.to_owned(), Group { display: display.to_owned(), members, changed: seq });
    }

    pub fn delete_group(&mut self, id: &str) {
        let seq = self.bump();
        if self.groups.remove(id).is_some() {
            self.group_tombstones.insert(id.to_owned(), seq);
        }
    }

    /// Adds a member: `kind` `user` or `group`.
    pub fn add_member(&mut self, group: &str, member: &str, kind: &str) {
        self.change_member(group, member, &format!("#microsoft.graph.{kind}"), true);
    }

    pub fn remove_member(&mut self, group: &str, member: &str) {
        let kind = self.groups.get(group).and_then(|g| g.members.get(member)).cloned().unwrap_or_default();
        self.change_member(group, member, &kind, false);
    }

    fn change_member(&mut self, group: &str, member: &str, kind: &str, added: bool) {
        let seq = self.bump();
        if let Some(g) = self.groups.get_mut(group) {
            if added {
                g.members.insert(member.to_owned(), kind.to_owned());
            } else {
                g.members.remove(member);
            }
            self.member_log.push((seq, group.to_owned(), member.to_owned(), kind.to_owned(), added));
        }
    }

    /// Every delta and skip token issued so far stops working.
    pub fn expire_delta_tokens(&mut self, how: Expiry) {
        self.generation += 1;
        self.expiry = how;
    }
}

struct Shared {
    dir: Mutex<GraphDirectory>,
    public_key: Vec<u8>,
    thumbprint: String,
    base: String,
    token_url: String,
}

pub struct GraphFake {
    shared: Arc<Shared>,
    _server: FakeServer,
}

type Slot = Arc<Mutex<Option<Arc<Shared>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn shared(slot: &Slot) -> Arc<Shared> {
    lock(slot).clone().expect("the fake's state is set before it serves")
}

impl GraphFake {
    pub async fn start() -> anyhow::Result<Self> {
        let public_key = public_key_der(&std::fs::read(fixture(TEST_KEY))?)?;
        let thumbprint = thumbprint(&std::fs::read(fixture(TEST_CERT))?)?;
        // The links name the server's port, known only once bound: handlers reach the state
        // through a slot filled right after.
        let slot: Slot = Arc::new(Mutex::new(None));
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/v1.0/users/delta", get(users_delta))
            .route("/v1.0/groups/delta", get(groups_delta))
            .route("/v1.0/users/{id}", get(read_user))
            .route("/v1.0/users/{id}/memberOf", get(member_of))
            .route("/v1.0/subscriptions", post(create_subscription))
            .route("/v1.0/subscriptions/{id}", axum::routing::patch(renew_subscription).delete(delete_subscription))
            .with_state(slot.clone());
        let server = FakeServer::start(app).await?;
        let shared = Arc::new(Shared {
            dir: Mutex::new(GraphDirectory {
                seq: 0,
                users: BTreeMap::new(),
                user_tombstones: BTreeMap::new(),
                groups: BTreeMap::new(),
                group_tombstones: BTreeMap::new(),
                member_log: Vec::new(),
                page_size: 100,
                members_per_object: 20,
                throttle: Throttle::default(),
                counts: GraphCounts::default(),
                expiry: Expiry::Gone,
                generation: 0,
                states: HashMap::new(),
                tokens: HashSet::new(),
                subscriptions: BTreeMap::new(),
            }),
            public_key,
            thumbprint,
            base: format!("{}/v1.0", server.url()),
            token_url: format!("{}/{TENANT}/oauth2/v2.0/token", server.url()),
        });
        *lock(&slot) = Some(shared.clone());
        Ok(Self { shared, _server: server })
    }

    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }

    pub fn token_url(&self) -> String {
        self.shared.token_url.clone()
    }

    pub fn dir(&self) -> MutexGuard<'_, GraphDirectory> {
        lock(&self.shared.dir)
    }

    /// Sends a change notification about `id` (a user or group) to every subscription on
    /// `resource` (`users` or `groups`), as Graph does after a change; returns each answer's
    /// status. `client_state` overrides the subscription's (to send a forged one).
    pub async fn notify(
        &self,
        resource: &str,
        id: &str,
        change_type: &str,
        client_state: Option<&str>,
    ) -> anyhow::Result<Vec<u16>> {
        let subscriptions: Vec<FakeSubscription> =
            self.dir().subscriptions.values().filter(|s| s.resource == resource).cloned().collect();
        let (kind, path) = if resource == "users" { ("User", "Users") } else { ("Group", "Groups") };
        let mut statuses = Vec::new();
        for sub in subscriptions {
            let body = json!({"value": [{
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": sub.expiration,
                "changeType": change_type,
                "resource": format!("{path}/{id}"),
                "resourceData": {
                    "@odata.type": format!("#Microsoft.Graph.{kind}"),
                    "@odata.id": format!("{path}/{id}"),
                    "id": id,
                    "organizationId": TENANT,
                },
                "clientState": client_state.map(str::to_owned).or(sub.client_state.clone()),
                "tenantId": TENANT,
            }]});
            let answer = crate::cloud_fake::http_client()
                .post(&sub.notification_url)
                .json(&body)
                .timeout(std::time::Duration::from_secs(10))
                .send()
                .await?;
            statuses.push(answer.status().as_u16());
        }
        Ok(statuses)
    }
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": code, "error_description": description}))).into_response()
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

async fn token(State(slot): State<Slot>, Path(tenant): Path<String>, body: String) -> Response {
    let shared = shared(&slot);
    lock(&shared.dir).counts.token += 1;
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if tenant != TENANT {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "AADSTS90002: Tenant not found.");
    }
    if field("grant_type") != "client_credentials" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "AADSTS70003: unsupported grant type");
    }
    if field("client_id") != CLIENT_ID {
        return oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client", "AADSTS700016: Application not found.");
    }
    if field("scope") != SCOPE {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid.",
        );
    }
    if let Some(secret) = form.get("client_secret") {
        if secret != CLIENT_SECRET {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.",
            );
        }
    } else if let Some(assertion) = form.get("client_assertion") {
        if field("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "AADSTS50027: invalid client_assertion_type",
            );
        }
        if let Err(why) = check_assertion(&shared, assertion) {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", &why);
        }
    } else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000218: client_assertion or client_secret required.",
        );
    }
    let access = format!("eyJ0.fake-{}", uuid::Uuid::new_v4().simple());
    lock(&shared.dir).tokens.insert(access.clone());
    axum::Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access}))
        .into_response()
}

fn check_assertion(shared: &Shared, assertion: &str) -> Result<(), String> {
    let (header, claims) = verify_rs256(assertion, &shared.public_key)
        .map_err(|why| format!("AADSTS700027: Client assertion failed signature validation. ({why})"))?;
    if header.get("x5t").and_then(Value::as_str) != Some(shared.thumbprint.as_str()) {
        return Err(
            "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered.".into(),
        );
    }
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or_default();
    let int = |k: &str| claims.get(k).and_then(Value::as_i64).unwrap_or(0);
    if text("aud") != shared.token_url {
        return Err(
            "AADSTS700212: No matching federated identity record found for presented assertion audience.".into()
        );
    }
    if text("iss") != CLIENT_ID || text("sub") != CLIENT_ID {
        return Err("AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter.".into());
    }
    let t = now();
    if int("exp") <= t || int("nbf") > t + 60 {
        return Err("AADSTS700024: Client assertion is not within its valid time range.".into());
    }
    Ok(())
}

/// Authenticates and applies injected throttling; `Err` is the answer to send instead.
fn admit(shared: &Shared, headers: &HeaderMap, count: impl FnOnce(&mut GraphCounts)) -> Result<(), Response> {
    let mut dir = lock(&shared.dir);
    count(&mut dir.counts);
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| dir.tokens.contains(t)) {
        return Err(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty or invalid.",
        ));
    }
    if let Some(retry_after) = dir.throttle.take() {
        dir.counts.throttled += 1;
        let mut response = graph_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Too many requests.");
        if let Some(wait) = retry_after
            && let Ok(value) = wait.as_secs().to_string().parse()
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Err(response);
    }
    Ok(())
}

/// The state a delta request continues, or the answer for a token the fake does not (or no
/// longer) know.
fn resume(
    dir: &mut GraphDirectory,
    resource: &'static str,
    query: &HashMap<String, String>,
) -> Result<DeltaState, Response> {
    let token = query.get("$skiptoken").or_else(|| query.get("$deltatoken"));
    let Some(token) = token else {
        return Ok(DeltaState {
            resource,
            since: 0,
            upto: dir.seq,
            offset: 0,
            select: query.get("$select").cloned().unwrap_or_default(),
            generation: dir.generation,
        });
    };
    let state = dir.states.get(token).filter(|s| s.resource == resource).cloned();
    match state {
        Some(s) if s.generation == dir.generation => {
            let is_delta = query.contains_key("$deltatoken");
            // A delta token starts a new round from where the last one ended.
            Ok(if is_delta { DeltaState { since: s.since, upto: dir.seq, offset: 0, ..s } } else { s })
        }
        Some(_) if dir.expiry == Expiry::Gone => {
            let mut r = graph_error(StatusCode::GONE, "resyncRequired", "The delta token has expired.");
            if let Ok(v) = format!("/v1.0/{resource}/delta").parse() {
                r.headers_mut().insert(header::LOCATION, v);
            }
            Err(r)
        }
        Some(_) => Err(graph_error(StatusCode::BAD_REQUEST, "syncStateNotFound", "The sync state could not be found.")),
        None => Err(graph_error(StatusCode::BAD_REQUEST, "badRequest", "Unknown delta or skip token.")),
    }
}

/// One page of `entries`, with the link to the next page or the delta link. A round's entries are
/// recomputed per page from its sequence window, so a test must not change the directory while a
/// client is paging through a round.
fn delta_page(shared: &Shared, dir: &mut GraphDirectory, state: DeltaState, entries: Vec<Value>) -> Response {
    let end = (state.offset + dir.page_size.max(1)).min(entries.len());
    let page: Vec<Value> = entries.get(state.offset..end).map(<[Value]>::to_vec).unwrap_or_default();
    let token = uuid::Uuid::new_v4().simple().to_string();
    let resource = state.resource;
    let mut body = json!({"@odata.context": format!("{}/$metadata#{resource}", shared.base), "value": page});
    if end < entries.len() {
        dir.states.insert(token.clone(), DeltaState { offset: end, ..state });
        body["@odata.nextLink"] = json!(format!("{}/{resource}/delta?$skiptoken={token}", shared.base));
    } else {
        dir.states.insert(token.clone(), DeltaState { since: state.upto, offset: 0, ..state });
        body["@odata.deltaLink"] = json!(format!("{}/{resource}/delta?$deltatoken={token}", shared.base));
    }
    axum::Json(body).into_response()
}

fn selected(props: &Value, select: &str) -> Value {
    let keys: Vec<&str> = select.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
    let mut out = serde_json::Map::new();
    if let Value::Object(map) = props {
        for (k, v) in map {
            if k == "id" || keys.is_empty() || keys.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

async fn users_delta(
    State(slot): State<Slot>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |c| c.users_delta += 1) {
        return r;
    }
    let mut dir = lock(&shared.dir);
    let state = match resume(&mut dir, "users", &query) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let wants_manager = state.select.split(',').any(|k| k.trim() == "manager");
    let (since, upto) = (state.since, state.upto);
    let mut stamped: Vec<(u64, Value)> = Vec::new();
    for user in dir.users.values().filter(|u| u.changed > since && u.changed <= upto) {
        let mut entry = selected(&user.props, &state.select);
        if wants_manager && let Some(m) = &user.manager {
            entry["manager@delta"] = json!([{"@odata.type": "#microsoft.graph.user", "id": m}]);
        }
        stamped.push((user.changed, entry));
    }
    if since > 0 {
        for (id, (seq, reason)) in dir.user_tombstones.iter().filter(|(_, (s, _))| *s > since && *s <= upto) {
            stamped.push((*seq, json!({"id": id, "@removed": {"reason": reason}})));
        }
    }
    stamped.sort_by_key(|(seq, _)| *seq);
    let entries = stamped.into_iter().map(|(_, e)| e).collect();
    delta_page(&shared, &mut dir, state, entries)
}

async fn groups_delta(
    State(slot): State<Slot>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |c| c.groups_delta += 1) {
        return r;
    }
    let mut dir = lock(&shared.dir);
    let state = match resume(&mut dir, "groups", &query) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (since, upto) = (state.since, state.upto);
    let per_object = dir.members_per_object.max(1);
    let mut entries = Vec::new();
    let member = |id: &str, kind: &str, removed: bool| {
        let mut m = json!({"@odata.type": kind, "id": id});
        if removed {
            m["@removed"] = json!({"reason": "deleted"});
        }
        m
    };
    for (gid, group) in &dir.groups {
        let members: Vec<Value> = if since == 0 {
            group.members.iter().map(|(id, kind)| member(id, kind, false)).collect()
        } else {
            // The net change per member within the round.
            let mut last: BTreeMap<&str, (&str, bool)> = BTreeMap::new();
            for (seq, g, m, kind, added) in &dir.member_log {
                if g == gid && *seq > since && *seq <= upto {
                    last.insert(m, (kind, *added));
                }
            }
            last.into_iter().map(|(id, (kind, added))| member(id, kind, !added)).collect()
        };
        let changed = group.changed > since && group.changed <= upto;
        if since > 0 && !changed && members.is_empty() {
            continue;
        }
        let chunks: Vec<&[Value]> = if members.is_empty() { vec![&[]] } else { members.chunks(per_object).collect() };
        for chunk in chunks {
            entries.push(json!({"id": gid, "displayName": group.display, "members@delta": chunk}));
        }
    }
    if since > 0 {
        for (id, _) in dir.group_tombstones.iter().filter(|(_, s)| **s > since && **s <= upto) {
            entries.push(json!({"id": id, "@removed": {"reason": "deleted"}}));
        }
    }
    delta_page(&shared, &mut dir, state, entries)
}

async fn read_user(
    State(slot): State<Slot>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |c| c.user_reads += 1) {
        return r;
    }
    let dir = lock(&shared.dir);
    let Some(user) = dir.users.get(&id) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist."),
        );
    };
    let mut body = selected(&user.props, query.get("$select").map(String::as_str).unwrap_or_default());
    let expand = query.get("$expand").map(String::as_str).unwrap_or_default();
    if expand.starts_with("manager")
        && let Some(m) = &user.manager
    {
        body["manager"] = json!({"@odata.type": "#microsoft.graph.user", "id": m});
    }
    axum::Json(body).into_response()
}

/// `GET /users/{id}/memberOf`: the groups the user is a direct member of, in one page
/// (<https://learn.microsoft.com/en-us/graph/api/user-list-memberof>).
async fn member_of(State(slot): State<Slot>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |c| c.member_of_reads += 1) {
        return r;
    }
    let dir = lock(&shared.dir);
    if !dir.users.contains_key(&id) {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist."),
        );
    }
    let groups: Vec<Value> = dir
        .groups
        .iter()
        .filter(|(_, g)| g.members.contains_key(&id))
        .map(|(gid, _)| json!({"@odata.type": "#microsoft.graph.group", "id": gid}))
        .chain(std::iter::once(json!({"@odata.type": "#microsoft.graph.directoryRole", "id": "role-1"})))
        .collect();
    axum::Json(json!({"value": groups})).into_response()
}

/// Graph's longest subscription on users and groups, in seconds.
const MAX_SUBSCRIPTION_S: i64 = 41_760 * 60;

fn expiration_ok(text: &str) -> Result<(), &'static str> {
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| "expirationDateTime is not an ISO 8601 date and time")?;
    let ahead = at.unix_timestamp() - now();
    if ahead <= 0 {
        return Err("Subscription expiration can only be in the future.");
    }
    if ahead > MAX_SUBSCRIPTION_S {
        return Err("Subscription expiration exceeds the maximum allowed for this resource.");
    }
    Ok(())
}

fn subscription_json(sub: &FakeSubscription) -> Value {
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
        "id": sub.id,
        "resource": sub.resource,
        "applicationId": CLIENT_ID,
        "changeType": sub.change_type,
        "clientState": sub.client_state,
        "notificationUrl": sub.notification_url,
        "expirationDateTime": sub.expiration,
        "creatorId": CLIENT_ID,
    })
}

async fn create_subscription(State(slot): State<Slot>, headers: HeaderMap, body: String) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |_| {}) {
        return r;
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "Invalid JSON body.");
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (change_type, url, resource, expiration) =
        (text("changeType"), text("notificationUrl"), text("resource"), text("expirationDateTime"));
    let client_state = body.get("clientState").and_then(Value::as_str).map(str::to_owned);
    if !matches!(resource.trim_start_matches('/'), "users" | "groups") {
        return graph_error(StatusCode::BAD_REQUEST, "InvalidRequest", "Unsupported resource for this fake.");
    }
    let known = ["created", "updated", "deleted"];
    if change_type.is_empty() || !change_type.split(',').all(|c| known.contains(&c.trim())) {
        return graph_error(StatusCode::BAD_REQUEST, "InvalidRequest", "Invalid changeType.");
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return graph_error(StatusCode::BAD_REQUEST, "InvalidRequest", "Invalid notification URL.");
    }
    if client_state.as_ref().is_some_and(|c| c.len() > 128) {
        return graph_error(StatusCode::BAD_REQUEST, "InvalidRequest", "clientState is longer than 128 characters.");
    }
    if let Err(why) = expiration_ok(&expiration) {
        return graph_error(StatusCode::BAD_REQUEST, "InvalidRequest", why);
    }
    // The validation request: Graph creates nothing until the URL echoes the token.
    let token = format!("Validation: Testing client application reachability {}", uuid::Uuid::new_v4());
    let validated = async {
        let mut target = url::Url::parse(&url).ok()?;
        target.query_pairs_mut().append_pair("validationToken", &token);
        let answer = crate::cloud_fake::http_client()
            .post(target)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        let plain = answer
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"));
        let ok = answer.status() == StatusCode::OK && plain;
        let echoed = answer.text().await.ok()?;
        Some(ok && echoed == token)
    }
    .await
    .unwrap_or(false);
    let mut dir = lock(&shared.dir);
    if !validated {
        dir.counts.validations_failed += 1;
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation \
             request.",
        );
    }
    dir.counts.subscriptions_created += 1;
    let sub = FakeSubscription {
        id: uuid::Uuid::new_v4().to_string(),
        resource: resource.trim_start_matches('/').to_owned(),
        change_type,
        notification_url: url,
        client_state,
        expiration,
    };
    let answer = subscription_json(&sub);
    dir.subscriptions.insert(sub.id.clone(), sub);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn renew_subscription(
    State(slot): State<Slot>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |_| {}) {
        return r;
    }
    let expiration = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|b| b.get("expirationDateTime").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    if let Err(why) = expiration_ok(&expiration) {
        return graph_error(StatusCode::BAD_REQUEST, "InvalidRequest", why);
    }
    let mut dir = lock(&shared.dir);
    let Some(sub) = dir.subscriptions.get_mut(&id) else {
        return graph_error(StatusCode::NOT_FOUND, "ResourceNotFound", "The object was not found.");
    };
    sub.expiration = expiration;
    let answer = subscription_json(sub);
    dir.counts.subscriptions_renewed += 1;
    axum::Json(answer).into_response()
}

async fn delete_subscription(State(slot): State<Slot>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |_| {}) {
        return r;
    }
    let mut dir = lock(&shared.dir);
    if dir.subscriptions.remove(&id).is_none() {
        return graph_error(StatusCode::NOT_FOUND, "ResourceNotFound", "The object was not found.");
    }
    dir.counts.subscriptions_deleted += 1;
    StatusCode::NO_CONTENT.into_response()
}
