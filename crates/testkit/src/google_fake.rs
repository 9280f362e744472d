//! A fake Google Workspace: the OAuth token endpoint for service accounts and the Admin SDK
//! Directory API's users.list, groups.list and members.list, holding a directory tests change
//! between syncs.
//!
//! Contracts followed:
//! - Token endpoint, JWT bearer grant: the assertion must be RS256-signed by the service account's
//!   key, `iss` its client_email, `sub` the impersonated user, `aud` the token URL, `scope` the
//!   requested scopes, `exp` at most an hour after `iat`; errors are `{"error", "error_description"}`
//!   with 400 (<https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests>).
//! - users.list: `customer`, `maxResults` 1–500, `pageToken`/`nextPageToken`
//!   (<https://developers.google.com/workspace/admin/directory/reference/rest/v1/users/list>).
//! - groups.list and members.list: `maxResults` 1–200
//!   (<https://developers.google.com/workspace/admin/directory/reference/rest/v1/groups/list>,
//!   <https://developers.google.com/workspace/admin/directory/reference/rest/v1/members/list>).
//! - Errors `{"error": {"code", "message", "errors": [{"domain", "reason"}]}}`; rate limits as 403
//!   (or 429) with reason `rateLimitExceeded`/`userRateLimitExceeded`
//!   (<https://developers.google.com/workspace/admin/directory/v1/limits>).
//!
//! Writes, for Google Workspace as a provisioning target (needing the read-write scopes
//! `admin.directory.user` / `admin.directory.group`; a token without them gets 403
//! `insufficientPermissions`):
//! - users.list `query` with `externalId=` (any type), `email=` (primary address or alias, exact) and
//!   `isSuspended=` clauses (<https://developers.google.com/workspace/admin/directory/v1/guides/search-users>);
//! - users.get by id, primary email or alias, 404 `notFound` otherwise;
//! - users.insert: `primaryEmail`, `name.givenName`, `name.familyName` and a password of 8 to 100
//!   characters required (400 `invalid`/`required`), a taken address is 409 `duplicate`; the
//!   password is never returned;
//! - users.patch (and users.update, which the API documents with the same patch semantics): lists
//!   replaced whole, `name` merged, a new primaryEmail keeps the old one as an alias, `suspended`;
//! - users.delete: 204; the user leaves its groups and is kept among the deleted (restorable for
//!   20 days in Google);
//! - groups.insert (409 `duplicate` on a taken address), members.insert by member email or id (409
//!   `duplicate` "Member already exists", 404 for an unknown member), members.delete (404 when not
//!   a member)
//!   (<https://developers.google.com/workspace/admin/directory/reference/rest/v1/users>,
//!   <https://developers.google.com/workspace/admin/directory/reference/rest/v1/groups>,
//!   <https://developers.google.com/workspace/admin/directory/reference/rest/v1/members>).
//!
//! Push notifications (<https://developers.google.com/admin-sdk/directory/reference/rest/v1/users/watch>,
//! <https://developers.google.com/admin-sdk/directory/v1/guides/push>,
//! <https://developers.google.com/workspace/admin/directory/reference/rest/v1/channels/stop>):
//! - `POST /admin/directory/v1/users/watch?customer=…&event=…` with a channel `{id, type:
//!   "web_hook", address, token, params: {ttl}}`: `type` must be `web_hook`, `id` unused so far
//!   (400 otherwise), `event` one of `add`, `delete`, `makeAdmin`, `undelete`, `update`; answers
//!   `{kind: "api#channel", id, resourceId, resourceUri, token, expiration}` (expiration in
//!   milliseconds, as a string), then sends the channel's `sync` message;
//! - notifications POSTed to the address with `X-Goog-Channel-ID`, `X-Goog-Channel-Token`,
//!   `X-Goog-Channel-Expiration`, `X-Goog-Message-Number`, `X-Goog-Resource-ID`,
//!   `X-Goog-Resource-URI` and `X-Goog-Resource-State` (`sync`, then the event), the user
//!   resource as the body;
//! - `POST /admin/directory_v1/channels/stop` with `{id, resourceId}`: 204, or 404 for an
//!   unknown channel. Google requires an `https` address; the fake also takes `http`.
//!
//! Data Transfer API (Drive files handed on before an offboarded user is suspended): see
//! [`google_transfer_fake`](crate::google_transfer_fake). Enterprise License Manager API (who
//! holds which SKU): see [`google_licensing_fake`](crate::google_licensing_fake).
//!
//! Not faked: the `fields` partial-response filter (every field is returned, which a client must
//! tolerate anyway) and `projection=custom`.

// Handlers return the early answer (an error, a throttle) as `Err(Response)`; its size is of no
// concern in a test fake.
#![allow(clippy::result_large_err)]
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use crate::cloud_fake::{FakeServer, TEST_KEY, Throttle, fixture, now, public_key_der, verify_rs256};

pub const CLIENT_EMAIL: &str = "tenure-sync@test-project.iam.gserviceaccount.com";
pub const ADMIN: &str = "admin@example.com";
const REQUIRED_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
];
/// The read-write scopes; each also grants its read-only counterpart.
const USER_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.user";
const GROUP_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.group";

#[derive(Debug, Clone)]
pub struct GoogleGroup {
    pub id: String,
    pub email: String,
    /// `(member id, type)`: type `USER`, `GROUP`, `CUSTOMER` or `EXTERNAL`.
    pub members: Vec<(String, String)>,
}

/// How many requests of each kind the fake answered (throttled ones included).
#[derive(Debug, Clone, Default)]
pub struct GoogleCounts {
    pub token: u32,
    pub users: u32,
    pub groups: u32,
    pub members: u32,
    pub throttled: u32,
    /// Requests that change something (insert, patch, delete).
    pub writes: u32,
    pub watches: u32,
    pub stops: u32,
    /// Data transfers requested (transfers.insert).
    pub transfers: u32,
    /// Data transfer reads (transfers.get and transfers.list).
    pub transfer_reads: u32,
}

/// A push notification channel as the fake keeps it.
#[derive(Debug, Clone)]
pub struct GoogleChannel {
    pub id: String,
    pub resource_id: String,
    pub address: String,
    pub token: Option<String>,
    /// The user event it watches; `None`: every event.
    pub event: Option<String>,
    pub expiration_ms: i64,
    message_number: u64,
}

/// A notification the fake sent: the resource state and the receiver's answer (0: no answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub channel: String,
    pub state: String,
    pub status: u16,
}

#[derive(Debug, Default)]
pub struct GoogleDirectory {
    /// User resources as the API returns them.
    pub users: Vec<Value>,
    pub groups: Vec<GoogleGroup>,
    pub throttle: Throttle,
    pub counts: GoogleCounts,
    /// Google's reason on a throttled answer.
    pub throttle_reason: String,
    /// Users deleted through the API, as they were (Google keeps them restorable for 20 days).
    pub deleted: Vec<Value>,
    /// Open push notification channels.
    pub channels: Vec<GoogleChannel>,
    /// Every notification sent, in order.
    pub deliveries: Vec<Delivery>,
    /// Data transfer state: Drive files, transfers, and how transfers progress.
    pub drive: crate::google_transfer_fake::DriveState,
    /// License Manager state: SKUs and who holds them.
    pub licensing: crate::google_licensing_fake::LicensingState,
    next_id: u64,
}

impl GoogleDirectory {
    /// The stored user whose id, primary email or alias is `key`.
    pub fn user(&self, key: &str) -> Option<&Value> {
        self.users.iter().find(|u| user_has_key(u, key))
    }

    pub(crate) fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        // Google's user and group ids are 21-digit numbers.
        format!("1{:020}", self.next_id)
    }

    fn address_taken(&self, address: &str, except_id: Option<&str>) -> bool {
        self.users.iter().filter(|u| except_id.is_none_or(|id| text(u, "id") != id)).any(|u| user_has_key(u, address))
            || self.groups.iter().any(|g| g.email.eq_ignore_ascii_case(address))
    }
}

pub(crate) struct Shared {
    pub(crate) dir: Mutex<GoogleDirectory>,
    public_key: Vec<u8>,
    pub(crate) token_url: String,
    pub(crate) customer_id: String,
    /// Access tokens issued, with the scopes each grants.
    tokens: Mutex<HashMap<String, Vec<String>>>,
}

pub struct GoogleFake {
    shared: Arc<Shared>,
    server: FakeServer,
}

impl GoogleFake {
    pub async fn start() -> anyhow::Result<Self> {
        let public_key = public_key_der(&std::fs::read(fixture(TEST_KEY))?)?;
        // The token URL names the server's port, known only once it is bound: the handlers reach
        // the state through a slot filled right after.
        let shared_slot: Arc<Mutex<Option<Arc<Shared>>>> = Arc::new(Mutex::new(None));
        let slot = shared_slot.clone();
        let app = Router::new()
            .route("/token", post(token))
            .route("/admin/directory/v1/users", get(users).post(insert_user))
            .route("/admin/directory/v1/users/watch", post(watch_users))
            .route("/admin/directory_v1/channels/stop", post(stop_channel))
            .route(
                "/admin/directory/v1/users/{key}",
                get(get_user).patch(patch_user).put(patch_user).delete(delete_user),
            )
            .route("/admin/directory/v1/groups", get(groups).post(insert_group))
            .route("/admin/directory/v1/groups/{key}/members", get(members).post(insert_member))
            .route("/admin/directory/v1/groups/{key}/members/{member}", delete(delete_member))
            .route(
                "/admin/datatransfer/v1/transfers",
                get(crate::google_transfer_fake::list).post(crate::google_transfer_fake::insert),
            )
            .route("/admin/datatransfer/v1/transfers/{id}", get(crate::google_transfer_fake::get))
            .route("/apps/licensing/v1/product/{product}/sku/{sku}/users", get(crate::google_licensing_fake::list))
            .route("/apps/licensing/v1/product/{product}/sku/{sku}/user", post(crate::google_licensing_fake::insert))
            .route(
                "/apps/licensing/v1/product/{product}/sku/{sku}/user/{user}",
                get(crate::google_licensing_fake::get)
                    .patch(crate::google_licensing_fake::patch)
                    .put(crate::google_licensing_fake::patch)
                    .delete(crate::google_licensing_fake::delete),
            )
            .with_state(slot);
        let server = FakeServer::start(app).await?;
        let shared = Arc::new(Shared {
            dir: Mutex::new(GoogleDirectory { throttle_reason: "userRateLimitExceeded".into(), ..Default::default() }),
            public_key,
            token_url: format!("{}/token", server.url()),
            customer_id: "C0test".into(),
            tokens: Mutex::new(HashMap::new()),
        });
        *lock(&shared_slot) = Some(shared.clone());
        Ok(Self { shared, server })
    }

    /// The API root to configure as the source's base URL.
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    pub fn token_url(&self) -> String {
        self.shared.token_url.clone()
    }

    /// The directory, to read or change between syncs.
    pub fn dir(&self) -> MutexGuard<'_, GoogleDirectory> {
        lock(&self.shared.dir)
    }

    /// Invalidates every access token issued so far (revoked, or delegation changed): the next
    /// API request with one of them gets 401 `authError`.
    pub fn revoke_tokens(&self) {
        lock(&self.shared.tokens).clear();
    }

    /// Sends the notification of `event` on the user `key` to every open channel watching it,
    /// as Google does after a change; returns the answers' statuses (0: no answer).
    pub async fn notify_users(&self, event: &str, key: &str) -> Vec<u16> {
        let (channels, user) = {
            let mut dir = self.dir();
            let user = dir.user(key).cloned().unwrap_or_else(|| json!({"kind": "admin#directory#user", "id": key}));
            let now_ms = now() * 1000;
            let mut due = Vec::new();
            for channel in dir.channels.iter_mut() {
                if channel.expiration_ms > now_ms && channel.event.as_deref().is_none_or(|e| e == event) {
                    channel.message_number += 1;
                    due.push(channel.clone());
                }
            }
            (due, user)
        };
        let mut statuses = Vec::new();
        for channel in channels {
            let status = deliver(&channel, event, &user).await;
            self.dir().deliveries.push(Delivery { channel: channel.id.clone(), state: event.to_owned(), status });
            statuses.push(status);
        }
        statuses
    }

    /// A service account JSON key file for the registered account and `key_pem`.
    pub fn key_file_json(&self, key_pem: &str) -> String {
        json!({
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": "test-key-1",
            "private_key": key_pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "1234567890",
            "token_uri": self.token_url(),
        })
        .to_string()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) type Slot = Arc<Mutex<Option<Arc<Shared>>>>;

pub(crate) fn shared(slot: &Slot) -> Arc<Shared> {
    lock(slot).clone().expect("the fake's state is set before it serves")
}

fn oauth_error(code: &str, description: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": code, "error_description": description}))).into_response()
}

pub(crate) fn api_error(status: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message,
        "errors": [{"domain": "global", "reason": reason, "message": message}]}});
    (status, axum::Json(body)).into_response()
}

async fn token(State(slot): State<Slot>, body: String) -> Response {
    let shared = shared(&slot);
    lock(&shared.dir).counts.token += 1;
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return oauth_error("unsupported_grant_type", "Invalid grant_type");
    }
    let Some(assertion) = form.get("assertion") else { return oauth_error("invalid_request", "Missing assertion") };
    let claims = match verify_rs256(assertion, &shared.public_key) {
        Ok((_, claims)) => claims,
        Err(why) => return oauth_error("invalid_grant", &why),
    };
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let int = |k: &str| claims.get(k).and_then(Value::as_i64).unwrap_or(0);
    if text("iss") != CLIENT_EMAIL {
        return oauth_error("invalid_client", "The OAuth client was not found.");
    }
    if text("aud") != shared.token_url {
        return oauth_error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe",
        );
    }
    let (iat, exp, t) = (int("iat"), int("exp"), now());
    if exp <= t || iat > t + 60 || exp - iat > 3600 {
        return oauth_error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        );
    }
    if text("sub") != ADMIN {
        return oauth_error("invalid_grant", "Invalid email or User ID");
    }
    let scopes: Vec<String> = text("scope").split_whitespace().map(str::to_owned).collect();
    let granted = |s: &str| scopes.iter().any(|g| g == s || s.strip_suffix(".readonly") == Some(g.as_str()));
    // A token for the Data Transfer API alone, where that scope is delegated to the client.
    let transfer_only = scopes.iter().all(|s| s == crate::google_transfer_fake::SCOPE)
        && !scopes.is_empty()
        && !lock(&shared.dir).drive.transfer_scope_withheld;
    // Likewise for the License Manager's scope.
    let licensing_only = scopes.iter().all(|s| s == crate::google_licensing_fake::SCOPE)
        && !scopes.is_empty()
        && !lock(&shared.dir).licensing.scope_withheld;
    if !transfer_only && !licensing_only && !REQUIRED_SCOPES.iter().all(|s| granted(s)) {
        return oauth_error(
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
        );
    }
    let access = format!("ya29.fake-{}", uuid::Uuid::new_v4().simple());
    lock(&shared.tokens).insert(access.clone(), scopes);
    axum::Json(json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer"})).into_response()
}

/// Authenticates and applies injected throttling; `Err` is the answer to send instead.
fn admit(shared: &Shared, headers: &HeaderMap, count: impl FnOnce(&mut GoogleCounts)) -> Result<(), Response> {
    admit_scoped(shared, headers, None, count)
}

/// [`admit`], also requiring the token to carry `scope` (a write).
pub(crate) fn admit_scoped(
    shared: &Shared,
    headers: &HeaderMap,
    scope: Option<&str>,
    count: impl FnOnce(&mut GoogleCounts),
) -> Result<(), Response> {
    let mut dir = lock(&shared.dir);
    count(&mut dir.counts);
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let granted = bearer.and_then(|t| lock(&shared.tokens).get(t).cloned());
    let Some(granted) = granted else {
        return Err(api_error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials"));
    };
    if let Some(scope) = scope
        && !granted.iter().any(|g| g == scope)
    {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        ));
    }
    if let Some(retry_after) = dir.throttle.take() {
        dir.counts.throttled += 1;
        let status = StatusCode::from_u16(dir.throttle.status).unwrap_or(StatusCode::FORBIDDEN);
        let mut response = api_error(status, &dir.throttle_reason.clone(), "Rate Limit Exceeded");
        if let Some(wait) = retry_after
            && let Ok(value) = wait.as_secs().to_string().parse()
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Err(response);
    }
    Ok(())
}

/// One page of `items` per `pageToken` (an offset) and `maxResults` (1..=max).
pub(crate) fn page(
    items: Vec<Value>,
    key: &str,
    query: &std::collections::HashMap<String, String>,
    max: usize,
) -> Response {
    let size = match query.get("maxResults").map(|v| v.parse::<usize>()) {
        None => max.min(100),
        Some(Ok(n)) if (1..=max).contains(&n) => n,
        Some(_) => return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid value for maxResults"),
    };
    let offset = match query.get("pageToken").map(|t| t.strip_prefix("pt-").and_then(|n| n.parse::<usize>().ok())) {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid page token"),
    };
    let end = (offset + size).min(items.len());
    let slice: Vec<Value> = items.get(offset..end).map(<[Value]>::to_vec).unwrap_or_default();
    let mut body = json!({"kind": format!("admin#directory#{key}")});
    if !slice.is_empty() {
        body[key] = Value::Array(slice);
    }
    if end < items.len() {
        body["nextPageToken"] = json!(format!("pt-{end}"));
    }
    axum::Json(body).into_response()
}

fn check_customer(shared: &Shared, query: &std::collections::HashMap<String, String>) -> Result<(), Response> {
    match query.get("customer").map(String::as_str) {
        Some("my_customer") => Ok(()),
        Some(c) if c == shared.customer_id => Ok(()),
        // `domain` instead of `customer` lists that domain's users.
        None if query.contains_key("domain") => Ok(()),
        _ => Err(api_error(StatusCode::BAD_REQUEST, "badRequest", "Bad Request")),
    }
}

async fn users(
    State(slot): State<Slot>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |c| c.users += 1).and_then(|()| check_customer(&shared, &query)) {
        return r;
    }
    let users = lock(&shared.dir).users.clone();
    let users = match query.get("query").map(|q| search(q)) {
        None => users,
        Some(Ok(clauses)) => users.into_iter().filter(|u| clauses.iter().all(|c| c.matches(u))).collect(),
        Some(Err(r)) => return r,
    };
    page(users, "users", &query, 500)
}

async fn groups(
    State(slot): State<Slot>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |c| c.groups += 1).and_then(|()| check_customer(&shared, &query)) {
        return r;
    }
    let groups: Vec<Value> = lock(&shared.dir)
        .groups
        .iter()
        .map(|g| {
            json!({"kind": "admin#directory#group", "id": g.id, "email": g.email, "name": g.email,
            "directMembersCount": g.members.len().to_string()})
        })
        .collect();
    page(groups, "groups", &query, 200)
}

async fn members(
    State(slot): State<Slot>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |c| c.members += 1) {
        return r;
    }
    let found = lock(&shared.dir).groups.iter().find(|g| g.id == key || g.email == key).cloned();
    let Some(group) = found else {
        return api_error(StatusCode::NOT_FOUND, "notFound", "Resource Not Found: groupKey");
    };
    let members: Vec<Value> = group
        .members
        .iter()
        .map(|(id, kind)| json!({"kind": "admin#directory#member", "id": id, "type": kind, "role": "MEMBER", "status": "ACTIVE"}))
        .collect();
    page(members, "members", &query, 200)
}

pub(crate) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Whether `key` (an id, a primary email or an alias) names this user.
pub(crate) fn user_has_key(user: &Value, key: &str) -> bool {
    text(user, "id") == key
        || text(user, "primaryEmail").eq_ignore_ascii_case(key)
        || user
            .get("aliases")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_str().is_some_and(|v| v.eq_ignore_ascii_case(key))))
}

/// One users.list search clause.
enum Clause {
    ExternalId(String),
    Email(String),
    Suspended(bool),
}

impl Clause {
    fn matches(&self, user: &Value) -> bool {
        match self {
            Clause::ExternalId(v) => user
                .get("externalIds")
                .and_then(Value::as_array)
                .is_some_and(|ids| ids.iter().any(|e| text(e, "value") == v)),
            // The primary address and aliases, not other addresses in `emails`.
            Clause::Email(v) => text(user, "id") != v && user_has_key(user, v),
            Clause::Suspended(s) => user.get("suspended").and_then(Value::as_bool).unwrap_or(false) == *s,
        }
    }
}

/// Parses the `query` clauses the fake supports: `field=value` or `field='value'`, separated by
/// spaces (an implicit AND). Anything else is refused as Google refuses a malformed query.
fn search(query: &str) -> Result<Vec<Clause>, Response> {
    let bad = || api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid Input");
    let mut clauses = Vec::new();
    let mut rest = query.trim();
    while !rest.is_empty() {
        let (field, after) = rest.split_once('=').ok_or_else(bad)?;
        let (value, remaining) = match after.strip_prefix('\'') {
            Some(quoted) => {
                let end = quoted.find('\'').ok_or_else(bad)?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_once(' ').unwrap_or((after, "")),
        };
        clauses.push(match field.trim() {
            "externalId" => Clause::ExternalId(value.to_owned()),
            "email" => Clause::Email(value.to_owned()),
            "isSuspended" => Clause::Suspended(value.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        });
        rest = remaining.trim();
    }
    Ok(clauses)
}

pub(crate) fn parse_body(body: &str) -> Result<serde_json::Map<String, Value>, Response> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(api_error(StatusCode::BAD_REQUEST, "parseError", "Parse Error")),
    }
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn user_not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "notFound", "Resource Not Found: userKey")
}

/// The primary address is listed among the emails, as users.get answers; the rest as written.
fn normalise_emails(user: &mut Value) {
    let primary = text(user, "primaryEmail").to_owned();
    let mut emails: Vec<Value> = user
        .get("emails")
        .and_then(Value::as_array)
        .map(|e| e.iter().filter(|e| e.get("primary").and_then(Value::as_bool) != Some(true)).cloned().collect())
        .unwrap_or_default();
    emails.insert(0, json!({"address": primary, "primary": true}));
    user["emails"] = Value::Array(emails);
}

fn check_names(name: Option<&Value>) -> Result<(), Response> {
    for (key, label) in [("givenName", "GivenName"), ("familyName", "FamilyName")] {
        let value = name.and_then(|n| n.get(key)).and_then(Value::as_str).unwrap_or_default();
        if value.trim().is_empty() || value.chars().count() > 60 {
            return Err(api_error(StatusCode::BAD_REQUEST, "invalid", &format!("Invalid Given/Family Name: {label}")));
        }
    }
    Ok(())
}

async fn insert_user(State(slot): State<Slot>, headers: HeaderMap, body: String) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit_scoped(&shared, &headers, Some(USER_SCOPE), |c| c.writes += 1) {
        return r;
    }
    let mut user = match parse_body(&body) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let primary = user.get("primaryEmail").and_then(Value::as_str).unwrap_or_default().trim().to_lowercase();
    if !primary.contains('@') {
        return api_error(StatusCode::BAD_REQUEST, "required", "Invalid Input: primary_user_email");
    }
    if let Err(r) = check_names(user.get("name")) {
        return r;
    }
    let password_len = user.get("password").and_then(Value::as_str).map_or(0, |p| p.chars().count());
    if !(8..=100).contains(&password_len) {
        return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid Password");
    }
    let mut dir = lock(&shared.dir);
    if dir.address_taken(&primary, None) {
        return api_error(StatusCode::CONFLICT, "duplicate", "Entity already exists.");
    }
    // Never stored, never returned.
    user.remove("password");
    let id = dir.fresh_id();
    user.insert("kind".into(), json!("admin#directory#user"));
    user.insert("id".into(), json!(id));
    user.insert("primaryEmail".into(), json!(primary));
    user.insert("customerId".into(), json!(shared.customer_id));
    user.entry("suspended").or_insert(json!(false));
    user.entry("orgUnitPath").or_insert(json!("/"));
    user.entry("isAdmin").or_insert(json!(false));
    let mut user = Value::Object(user);
    // Read-only, "formed by concatenating the first and last name values".
    if let Some(name) = user.get("name").cloned() {
        user["name"]["fullName"] = json!(format!("{} {}", text(&name, "givenName"), text(&name, "familyName")));
    }
    normalise_emails(&mut user);
    dir.users.push(user.clone());
    axum::Json(user).into_response()
}

async fn get_user(State(slot): State<Slot>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |c| c.users += 1) {
        return r;
    }
    match lock(&shared.dir).user(&key) {
        Some(user) => axum::Json(user.clone()).into_response(),
        None => user_not_found(),
    }
}

async fn patch_user(State(slot): State<Slot>, Path(key): Path<String>, headers: HeaderMap, body: String) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit_scoped(&shared, &headers, Some(USER_SCOPE), |c| c.writes += 1) {
        return r;
    }
    let patch = match parse_body(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut dir = lock(&shared.dir);
    let Some(index) = dir.users.iter().position(|u| user_has_key(u, &key)) else { return user_not_found() };
    let mut user = dir.users[index].clone();
    let id = text(&user, "id").to_owned();
    for (field, value) in patch {
        match field.as_str() {
            "id" | "kind" | "customerId" | "password" | "isAdmin" => {}
            "primaryEmail" => {
                let new = value.as_str().unwrap_or_default().trim().to_lowercase();
                if !new.contains('@') {
                    return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid Input: primary_user_email");
                }
                let old = text(&user, "primaryEmail").to_owned();
                if !new.eq_ignore_ascii_case(&old) {
                    if dir.address_taken(&new, Some(&id)) {
                        return api_error(StatusCode::CONFLICT, "duplicate", "Entity already exists.");
                    }
                    // The old address keeps receiving mail as an alias.
                    let aliases = user.get_mut("aliases").and_then(Value::as_array_mut);
                    match aliases {
                        Some(list) => list.push(json!(old)),
                        None => user["aliases"] = json!([old]),
                    }
                    user["primaryEmail"] = json!(new);
                }
            }
            // Nested objects merge; lists and scalars are replaced whole.
            "name" => {
                let mut name = user.get("name").cloned().unwrap_or_else(|| json!({}));
                if let (Some(target), Some(given)) = (name.as_object_mut(), value.as_object()) {
                    for (k, v) in given {
                        target.insert(k.clone(), v.clone());
                    }
                }
                if let Err(r) = check_names(Some(&name)) {
                    return r;
                }
                name["fullName"] = json!(format!("{} {}", text(&name, "givenName"), text(&name, "familyName")));
                user["name"] = name;
            }
            "suspended" => {
                let suspended = value.as_bool().unwrap_or(false);
                user["suspended"] = json!(suspended);
                match user.as_object_mut() {
                    Some(map) if suspended => {
                        map.insert("suspensionReason".into(), json!("ADMIN"));
                    }
                    Some(map) => {
                        map.remove("suspensionReason");
                    }
                    None => {}
                }
            }
            _ => user[field] = value,
        }
    }
    normalise_emails(&mut user);
    dir.users[index] = user.clone();
    axum::Json(user).into_response()
}

async fn delete_user(State(slot): State<Slot>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit_scoped(&shared, &headers, Some(USER_SCOPE), |c| c.writes += 1) {
        return r;
    }
    let mut dir = lock(&shared.dir);
    let Some(index) = dir.users.iter().position(|u| user_has_key(u, &key)) else { return user_not_found() };
    let mut user = dir.users.remove(index);
    let id = text(&user, "id").to_owned();
    for group in &mut dir.groups {
        group.members.retain(|(member, _)| *member != id);
    }
    user["deletionTime"] = json!(now());
    dir.deleted.push(user);
    no_content()
}

async fn insert_group(State(slot): State<Slot>, headers: HeaderMap, body: String) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit_scoped(&shared, &headers, Some(GROUP_SCOPE), |c| c.writes += 1) {
        return r;
    }
    let group = match parse_body(&body) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let email = group.get("email").and_then(Value::as_str).unwrap_or_default().trim().to_lowercase();
    if !email.contains('@') {
        return api_error(StatusCode::BAD_REQUEST, "required", "Missing required field: email");
    }
    let mut dir = lock(&shared.dir);
    if dir.address_taken(&email, None) {
        return api_error(StatusCode::CONFLICT, "duplicate", "Entity already exists.");
    }
    let id = dir.fresh_id();
    dir.groups.push(GoogleGroup { id: id.clone(), email: email.clone(), members: Vec::new() });
    let name = group.get("name").and_then(Value::as_str).unwrap_or(&email).to_owned();
    axum::Json(json!({"kind": "admin#directory#group", "id": id, "email": email, "name": name,
        "directMembersCount": "0", "adminCreated": true}))
    .into_response()
}

fn group_index(dir: &GoogleDirectory, key: &str) -> Result<usize, Response> {
    dir.groups
        .iter()
        .position(|g| g.id == key || g.email.eq_ignore_ascii_case(key))
        .ok_or_else(|| api_error(StatusCode::NOT_FOUND, "notFound", "Resource Not Found: groupKey"))
}

async fn insert_member(
    State(slot): State<Slot>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit_scoped(&shared, &headers, Some(GROUP_SCOPE), |c| c.writes += 1) {
        return r;
    }
    let member = match parse_body(&body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let wanted = member.get("email").or_else(|| member.get("id")).and_then(Value::as_str).unwrap_or_default();
    let mut dir = lock(&shared.dir);
    let index = match group_index(&dir, &key) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let resolved = match dir.user(wanted) {
        Some(user) => Some((text(user, "id").to_owned(), "USER")),
        None => dir
            .groups
            .iter()
            .find(|g| g.id == wanted || g.email.eq_ignore_ascii_case(wanted))
            .map(|g| (g.id.clone(), "GROUP")),
    };
    let Some((id, kind)) = resolved else {
        return api_error(StatusCode::NOT_FOUND, "notFound", "Resource Not Found: memberKey");
    };
    let group = &mut dir.groups[index];
    if group.members.iter().any(|(m, _)| *m == id) {
        return api_error(StatusCode::CONFLICT, "duplicate", "Member already exists.");
    }
    group.members.push((id.clone(), kind.to_owned()));
    let role = member.get("role").and_then(Value::as_str).unwrap_or("MEMBER");
    axum::Json(json!({"kind": "admin#directory#member", "id": id, "email": wanted, "type": kind, "role": role,
        "status": "ACTIVE"}))
    .into_response()
}

async fn delete_member(
    State(slot): State<Slot>,
    Path((key, member)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit_scoped(&shared, &headers, Some(GROUP_SCOPE), |c| c.writes += 1) {
        return r;
    }
    let mut dir = lock(&shared.dir);
    let index = match group_index(&dir, &key) {
        Ok(i) => i,
        Err(r) => return r,
    };
    // The member key is an id or an address.
    let id = dir.user(&member).map(|u| text(u, "id").to_owned()).unwrap_or(member);
    let group = &mut dir.groups[index];
    let before = group.members.len();
    group.members.retain(|(m, _)| *m != id);
    if group.members.len() == before {
        return api_error(StatusCode::NOT_FOUND, "notFound", "Resource Not Found: memberKey");
    }
    no_content()
}

/// POSTs one notification; the receiver's status, or 0 when it did not answer.
async fn deliver(channel: &GoogleChannel, state: &str, body: &Value) -> u16 {
    let expiration = time::OffsetDateTime::from_unix_timestamp(channel.expiration_ms / 1000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc2822).ok())
        .unwrap_or_default();
    let mut request = crate::cloud_fake::http_client()
        .post(&channel.address)
        .timeout(std::time::Duration::from_secs(10))
        .header("X-Goog-Channel-ID", &channel.id)
        .header("X-Goog-Channel-Expiration", expiration)
        .header("X-Goog-Message-Number", channel.message_number.to_string())
        .header("X-Goog-Resource-ID", &channel.resource_id)
        .header("X-Goog-Resource-URI", "https://admin.googleapis.com/admin/directory/v1/users?customer=my_customer")
        .header("X-Goog-Resource-State", state)
        .json(body);
    if let Some(token) = &channel.token {
        request = request.header("X-Goog-Channel-Token", token);
    }
    request.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

const WATCH_EVENTS: &[&str] = &["add", "delete", "makeAdmin", "undelete", "update"];

/// The longest channel life the fake gives (Google may give less than asked).
const MAX_TTL_S: i64 = 6 * 3600;

async fn watch_users(
    State(slot): State<Slot>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |c| c.watches += 1) {
        return r;
    }
    if !query.contains_key("customer") && !query.contains_key("domain") {
        return api_error(StatusCode::BAD_REQUEST, "badRequest", "Bad Request: customer or domain is required");
    }
    let event = query.get("event").cloned();
    if event.as_deref().is_some_and(|e| !WATCH_EVENTS.contains(&e)) {
        return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid value for: event");
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return api_error(StatusCode::BAD_REQUEST, "parseError", "Parse Error");
    };
    let (id, address) = (text(&body, "id").to_owned(), text(&body, "address").to_owned());
    if text(&body, "type") != "web_hook" {
        return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid value for: type (web_hook)");
    }
    if id.is_empty() || !(address.starts_with("https://") || address.starts_with("http://")) {
        return api_error(StatusCode::BAD_REQUEST, "required", "Required: id and an https address");
    }
    let ttl = body
        .get("params")
        .and_then(|p| p.get("ttl"))
        .and_then(|t| t.as_str().and_then(|s| s.parse::<i64>().ok()).or_else(|| t.as_i64()))
        .unwrap_or(MAX_TTL_S)
        .clamp(1, MAX_TTL_S);
    let channel = {
        let mut dir = lock(&shared.dir);
        if dir.channels.iter().any(|c| c.id == id) {
            return api_error(StatusCode::BAD_REQUEST, "channelIdNotUnique", "Channel id not unique");
        }
        let resource_id = format!("res-{}", uuid::Uuid::new_v4().simple());
        let channel = GoogleChannel {
            id,
            resource_id,
            address,
            token: body.get("token").and_then(Value::as_str).map(str::to_owned),
            event,
            expiration_ms: (now() + ttl) * 1000,
            message_number: 1,
        };
        dir.channels.push(channel.clone());
        channel
    };
    // The `sync` message follows the answer, as Google's does: the receiver knows the channel
    // by then.
    let sender = shared.clone();
    let first = channel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let status = deliver(&first, "sync", &json!({})).await;
        lock(&sender.dir).deliveries.push(Delivery { channel: first.id, state: "sync".into(), status });
    });
    axum::Json(json!({
        "kind": "api#channel",
        "id": channel.id,
        "resourceId": channel.resource_id,
        "resourceUri": "https://admin.googleapis.com/admin/directory/v1/users?customer=my_customer",
        "token": channel.token,
        "expiration": channel.expiration_ms.to_string(),
    }))
    .into_response()
}

async fn stop_channel(State(slot): State<Slot>, headers: HeaderMap, body: String) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |c| c.stops += 1) {
        return r;
    }
    let body = serde_json::from_str::<Value>(&body).unwrap_or_default();
    let (id, resource) = (text(&body, "id"), text(&body, "resourceId"));
    let mut dir = lock(&shared.dir);
    let before = dir.channels.len();
    dir.channels.retain(|c| !(c.id == id && c.resource_id == resource));
    if dir.channels.len() == before {
        return api_error(StatusCode::NOT_FOUND, "notFound", &format!("Channel '{id}' not found for project"));
    }
    StatusCode::NO_CONTENT.into_response()
}
