//! The SCIM endpoints (RFC 7644 §3) and the gate every request passes: bearer auth, then the
//! rate limiter.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::Value;
use tenure_scim::{ListResponse, PatchOp, SCIM_MEDIA_TYPE, ScimError, ScimType, parse_filter};

use crate::ratelimit::retry_after_secs;
use crate::{Shared, lock, schema};

type AppState = State<Arc<Shared>>;

/// Where the OAuth token endpoint lives (Zoom's is `https://zoom.us/oauth/token`); it
/// authenticates the client itself, so the bearer gate lets it through.
const TOKEN_PATH: &str = "/oauth/token";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let p = shared.profile.scim_path();
    let mut router = Router::new()
        .route(&format!("{p}/Users"), get(list_users).post(create_user))
        .route(&format!("{p}/Users/{{id}}"), get(get_user).put(replace_user).patch(patch_user).delete(delete_user))
        .route(&format!("{p}/ServiceProviderConfig"), get(service_provider_config))
        .route(&format!("{p}/ResourceTypes"), get(resource_types))
        .route(&format!("{p}/ResourceTypes/{{name}}"), get(resource_type))
        .route(&format!("{p}/Schemas"), get(schemas))
        .route(&format!("{p}/Schemas/{{urn}}"), get(schema_by_urn));
    if shared.profile.supports_groups() {
        router = router.route(&format!("{p}/Groups"), get(list_groups).post(create_group)).route(
            &format!("{p}/Groups/{{id}}"),
            get(get_group).put(replace_group).patch(patch_group).delete(delete_group),
        );
    }
    if shared.profile.uses_oauth() {
        router = router.route(TOKEN_PATH, post(crate::oauth::token));
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// A SCIM error as a response: the RFC 7644 §3.12 body, with the SCIM media type.
pub(crate) struct ApiError(ScimError);

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        scim_json(status, &self.0)
    }
}

type ApiResult = Result<Response, ApiError>;

fn scim_json(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_MEDIA_TYPE))], bytes).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn gate(State(shared): AppState, request: Request, next: Next) -> Response {
    if shared.profile.uses_oauth() && request.uri().path() == TOKEN_PATH {
        return next.run(request).await;
    }
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let validator = lock(&shared.token_validator).clone();
    let verdict = if shared.profile.uses_oauth() {
        // Zoom's SCIM2 API takes only OAuth access tokens, never the client secret itself.
        let issued: &(dyn Fn(&str) -> bool + Send + Sync) = &|t: &str| lock(&shared.issued).is_valid(t, Instant::now());
        check_bearer(request.headers(), None, Some(issued)).or_else(|e| match validator.as_deref() {
            Some(v) => check_bearer(request.headers(), None, Some(v)),
            None => Err(e),
        })
    } else {
        check_bearer(request.headers(), Some(&shared.token), validator.as_deref())
    };
    if let Err(challenge) = verdict {
        let mut response = ApiError(ScimError::new(401, None, "a valid bearer token is required")).into_response();
        let realm = format!("Bearer realm=\"{}\"{challenge}", shared.profile.name());
        if let Ok(value) = HeaderValue::from_str(&realm) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        return response;
    }
    if let Some(limiter) = &shared.limiter {
        let verdict = lock(limiter).try_take(Instant::now());
        if let Err(wait) = verdict {
            shared.throttled.fetch_add(1, Ordering::Relaxed);
            let secs = retry_after_secs(wait);
            tracing::debug!(app = shared.profile.name(), retry_after = secs, "sandbox throttled a request");
            let detail = format!("rate limited: too many requests, retry after {secs} second(s)");
            let mut response = ApiError(ScimError::new(429, None, detail)).into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return response;
        }
    }
    if let Some(refusal) = account_refusal(&shared) {
        return refusal;
    }
    {
        // Bounded: a bench's hundreds of thousands of requests keep only the first.
        let mut arrivals = lock(&shared.arrivals);
        if arrivals.len() < crate::MAX_ARRIVALS {
            arrivals.push((request.method().to_string(), shared.started.elapsed()));
        }
    }
    if request.method() != axum::http::Method::GET {
        let second = shared.started.elapsed().as_secs() as usize;
        let mut writes = lock(&shared.writes);
        if writes.len() <= second {
            writes.resize(second + 1, 0);
        }
        writes[second] += 1;
    }
    match &shared.fault_plan {
        Some(plan) => crate::faults::inject(&shared, plan, request, next).await,
        None => next.run(request).await,
    }
}

/// What the vendor answers every SCIM call when the account cannot use SCIM at all.
fn account_refusal(shared: &Shared) -> Option<Response> {
    use crate::profile::Profile;
    match shared.profile {
        // Slack's SCIM API is "only available to Slack workspaces on Business+ or Enterprise
        // plans" (https://docs.slack.dev/admins/scim-api); on other plans it answers the error
        // `plus_teams_only` in Slack's own error shape, `{"Errors": {"description", "code"}}`
        // (https://api.slack.com/scim#errors), not RFC 7644's.
        Profile::Slack if !shared.vendor.slack_plan_has_scim => {
            let body = serde_json::json!({"Errors": {"description": "plus_teams_only", "code": 403}});
            Some((StatusCode::FORBIDDEN, axum::Json(body)).into_response())
        }
        // Zoom's SCIM2 API lists "Single Sign-On enabled" among its prerequisites
        // (https://developers.zoom.us/docs/api/scim2/) and answers 400 "Account has not enabled
        // Single Sign-On." when it is not.
        Profile::Zoom if !shared.vendor.zoom_sso_enabled => Some(
            ApiError(ScimError::bad_request(ScimType::InvalidValue, "Account has not enabled Single Sign-On."))
                .into_response(),
        ),
        _ => None,
    }
}

/// Ok when the request carries the app's token (or one `validator` accepts); otherwise the
/// extra `WWW-Authenticate` parameters RFC 6750 §3 asks for.
fn check_bearer(
    headers: &HeaderMap,
    token: Option<&str>,
    validator: Option<&(dyn Fn(&str) -> bool + Send + Sync)>,
) -> Result<(), &'static str> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err("");
    };
    let presented = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match presented {
        Some(t) if token.is_some_and(|token| constant_time_eq(t.as_bytes(), token.as_bytes())) => Ok(()),
        Some(t) if validator.is_some_and(|accept| accept(t)) => Ok(()),
        _ => Err(", error=\"invalid_token\""),
    }
}

/// Even a sandbox token should not be guessable byte by byte from response timings.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn rejection(status: StatusCode, text: String) -> ApiError {
    ApiError(ScimError::new(status.as_u16(), None, text))
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id).map_err(|r| rejection(r.status(), r.body_text()))
}

/// The body as JSON. Both `application/scim+json` (RFC 7644 §3.1) and plain
/// `application/json` are accepted because IdPs send either; a missing type is tolerated.
fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let media = content_type.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if media != "application/json" && media != SCIM_MEDIA_TYPE {
            return Err(ApiError(ScimError::new(
                415,
                None,
                format!("unsupported content type {media:?}; use {SCIM_MEDIA_TYPE} or application/json"),
            )));
        }
    }
    let bytes = body.map_err(|r| rejection(r.status(), r.body_text()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::bad_request(ScimType::InvalidSyntax, "the request body is empty").into());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::bad_request(ScimType::InvalidSyntax, format!("malformed JSON: {e}")).into())
}

struct ListParams {
    filter: Option<tenure_scim::Filter>,
    start_index: usize,
    count: usize,
}

fn list_params(pairs: &[(String, String)], max_page: usize) -> Result<ListParams, ScimError> {
    let param = |name: &str| pairs.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim());
    let number = |name: &str| -> Result<Option<i64>, ScimError> {
        param(name)
            .map(|raw| {
                raw.parse::<i64>().map_err(|_| {
                    ScimError::bad_request(ScimType::InvalidValue, format!("{name} must be an integer, got {raw:?}"))
                })
            })
            .transpose()
    };
    let filter = match param("filter") {
        None | Some("") => None,
        Some(text) => {
            Some(parse_filter(text).map_err(|e| ScimError::bad_request(ScimType::InvalidFilter, e.to_string()))?)
        }
    };
    // RFC 7644 §3.4.2.4: a startIndex below 1 means 1 and a negative count means 0.
    let start_index = usize::try_from(number("startIndex")?.unwrap_or(1).max(1)).unwrap_or(usize::MAX);
    let count =
        number("count")?.map(|c| usize::try_from(c.max(0)).unwrap_or(usize::MAX)).unwrap_or(max_page).min(max_page);
    Ok(ListParams { filter, start_index, count })
}

async fn list_users(State(shared): AppState, query: Result<Query<Vec<(String, String)>>, QueryRejection>) -> ApiResult {
    let Query(pairs) = query.map_err(|r| rejection(r.status(), r.body_text()))?;
    let params = list_params(&pairs, shared.profile.max_page_size())?;
    let bad = *lock(&shared.misbehaviour);
    if let Some(pause) = bad.slow_list {
        tokio::time::sleep(pause).await;
    }
    let count = bad.count(params.count);
    let (start, said) = bad.window(params.start_index, count);
    let filter = bad.filter(params.filter.as_ref());
    let page = lock(&shared.store).list_hiding(filter, bad.hidden(filter), start, count);
    Ok(scim_json(StatusCode::OK, &bad.dress(page, said)))
}

async fn get_user(State(shared): AppState, id: Result<Path<String>, PathRejection>) -> ApiResult {
    let id = path_id(id)?;
    let user = lock(&shared.store).get(&id)?;
    Ok(scim_json(StatusCode::OK, &user))
}

async fn create_user(State(shared): AppState, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let body = json_body(&headers, body)?;
    let user = lock(&shared.store).create(body)?;
    let mut response = scim_json(StatusCode::CREATED, &user);
    if let Some(location) = user["meta"]["location"].as_str().and_then(|l| HeaderValue::from_str(l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn replace_user(
    State(shared): AppState,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let id = path_id(id)?;
    let body = json_body(&headers, body)?;
    let user = lock(&shared.store).replace(&id, body)?;
    Ok(scim_json(StatusCode::OK, &user))
}

async fn patch_user(
    State(shared): AppState,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let id = path_id(id)?;
    let patch = patch_body(&headers, body)?;
    let user = lock(&shared.store).patch(&id, &patch.operations)?;
    Ok(scim_json(StatusCode::OK, &user))
}

/// A PATCH request's body as a PatchOp message (RFC 7644 §3.5.2).
fn patch_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<PatchOp, ApiError> {
    let body = json_body(headers, body)?;
    Ok(serde_json::from_value(body)
        .map_err(|e| ScimError::bad_request(ScimType::InvalidSyntax, format!("not a PatchOp message: {e}")))?)
}

async fn delete_user(State(shared): AppState, id: Result<Path<String>, PathRejection>) -> ApiResult {
    let id = path_id(id)?;
    lock(&shared.store).delete(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_groups(
    State(shared): AppState,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let Query(pairs) = query.map_err(|r| rejection(r.status(), r.body_text()))?;
    let params = list_params(&pairs, shared.profile.max_page_size())?;
    let bad = *lock(&shared.misbehaviour);
    if let Some(pause) = bad.slow_list {
        tokio::time::sleep(pause).await;
    }
    let count = bad.count(params.count);
    let (start, said) = bad.window(params.start_index, count);
    let page = lock(&shared.store).groups.list(bad.filter(params.filter.as_ref()), start, count);
    Ok(scim_json(StatusCode::OK, &bad.dress(page, said)))
}

async fn get_group(State(shared): AppState, id: Result<Path<String>, PathRejection>) -> ApiResult {
    let id = path_id(id)?;
    let group = lock(&shared.store).groups.get(&id)?;
    Ok(scim_json(StatusCode::OK, &group))
}

async fn create_group(State(shared): AppState, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let body = json_body(&headers, body)?;
    let group = lock(&shared.store).create_group(&body)?;
    let mut response = scim_json(StatusCode::CREATED, &group);
    if let Some(location) = group["meta"]["location"].as_str().and_then(|l| HeaderValue::from_str(l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn replace_group(
    State(shared): AppState,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let id = path_id(id)?;
    let body = json_body(&headers, body)?;
    let group = lock(&shared.store).replace_group(&id, &body)?;
    Ok(scim_json(StatusCode::OK, &group))
}

async fn patch_group(
    State(shared): AppState,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let id = path_id(id)?;
    let patch = patch_body(&headers, body)?;
    let group = lock(&shared.store).patch_group(&id, &patch.operations)?;
    Ok(scim_json(StatusCode::OK, &group))
}

async fn delete_group(State(shared): AppState, id: Result<Path<String>, PathRejection>) -> ApiResult {
    let id = path_id(id)?;
    lock(&shared.store).groups.delete(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn service_provider_config(State(shared): AppState) -> Response {
    let profile = shared.profile;
    let doc = schema::service_provider_config(&shared.base_url, profile.documentation_uri(), profile.max_page_size());
    scim_json(StatusCode::OK, &doc)
}

fn resource_type_docs(shared: &Shared) -> Vec<Value> {
    let mut docs = vec![schema::resource_type_doc(&shared.base_url)];
    if shared.profile.supports_groups() {
        docs.push(schema::group_resource_type_doc(&shared.base_url));
    }
    docs
}

async fn resource_types(State(shared): AppState) -> Response {
    let docs = resource_type_docs(&shared);
    scim_json(StatusCode::OK, &ListResponse::new(docs.len() as u64, 1, docs))
}

async fn resource_type(State(shared): AppState, name: Result<Path<String>, PathRejection>) -> ApiResult {
    let name = path_id(name)?;
    resource_type_docs(&shared)
        .into_iter()
        .find(|doc| doc["id"] == name.as_str())
        .map(|doc| scim_json(StatusCode::OK, &doc))
        .ok_or_else(|| ScimError::not_found(format!("no resource type {name}")).into())
}

async fn schemas(State(shared): AppState) -> Response {
    let docs = schema::schemas_docs(&shared.base_url);
    scim_json(StatusCode::OK, &ListResponse::new(docs.len() as u64, 1, docs))
}

async fn schema_by_urn(State(shared): AppState, urn: Result<Path<String>, PathRejection>) -> ApiResult {
    let urn = path_id(urn)?;
    schema::schemas_docs(&shared.base_url)
        .into_iter()
        .find(|doc| doc["id"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(&urn)))
        .map(|doc| scim_json(StatusCode::OK, &doc))
        .ok_or_else(|| ScimError::not_found(format!("no schema {urn}")).into())
}

async fn not_found() -> ApiError {
    ApiError(ScimError::not_found("no such endpoint; this app serves Users and Groups under its SCIM base URL"))
}

async fn method_not_allowed() -> ApiError {
    ApiError(ScimError::new(405, None, "method not allowed on this endpoint"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &[(&str, &str)]) -> Vec<(String, String)> {
        raw.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn list_params_follow_rfc_defaults_and_caps() {
        let p = list_params(&pairs(&[]), 100).unwrap();
        assert_eq!((p.start_index, p.count), (1, 100));
        let p = list_params(&pairs(&[("startindex", "-4"), ("COUNT", "5000")]), 100).unwrap();
        assert_eq!((p.start_index, p.count), (1, 100));
        let p = list_params(&pairs(&[("count", "-1"), ("filter", " ")]), 100).unwrap();
        assert_eq!(p.count, 0);
        assert!(p.filter.is_none());
        let err = list_params(&pairs(&[("count", "ten")]), 100).err().unwrap();
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
        let err = list_params(&pairs(&[("filter", "userName zz 1")]), 100).err().unwrap();
        assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
    }

    #[test]
    fn bearer_check_is_strict_about_the_token_but_not_the_scheme_case() {
        let mut h = HeaderMap::new();
        assert_eq!(check_bearer(&h, Some("t0k"), None), Err(""));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer t0k"));
        assert!(check_bearer(&h, Some("t0k"), None).is_ok());
        assert!(check_bearer(&h, None, None).is_err(), "no static token: only the validator counts");
        for bad in ["Bearer t0", "Basic t0k", "Bearer", "t0k"] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            assert!(check_bearer(&h, Some("t0k"), None).is_err(), "{bad}");
        }
    }
}
