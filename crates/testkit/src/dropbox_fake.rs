//! A fake of Dropbox's team members API for one team, following Dropbox's reference
//! (<https://www.dropbox.com/developers/documentation/http/teams>):
//!
//! - `POST /2/team/members/list_v2` (`limit` 1..1000, else 400 with a plain-text body) and
//!   `list/continue_v2` (`cursor`; an unknown one is 409 `invalid_cursor`): `{"members":
//!   [{"profile"}], "cursor", "has_more"}`; removed members only with `include_removed`.
//! - `get_info_v2` (`members` by `team_member_id`, `email`, `external_id`): `member_info` or
//!   `id_not_found` per member.
//! - `add_v2`: `{"complete": [...]}`, `success` with the profile, or `user_already_on_team`.
//! - `set_profile_v2`, `suspend` (an invited or suspended member is 409
//!   `suspend_inactive_user`), `unsuspend` (a member not suspended is 409
//!   `unsuspend_non_suspended_member`); an unknown member is 409 `user_not_found`.
//! - `remove` (`keep_account` with `wipe_data` is 409 `cannot_keep_account_and_delete_data`):
//!   answered with an `async_job_id`, which `remove/job_status/get` reports `in_progress` once,
//!   then `complete`.
//! - A refused token is 401 `invalid_access_token`; throttling is 429 `too_many_requests` with
//!   `Retry-After` seconds (<https://developers.dropbox.com/dbx-performance-guide>).
//! - `POST /oauth2/token` (`grant_type=refresh_token`): four-hour access tokens; an expired one
//!   is 401 `expired_access_token`, a revoked refresh token 400 `invalid_grant`. The contract
//!   and its sources are in `vendor_tokens`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::cloud_fake::{FakeServer, Throttle};
use crate::vendor_tokens::{Issuer, TokenCheck, Vendor};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub given_name: String,
    pub surname: String,
    pub external_id: String,
    /// `active`, `invited`, `suspended`, `removed`.
    pub status: String,
}

#[derive(Default)]
struct Inner {
    members: Vec<Member>,
    next_id: u64,
    throttle: Throttle,
    requests: u64,
    jobs: BTreeMap<String, u32>,
    removals: Vec<Value>,
}

#[derive(Clone)]
struct Shared {
    token: String,
    issuer: Issuer,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct DropboxFake {
    server: FakeServer,
    shared: Shared,
}

impl DropboxFake {
    pub async fn start(token: &str) -> anyhow::Result<Self> {
        let shared = Shared {
            token: token.to_owned(),
            issuer: Issuer::new(Vendor::Dropbox),
            inner: Arc::new(Mutex::new(Inner::default())),
        };
        let app = Router::new()
            .route("/2/team/members/list_v2", post(list))
            .route("/2/team/members/list/continue_v2", post(list_continue))
            .route("/2/team/members/get_info_v2", post(get_info))
            .route("/2/team/members/add_v2", post(add))
            .route("/2/team/members/set_profile_v2", post(set_profile))
            .route("/2/team/members/suspend", post(suspend))
            .route("/2/team/members/unsuspend", post(unsuspend))
            .route("/2/team/members/remove", post(remove))
            .route("/2/team/members/remove/job_status/get", post(job_status))
            .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
            // The authorization server, outside the API's token check.
            .route("/oauth2/token", post(token_endpoint))
            .route("/oauth2/authorize", axum::routing::get(authorize_endpoint))
            .with_state(shared.clone());
        Ok(Self { server: FakeServer::start(app).await?, shared })
    }

    /// The API root the connector is given (`https://api.dropboxapi.com/2` in production).
    pub fn base_url(&self) -> String {
        format!("{}/2", self.server.url())
    }

    /// A member added by hand, in `status`.
    pub fn add_member(&self, email: &str, status: &str) -> String {
        insert(&mut self.shared.lock(), email, "", "", "", status)
    }

    /// The invited person accepts and joins the team.
    pub fn join(&self, email: &str) {
        if let Some(m) = self.shared.lock().members.iter_mut().find(|m| m.email.eq_ignore_ascii_case(email)) {
            m.status = "active".into();
        }
    }

    pub fn member(&self, email: &str) -> Option<Member> {
        self.shared.lock().members.iter().find(|m| m.email.eq_ignore_ascii_case(email)).cloned()
    }

    /// The arguments of every `remove` call, in order.
    pub fn removals(&self) -> Vec<Value> {
        self.shared.lock().removals.clone()
    }

    pub fn throttle(&self, count: u32, retry_after: Duration) {
        self.shared.lock().throttle = Throttle { remaining: count, status: 429, retry_after: Some(retry_after) };
    }

    /// The fake's authorization server: consent, expiry, revocation, counts.
    pub fn issuer(&self) -> &Issuer {
        &self.shared.issuer
    }

    /// The token endpoint (`https://api.dropboxapi.com/oauth2/token` in production).
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.server.url())
    }

    /// The authorization endpoint (`https://www.dropbox.com/oauth2/authorize`,
    /// `https://account.box.com/api/oauth2/authorize` in production).
    pub fn authorize_url(&self) -> String {
        format!("{}/oauth2/authorize", self.server.url())
    }

    pub fn request_count(&self) -> u64 {
        self.shared.lock().requests
    }
}

fn insert(inner: &mut Inner, email: &str, given: &str, surname: &str, external: &str, status: &str) -> String {
    inner.next_id += 1;
    let id = format!("dbmid:{:04}", inner.next_id);
    inner.members.push(Member {
        id: id.clone(),
        email: email.to_owned(),
        given_name: given.to_owned(),
        surname: surname.to_owned(),
        external_id: external.to_owned(),
        status: status.to_owned(),
    });
    id
}

fn profile(m: &Member) -> Value {
    let mut p = json!({
        "team_member_id": m.id,
        "email": m.email,
        "email_verified": true,
        "status": {".tag": m.status},
        "name": {"given_name": m.given_name, "surname": m.surname, "display_name": format!("{} {}", m.given_name, m.surname).trim()},
        "membership_type": {".tag": "full"},
    });
    if !m.external_id.is_empty() {
        p["external_id"] = json!(m.external_id);
    }
    p
}

/// An endpoint-specific error: 409 with `error_summary` and the tagged `error`.
fn route_error(tag: &str) -> Response {
    let body = json!({"error_summary": format!("{tag}/.."), "error": {".tag": tag}});
    (StatusCode::CONFLICT, axum::Json(body)).into_response()
}

async fn gate(State(shared): State<Shared>, headers: HeaderMap, request: Request, next: Next) -> Response {
    let throttled = {
        let mut inner = shared.lock();
        inner.requests += 1;
        inner.throttle.take()
    };
    if let Some(retry_after) = throttled {
        let secs = retry_after.map_or(1, |w| w.as_secs());
        let body = json!({"error_summary": "too_many_requests/..", "error": {"reason": {".tag": "too_many_requests"}, "retry_after": secs}});
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        response.headers_mut().insert("retry-after", HeaderValue::from(secs));
        return response;
    }
    // The static token the fake was started with, or one its token endpoint issued and that
    // has not expired.
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if presented != shared.token {
        let check = shared.issuer.check(presented);
        if check != TokenCheck::Valid {
            return shared.issuer.refusal(check);
        }
    }
    next.run(request).await
}

fn page(inner: &Inner, start: usize, limit: usize, removed: bool) -> Value {
    let listed: Vec<&Member> = inner.members.iter().filter(|m| removed || m.status != "removed").collect();
    let members: Vec<Value> =
        listed.iter().skip(start).take(limit).map(|m| json!({"profile": profile(m), "roles": []})).collect();
    let next = start + limit;
    json!({"members": members, "cursor": format!("cur-{next}-{limit}-{removed}"), "has_more": next < listed.len()})
}

async fn list(State(shared): State<Shared>, axum::Json(arg): axum::Json<Value>) -> Response {
    let limit = arg["limit"].as_u64().unwrap_or(1000);
    if !(1..=1000).contains(&limit) {
        return (StatusCode::BAD_REQUEST, "Error in call to API function \"team/members/list_v2\": limit out of range")
            .into_response();
    }
    let removed = arg["include_removed"].as_bool().unwrap_or(false);
    axum::Json(page(&shared.lock(), 0, limit as usize, removed)).into_response()
}

async fn list_continue(State(shared): State<Shared>, axum::Json(arg): axum::Json<Value>) -> Response {
    let parts: Vec<&str> = arg["cursor"].as_str().unwrap_or_default().split('-').collect();
    let (Some(start), Some(limit), Some(removed)) = (
        parts.get(1).and_then(|s| s.parse::<usize>().ok()),
        parts.get(2).and_then(|s| s.parse::<usize>().ok()),
        parts.get(3).and_then(|s| s.parse::<bool>().ok()),
    ) else {
        return route_error("invalid_cursor");
    };
    axum::Json(page(&shared.lock(), start, limit, removed)).into_response()
}

fn find<'a>(inner: &'a mut Inner, selector: &Value) -> Option<&'a mut Member> {
    let matches = |m: &Member| match selector[".tag"].as_str() {
        Some("team_member_id") => selector["team_member_id"] == m.id.as_str(),
        Some("email") => selector["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(&m.email)),
        Some("external_id") => !m.external_id.is_empty() && selector["external_id"] == m.external_id.as_str(),
        _ => false,
    };
    inner.members.iter_mut().find(|m| m.status != "removed" && matches(m))
}

async fn get_info(State(shared): State<Shared>, axum::Json(arg): axum::Json<Value>) -> Response {
    let mut inner = shared.lock();
    let selectors = arg["members"].as_array().cloned().unwrap_or_default();
    let info: Vec<Value> = selectors
        .iter()
        .map(|s| match find(&mut inner, s) {
            Some(m) => json!({".tag": "member_info", "profile": profile(m), "roles": []}),
            None => json!({".tag": "id_not_found", "id_not_found": s.get(s[".tag"].as_str().unwrap_or("")).cloned().unwrap_or_default()}),
        })
        .collect();
    axum::Json(json!({"members_info": info})).into_response()
}

async fn add(State(shared): State<Shared>, axum::Json(arg): axum::Json<Value>) -> Response {
    let mut inner = shared.lock();
    let mut results = Vec::new();
    for new in arg["new_members"].as_array().cloned().unwrap_or_default() {
        let email = new["member_email"].as_str().unwrap_or_default();
        if inner.members.iter().any(|m| m.status != "removed" && m.email.eq_ignore_ascii_case(email)) {
            results.push(json!({".tag": "user_already_on_team", "user_already_on_team": email}));
            continue;
        }
        let id = insert(
            &mut inner,
            email,
            new["member_given_name"].as_str().unwrap_or_default(),
            new["member_surname"].as_str().unwrap_or_default(),
            new["member_external_id"].as_str().unwrap_or_default(),
            "invited",
        );
        let member = inner.members.iter().find(|m| m.id == id).map(profile).unwrap_or_default();
        results.push(json!({".tag": "success", "profile": member, "roles": []}));
    }
    axum::Json(json!({".tag": "complete", "complete": results})).into_response()
}

async fn set_profile(State(shared): State<Shared>, axum::Json(arg): axum::Json<Value>) -> Response {
    let mut inner = shared.lock();
    let Some(m) = find(&mut inner, &arg["user"]) else { return route_error("user_not_found") };
    for (field, slot) in [
        ("new_email", &mut m.email),
        ("new_given_name", &mut m.given_name),
        ("new_surname", &mut m.surname),
        ("new_external_id", &mut m.external_id),
    ] {
        if let Some(v) = arg[field].as_str() {
            *slot = v.to_owned();
        }
    }
    axum::Json(profile(m)).into_response()
}

async fn suspend(State(shared): State<Shared>, axum::Json(arg): axum::Json<Value>) -> Response {
    let mut inner = shared.lock();
    let Some(m) = find(&mut inner, &arg["user"]) else { return route_error("user_not_found") };
    if m.status != "active" {
        return route_error("suspend_inactive_user");
    }
    m.status = "suspended".into();
    axum::Json(Value::Null).into_response()
}

async fn unsuspend(State(shared): State<Shared>, axum::Json(arg): axum::Json<Value>) -> Response {
    let mut inner = shared.lock();
    let Some(m) = find(&mut inner, &arg["user"]) else { return route_error("user_not_found") };
    if m.status != "suspended" {
        return route_error("unsuspend_non_suspended_member");
    }
    m.status = "active".into();
    axum::Json(Value::Null).into_response()
}

async fn remove(State(shared): State<Shared>, axum::Json(arg): axum::Json<Value>) -> Response {
    let mut inner = shared.lock();
    let wipe = arg["wipe_data"].as_bool().unwrap_or(true);
    if wipe && arg["keep_account"] == true {
        return route_error("cannot_keep_account_and_delete_data");
    }
    let Some(m) = find(&mut inner, &arg["user"]) else { return route_error("user_not_found") };
    m.status = "removed".into();
    inner.removals.push(arg);
    let job = format!("job-{}", inner.removals.len());
    inner.jobs.insert(job.clone(), 0);
    axum::Json(json!({".tag": "async_job_id", "async_job_id": job})).into_response()
}

async fn job_status(State(shared): State<Shared>, axum::Json(arg): axum::Json<Value>) -> Response {
    let mut inner = shared.lock();
    let Some(polls) = inner.jobs.get_mut(arg["async_job_id"].as_str().unwrap_or_default()) else {
        return route_error("invalid_async_job_id");
    };
    *polls += 1;
    let tag = if *polls > 1 { "complete" } else { "in_progress" };
    axum::Json(json!({".tag": tag})).into_response()
}

async fn token_endpoint(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    shared.issuer.token_endpoint(&headers, &body)
}

async fn authorize_endpoint(
    State(shared): State<Shared>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    shared.issuer.authorize(&query)
}
