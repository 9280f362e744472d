//! A fake of Box's users API for one enterprise's managed users, following Box's reference:
//!
//! - `GET /2.0/users`: `limit` (default 100, at most 1000), `usemarker=true` with `marker` and
//!   an answer `{"entries", "limit", "next_marker"}` (no `next_marker` on the last page), or
//!   offset paging `{"entries", "total_count", "offset", "limit"}` refusing an offset above
//!   10,000 with 400; `filter_term` keeps users whose `name` or `login` starts with it
//!   (<https://developer.box.com/reference/get-users/>,
//!   <https://developer.box.com/guides/api-calls/pagination/marker-based/>).
//! - `GET|PUT|DELETE /2.0/users/{id}`, `POST /2.0/users` (`login` and `name` required; a taken
//!   login is 409 `user_login_already_used`; `status` one of `active`, `inactive`,
//!   `cannot_delete_edit`, `cannot_delete_edit_upload`)
//!   (<https://developer.box.com/reference/post-users/>, <https://developer.box.com/reference/put-users-id/>,
//!   <https://developer.box.com/reference/delete-users-id/>).
//! - Errors: `{"type": "error", "status", "code", "message", "request_id"}`; a refused token is
//!   401 with `WWW-Authenticate` and no body; throttling is 429 with `retry-after` seconds
//!   (<https://developer.box.com/guides/api-calls/permissions-and-errors/common-errors/>,
//!   <https://developer.box.com/guides/api-calls/permissions-and-errors/rate-limits/>).
//! - `POST /oauth2/token`: the client credentials grant (`box_subject_type=enterprise`) and
//!   rotating refresh tokens, with 60-minute access tokens; an expired one is refused as above
//!   (`invalid_token`). The contract and its sources are in `vendor_tokens`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::cloud_fake::{FakeServer, Throttle};
use crate::vendor_tokens::{Issuer, TokenCheck, Vendor};

const STATUSES: [&str; 4] = ["active", "inactive", "cannot_delete_edit", "cannot_delete_edit_upload"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoxUser {
    pub id: String,
    pub login: String,
    pub name: String,
    pub status: String,
    pub job_title: String,
}

#[derive(Default)]
struct Inner {
    users: Vec<BoxUser>,
    next_id: u64,
    throttle: Throttle,
    requests: u64,
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

pub struct BoxFake {
    server: FakeServer,
    shared: Shared,
}

impl BoxFake {
    pub async fn start(token: &str) -> anyhow::Result<Self> {
        let shared = Shared {
            token: token.to_owned(),
            issuer: Issuer::new(Vendor::Box),
            inner: Arc::new(Mutex::new(Inner::default())),
        };
        let app = Router::new()
            .route("/2.0/users", get(list).post(create))
            .route("/2.0/users/{id}", get(show).put(update).delete(remove))
            .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
            // The authorization server, outside the API's token check.
            .route("/oauth2/token", post(token_endpoint))
            .route("/oauth2/authorize", axum::routing::get(authorize_endpoint))
            .with_state(shared.clone());
        Ok(Self { server: FakeServer::start(app).await?, shared })
    }

    /// The API root the connector is given (`https://api.box.com/2.0` in production).
    pub fn base_url(&self) -> String {
        format!("{}/2.0", self.server.url())
    }

    /// A user made in Box by hand.
    pub fn add_user(&self, login: &str, name: &str) -> String {
        let mut inner = self.shared.lock();
        insert(&mut inner, login, name, "active", "")
    }

    pub fn users(&self) -> Vec<BoxUser> {
        self.shared.lock().users.clone()
    }

    pub fn user(&self, login: &str) -> Option<BoxUser> {
        self.shared.lock().users.iter().find(|u| u.login.eq_ignore_ascii_case(login)).cloned()
    }

    /// Answers the next `count` requests with 429 and `retry-after`.
    pub fn throttle(&self, count: u32, retry_after: Duration) {
        self.shared.lock().throttle = Throttle { remaining: count, status: 429, retry_after: Some(retry_after) };
    }

    /// The fake's authorization server: consent, expiry, revocation, counts.
    pub fn issuer(&self) -> &Issuer {
        &self.shared.issuer
    }

    /// The token endpoint (`https://api.box.com/oauth2/token` in production).
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

fn insert(inner: &mut Inner, login: &str, name: &str, status: &str, title: &str) -> String {
    inner.next_id += 1;
    let id = format!("{}", 10_000 + inner.next_id);
    inner.users.push(BoxUser {
        id: id.clone(),
        login: login.to_owned(),
        name: name.to_owned(),
        status: status.to_owned(),
        job_title: title.to_owned(),
    });
    id
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        json!({"type": "error", "status": status.as_u16(), "code": code, "message": message, "request_id": "fake"});
    (status, axum::Json(body)).into_response()
}

fn user_json(u: &BoxUser) -> Value {
    json!({"type": "user", "id": u.id, "name": u.name, "login": u.login, "status": u.status, "job_title": u.job_title})
}

async fn gate(State(shared): State<Shared>, headers: HeaderMap, request: Request, next: Next) -> Response {
    let throttled = {
        let mut inner = shared.lock();
        inner.requests += 1;
        inner.throttle.take()
    };
    if let Some(retry_after) = throttled {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            "Request rate limit exceeded, please try again later",
        );
        if let Some(wait) = retry_after {
            response.headers_mut().insert("retry-after", HeaderValue::from(wait.as_secs()));
        }
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

async fn list(State(shared): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let limit = param("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(100).clamp(1, 1000);
    let term = param("filter_term").map(str::to_lowercase);
    let inner = shared.lock();
    let matching: Vec<&BoxUser> = inner
        .users
        .iter()
        .filter(|u| {
            term.as_deref()
                .is_none_or(|t| u.login.to_lowercase().starts_with(t) || u.name.to_lowercase().starts_with(t))
        })
        .collect();
    if param("usemarker") == Some("true") {
        let start = match param("marker") {
            None => 0,
            Some(m) => match m.strip_prefix("mk-").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => n,
                None => return error(StatusCode::BAD_REQUEST, "bad_request", "Invalid marker"),
            },
        };
        let page: Vec<Value> = matching.iter().skip(start).take(limit).map(|u| user_json(u)).collect();
        let mut body = json!({"entries": page, "limit": limit});
        if start + limit < matching.len() {
            body["next_marker"] = json!(format!("mk-{}", start + limit));
        }
        return axum::Json(body).into_response();
    }
    let offset = param("offset").and_then(|o| o.parse::<usize>().ok()).unwrap_or(0);
    if offset > 10_000 {
        return error(StatusCode::BAD_REQUEST, "bad_request", "offset above 10000: use marker-based paging");
    }
    let page: Vec<Value> = matching.iter().skip(offset).take(limit).map(|u| user_json(u)).collect();
    axum::Json(json!({"entries": page, "total_count": matching.len(), "offset": offset, "limit": limit}))
        .into_response()
}

async fn show(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    match shared.lock().users.iter().find(|u| u.id == id) {
        Some(u) => axum::Json(user_json(u)).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", "Not Found"),
    }
}

async fn create(State(shared): State<Shared>, axum::Json(body): axum::Json<Value>) -> Response {
    let (Some(login), Some(name)) = (body["login"].as_str(), body["name"].as_str()) else {
        return error(StatusCode::BAD_REQUEST, "bad_request", "login and name are required");
    };
    let status = body["status"].as_str().unwrap_or("active");
    if !STATUSES.contains(&status) {
        return error(StatusCode::BAD_REQUEST, "bad_request", "Invalid value for status");
    }
    let mut inner = shared.lock();
    if inner.users.iter().any(|u| u.login.eq_ignore_ascii_case(login)) {
        return error(StatusCode::CONFLICT, "user_login_already_used", "User with the specified login already exists");
    }
    let id = insert(&mut inner, login, name, status, body["job_title"].as_str().unwrap_or_default());
    let user = inner.users.iter().find(|u| u.id == id).map(user_json).unwrap_or_default();
    (StatusCode::CREATED, axum::Json(user)).into_response()
}

async fn update(State(shared): State<Shared>, Path(id): Path<String>, axum::Json(body): axum::Json<Value>) -> Response {
    let mut inner = shared.lock();
    if let Some(login) = body["login"].as_str()
        && inner.users.iter().any(|u| u.id != id && u.login.eq_ignore_ascii_case(login))
    {
        return error(StatusCode::CONFLICT, "user_login_already_used", "User with the specified login already exists");
    }
    if let Some(status) = body["status"].as_str()
        && !STATUSES.contains(&status)
    {
        return error(StatusCode::BAD_REQUEST, "bad_request", "Invalid value for status");
    }
    let Some(user) = inner.users.iter_mut().find(|u| u.id == id) else {
        return error(StatusCode::NOT_FOUND, "not_found", "Not Found");
    };
    for (field, slot) in [
        ("login", &mut user.login),
        ("name", &mut user.name),
        ("status", &mut user.status),
        ("job_title", &mut user.job_title),
    ] {
        if let Some(v) = body[field].as_str() {
            *slot = v.to_owned();
        }
    }
    axum::Json(user_json(user)).into_response()
}

async fn remove(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let mut inner = shared.lock();
    let before = inner.users.len();
    inner.users.retain(|u| u.id != id);
    if inner.users.len() == before {
        return error(StatusCode::NOT_FOUND, "not_found", "Not Found");
    }
    StatusCode::NO_CONTENT.into_response()
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
