//! A fake GitHub REST API for one organization (without Enterprise Managed Users): members,
//! memberships, invitations and teams, holding state tests change (a person accepts an
//! invitation, an invitation ages) between plans.
//!
//! Contracts followed:
//! - Members and invitations: `GET /orgs/{org}/members`, `GET|DELETE /orgs/{org}/memberships/{u}`
//!   (`state` `active` or `pending`), `DELETE /orgs/{org}/members/{u}` (204), `GET|POST
//!   /orgs/{org}/invitations` (`email`, `role` `direct_member`; 201 with the invitation: `id`,
//!   `login`, `email`, `role`, `created_at`, `inviter`), `DELETE /orgs/{org}/invitations/{id}`
//!   (204), `GET /orgs/{org}/failed_invitations`; inviting an email with a pending invitation or
//!   a member's email is 422 "Validation Failed"
//!   (<https://docs.github.com/en/rest/orgs/members>).
//! - Teams: `GET|POST /orgs/{org}/teams`, `GET /orgs/{org}/teams/{slug}/members`,
//!   `PUT|DELETE /orgs/{org}/teams/{slug}/memberships/{u}`
//!   (<https://docs.github.com/en/rest/teams/teams>, <https://docs.github.com/en/rest/teams/members>).
//! - Users: `GET /users/{u}` with the public `email` (null when the user hides it)
//!   (<https://docs.github.com/en/rest/users/users#get-a-user>).
//! - Pagination: `per_page` (default 30, at most 100) and `page`, `Link` with `rel="next"`,
//!   `rel="last"` (<https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api>).
//! - Errors: `{"message", "documentation_url", "status"}`, 422 with `errors`; 401 "Bad
//!   credentials" (<https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api>).
//! - Rate limits: every answer carries `x-ratelimit-limit`, `-remaining`, `-used`, `-reset`
//!   (epoch seconds) and `-resource`; an exhausted primary limit is 403 with remaining 0; the
//!   secondary limit is 403 with `retry-after`
//!   (<https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api>).
//!
//! Invitations expire after 7 days in GitHub (they then move to the failed invitations); tests
//! age them with [`GitHubFake::age_invitation`].

#![allow(clippy::result_large_err)]
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use serde_json::{Value, json};

use crate::cloud_fake::FakeServer;

const DOCS: &str = "https://docs.github.com/rest";

#[derive(Debug, Clone)]
pub struct FakeUser {
    pub login: String,
    pub name: Option<String>,
    /// The public email `GET /users/{u}` shows; `None` when the user hides it.
    pub public_email: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FakeInvitation {
    pub id: u64,
    pub email: String,
    pub created_at: time::OffsetDateTime,
}

#[derive(Default)]
struct State_ {
    members: BTreeMap<String, FakeUser>,
    invitations: Vec<FakeInvitation>,
    failed: Vec<FakeInvitation>,
    teams: BTreeMap<String, (String, Vec<String>)>,
    next_id: u64,
    /// Requests left in the primary window before 403s.
    remaining: u32,
    limit: u32,
    /// Answer this many of the next writes with a secondary-limit 403 (`retry-after: 1`).
    secondary: u32,
    /// Every invitation ever sent, by email (to prove none is sent twice).
    sent: Vec<String>,
    requests: u64,
}

#[derive(Clone)]
struct Fake {
    org: String,
    token: String,
    state: Arc<Mutex<State_>>,
}

pub struct GitHubFake {
    fake: Fake,
    server: FakeServer,
}

fn lock(state: &Mutex<State_>) -> MutexGuard<'_, State_> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"message": message, "documentation_url": DOCS, "status": status.as_u16().to_string()})))
        .into_response()
}

fn validation(message: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({
            "message": "Validation Failed",
            "errors": [{"resource": "OrganizationInvitation", "code": "unprocessable", "field": "data", "message": message}],
            "documentation_url": DOCS,
            "status": "422",
        })),
    )
        .into_response()
}

impl GitHubFake {
    pub async fn start(org: &str, token: &str) -> anyhow::Result<Self> {
        let fake = Fake {
            org: org.to_owned(),
            token: token.to_owned(),
            state: Arc::new(Mutex::new(State_ { remaining: 5000, limit: 5000, next_id: 1000, ..State_::default() })),
        };
        let o = "/orgs/{org}";
        let app = Router::new()
            .route(&format!("{o}/members"), get(list_members))
            .route(&format!("{o}/members/{{login}}"), delete(remove_member))
            .route(&format!("{o}/memberships/{{login}}"), get(membership))
            .route(&format!("{o}/invitations"), get(list_invitations).post(invite))
            .route(&format!("{o}/invitations/{{id}}"), delete(cancel))
            .route(&format!("{o}/failed_invitations"), get(list_failed))
            .route(&format!("{o}/teams"), get(list_teams).post(create_team))
            .route(&format!("{o}/teams/{{slug}}/members"), get(team_members))
            .route(&format!("{o}/teams/{{slug}}/memberships/{{login}}"), put(add_to_team).delete(remove_from_team))
            .route("/users/{login}", get(user))
            .layer(axum::middleware::from_fn_with_state(fake.clone(), gate))
            .with_state(fake.clone());
        let server = FakeServer::start(app).await?;
        Ok(Self { fake, server })
    }

    /// The REST API's base URL (`https://api.github.com` in production).
    pub fn api_url(&self) -> String {
        self.server.url()
    }

    /// A member who joined without Tenure.
    pub fn add_member(&self, login: &str, public_email: Option<&str>) {
        lock(&self.fake.state).members.insert(
            login.to_owned(),
            FakeUser { login: login.to_owned(), name: None, public_email: public_email.map(str::to_owned) },
        );
    }

    /// The person invited at `email` accepts as `login` (showing `public_email`).
    pub fn accept(&self, email: &str, login: &str, public_email: Option<&str>) -> bool {
        let mut s = lock(&self.fake.state);
        let Some(i) = s.invitations.iter().position(|inv| inv.email.eq_ignore_ascii_case(email)) else { return false };
        s.invitations.remove(i);
        s.members.insert(
            login.to_owned(),
            FakeUser { login: login.to_owned(), name: None, public_email: public_email.map(str::to_owned) },
        );
        true
    }

    /// Moves an invitation's sending date `days` into the past; at 7 days GitHub expires it (it
    /// moves to the failed invitations).
    pub fn age_invitation(&self, email: &str, days: i64) {
        let mut s = lock(&self.fake.state);
        for inv in s.invitations.iter_mut().filter(|i| i.email.eq_ignore_ascii_case(email)) {
            inv.created_at -= time::Duration::days(days);
        }
        let now = time::OffsetDateTime::now_utc();
        let (expired, pending): (Vec<_>, Vec<_>) =
            std::mem::take(&mut s.invitations).into_iter().partition(|i| now - i.created_at >= time::Duration::days(7));
        s.invitations = pending;
        s.failed.extend(expired);
    }

    pub fn pending(&self) -> Vec<FakeInvitation> {
        lock(&self.fake.state).invitations.clone()
    }

    pub fn members(&self) -> Vec<String> {
        lock(&self.fake.state).members.keys().cloned().collect()
    }

    /// Every invitation ever sent, by email.
    pub fn sent(&self) -> Vec<String> {
        lock(&self.fake.state).sent.clone()
    }

    pub fn team_members(&self, slug: &str) -> Vec<String> {
        lock(&self.fake.state).teams.get(slug).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    /// Only `n` more requests in the primary window; the window resets `reset_in_s` from now.
    pub fn exhaust_primary_after(&self, n: u32) {
        lock(&self.fake.state).remaining = n;
    }

    /// Answers the next `n` writes with a secondary rate limit (403, `retry-after: 1`).
    pub fn secondary_limit_next_writes(&self, n: u32) {
        lock(&self.fake.state).secondary = n;
    }

    pub fn request_count(&self) -> u64 {
        lock(&self.fake.state).requests
    }
}

/// Authentication and both rate limits, with the `x-ratelimit-*` headers on every answer.
async fn gate(State(fake): State<Fake>, request: Request, next: Next) -> Response {
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("token ")))
        .is_some_and(|t| t == fake.token);
    if !authorized {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    if !request.uri().path().starts_with(&format!("/orgs/{}/", fake.org))
        && !request.uri().path().starts_with("/users/")
    {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    let write = request.method() != axum::http::Method::GET;
    let reset = time::OffsetDateTime::now_utc().unix_timestamp() + 2;
    let (remaining, limit, secondary) = {
        let mut s = lock(&fake.state);
        s.requests += 1;
        let secondary = write && s.secondary > 0;
        if secondary {
            s.secondary -= 1;
        }
        let remaining = s.remaining;
        if remaining > 0 {
            s.remaining -= 1;
        } else {
            // The window resets: the next request goes through.
            s.remaining = s.limit;
        }
        (remaining, s.limit, secondary)
    };
    let mut response = if remaining == 0 {
        error(StatusCode::FORBIDDEN, "API rate limit exceeded for installation.")
    } else if secondary {
        let mut r = error(
            StatusCode::FORBIDDEN,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        );
        r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
        r
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    let used = limit.saturating_sub(remaining.saturating_sub(1));
    for (name, value) in [
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", remaining.saturating_sub(1).to_string()),
        ("x-ratelimit-used", used.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-resource", "core".to_owned()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    response
}

/// One page of `items` as GitHub pages it, with the `Link` header.
fn page(path: &str, items: Vec<Value>, params: &BTreeMap<String, String>) -> Response {
    let per_page = params.get("per_page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(30).clamp(1, 100);
    let page = params.get("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let body: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let mut response = axum::Json(Value::Array(body)).into_response();
    let link = |p: usize, rel: &str| format!("<{path}?per_page={per_page}&page={p}>; rel=\"{rel}\"");
    let mut links = Vec::new();
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
        links.push(link(page - 1, "prev"));
    }
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(", "))
    {
        response.headers_mut().insert("link", v);
    }
    response
}

/// The absolute URL of the request's path, for `Link` targets.
fn absolute(headers: &HeaderMap, path: &str) -> String {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}{path}")
}

fn user_json(u: &FakeUser) -> Value {
    json!({"login": u.login, "id": u.login.len(), "type": "User", "site_admin": false})
}

fn invitation_json(i: &FakeInvitation) -> Value {
    json!({
        "id": i.id,
        "login": null,
        "email": i.email,
        "role": "direct_member",
        "created_at": i.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "inviter": {"login": "tenure-bot"},
        "team_count": 0,
        "invitation_source": "member",
    })
}

type Params = Query<BTreeMap<String, String>>;

async fn list_members(State(f): State<Fake>, h: HeaderMap, Query(p): Params) -> Response {
    let items = lock(&f.state).members.values().map(user_json).collect();
    page(&absolute(&h, &format!("/orgs/{}/members", f.org)), items, &p)
}

async fn remove_member(State(f): State<Fake>, Path((_, login)): Path<(String, String)>) -> Response {
    let mut s = lock(&f.state);
    if s.members.remove(&login).is_none() {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    for (_, members) in s.teams.values_mut() {
        members.retain(|m| m != &login);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn membership(State(f): State<Fake>, Path((_, login)): Path<(String, String)>) -> Response {
    let s = lock(&f.state);
    match s.members.get(&login) {
        Some(u) => axum::Json(json!({"state": "active", "role": "member", "user": user_json(u)})).into_response(),
        None => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn list_invitations(State(f): State<Fake>, h: HeaderMap, Query(p): Params) -> Response {
    let items = lock(&f.state).invitations.iter().map(invitation_json).collect();
    page(&absolute(&h, &format!("/orgs/{}/invitations", f.org)), items, &p)
}

async fn list_failed(State(f): State<Fake>, h: HeaderMap, Query(p): Params) -> Response {
    let items = lock(&f.state).failed.iter().map(invitation_json).collect();
    page(&absolute(&h, &format!("/orgs/{}/failed_invitations", f.org)), items, &p)
}

async fn invite(State(f): State<Fake>, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let Some(email) = body.get("email").and_then(Value::as_str).filter(|e| e.contains('@')) else {
        return validation("An email or invitee_id is required");
    };
    if !matches!(
        body.get("role").and_then(Value::as_str).unwrap_or("direct_member"),
        "admin" | "direct_member" | "billing_manager" | "reinstate"
    ) {
        return validation("role is not included in the list");
    }
    let mut s = lock(&f.state);
    if s.invitations.iter().any(|i| i.email.eq_ignore_ascii_case(email)) {
        return validation("Invitee has already been invited");
    }
    if s.members.values().any(|m| m.public_email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email))) {
        return validation("Invitee is already a part of this organization");
    }
    s.next_id += 1;
    let invitation =
        FakeInvitation { id: s.next_id, email: email.to_owned(), created_at: time::OffsetDateTime::now_utc() };
    s.sent.push(email.to_owned());
    s.invitations.push(invitation.clone());
    (StatusCode::CREATED, axum::Json(invitation_json(&invitation))).into_response()
}

async fn cancel(State(f): State<Fake>, Path((_, id)): Path<(String, String)>) -> Response {
    let mut s = lock(&f.state);
    let before = s.invitations.len();
    s.invitations.retain(|i| i.id.to_string() != id);
    if s.invitations.len() == before {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn list_teams(State(f): State<Fake>, h: HeaderMap, Query(p): Params) -> Response {
    let items = lock(&f.state)
        .teams
        .iter()
        .map(|(slug, (name, _))| json!({"slug": slug, "name": name, "id": slug.len()}))
        .collect();
    page(&absolute(&h, &format!("/orgs/{}/teams", f.org)), items, &p)
}

async fn create_team(State(f): State<Fake>, body: axum::body::Bytes) -> Response {
    let Some(name) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b.get("name").and_then(Value::as_str).map(str::to_owned))
    else {
        return validation("name is missing");
    };
    let slug: String = name.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let mut s = lock(&f.state);
    if s.teams.contains_key(&slug) {
        return validation("Name must be unique for this org");
    }
    s.teams.insert(slug.clone(), (name.clone(), Vec::new()));
    (StatusCode::CREATED, axum::Json(json!({"slug": slug, "name": name, "id": slug.len()}))).into_response()
}

async fn team_members(
    State(f): State<Fake>,
    h: HeaderMap,
    Path((_, slug)): Path<(String, String)>,
    Query(p): Params,
) -> Response {
    let s = lock(&f.state);
    let Some((_, members)) = s.teams.get(&slug) else { return error(StatusCode::NOT_FOUND, "Not Found") };
    let items = members.iter().filter_map(|m| s.members.get(m)).map(user_json).collect();
    drop(s);
    page(&absolute(&h, &format!("/orgs/{}/teams/{slug}/members", f.org)), items, &p)
}

async fn add_to_team(State(f): State<Fake>, Path((_, slug, login)): Path<(String, String, String)>) -> Response {
    let mut s = lock(&f.state);
    if !s.members.contains_key(&login) {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    let Some((_, members)) = s.teams.get_mut(&slug) else { return error(StatusCode::NOT_FOUND, "Not Found") };
    if !members.contains(&login) {
        members.push(login);
    }
    axum::Json(json!({"state": "active", "role": "member"})).into_response()
}

async fn remove_from_team(State(f): State<Fake>, Path((_, slug, login)): Path<(String, String, String)>) -> Response {
    let mut s = lock(&f.state);
    let Some((_, members)) = s.teams.get_mut(&slug) else { return error(StatusCode::NOT_FOUND, "Not Found") };
    let before = members.len();
    members.retain(|m| m != &login);
    if members.len() == before {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn user(State(f): State<Fake>, Path(login): Path<String>) -> Response {
    let s = lock(&f.state);
    match s.members.get(&login) {
        Some(u) => axum::Json(json!({"login": u.login, "name": u.name, "email": u.public_email, "type": "User"}))
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}
