//! Tenure as a SCIM 2.0 service provider (RFC 7643 / RFC 7644) under `/scim/v2`: Entra ID and
//! Okta push users and groups into the tenant their token belongs to. Handlers here only speak
//! HTTP (auth, headers, bodies, status codes); the operations live in `resources`, listing in
//! `query`, `/Bulk` in `bulk`, discovery documents in `discovery`.

mod auth;
mod bulk;
mod discovery;
mod errors;
mod query;
mod resources;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::Value;
use tenure_scim::etag::etag_matches;
use tenure_scim::projection::Projection;
use tenure_scim::{SCIM_MEDIA_TYPE, ScimError, ScimType};
use tenure_store::ScimKind;

use auth::ScimTenant;
pub use auth::TokenCache;
use errors::{ScimFailure, error};
use resources::{Ctx, render, view, wants_members};

use crate::ServerState;

/// The largest request body accepted (a PUT of a large group); `/Bulk` has its own, smaller limit.
const MAX_BODY: usize = 4 * 1024 * 1024;

pub fn routes() -> Router<ServerState> {
    let endpoints = endpoints();
    // IdPs' own test tools send `/users`, `/Users/` and `/Users/?filter=...`: a path that matches
    // no endpoint is tried once more in its canonical spelling before it is a 404.
    Router::new().merge(endpoints.clone()).fallback(move |State(state): State<ServerState>, request| {
        let endpoints = endpoints.clone();
        async move { canonical_retry(endpoints, state, request).await }
    })
}

/// The endpoint names, as RFC 7644 §3.2 spells them.
const ENDPOINTS: [&str; 8] =
    ["Users", "Groups", "Schemas", "ResourceTypes", "ServiceProviderConfig", "Bulk", "Me", ".search"];

/// `path` with the endpoint names spelt as RFC 7644 does and no trailing slash; `None` when that
/// changes nothing (the path is then really unknown).
fn canonical_path(path: &str) -> Option<String> {
    let mut segments: Vec<&str> = path.split('/').skip(1).collect();
    while segments.len() > 1 && segments.last() == Some(&"") {
        segments.pop();
    }
    let canonical: Vec<&str> = segments
        .iter()
        .enumerate()
        .map(|(i, seg)| {
            let named = i == 0 || (i == 1 && seg.eq_ignore_ascii_case(".search"));
            match ENDPOINTS.iter().find(|e| named && e.eq_ignore_ascii_case(seg)) {
                Some(e) => *e,
                None => *seg,
            }
        })
        .collect();
    let joined = format!("/{}", canonical.join("/"));
    (joined != path).then_some(joined)
}

async fn canonical_retry(
    endpoints: Router<ServerState>,
    state: ServerState,
    request: axum::extract::Request,
) -> Response {
    use tower_service::Service;
    let Some(path) = canonical_path(request.uri().path()) else {
        return error(404, None, "no such SCIM endpoint").into_response();
    };
    let (mut parts, body) = request.into_parts();
    let rewritten = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    match rewritten.parse() {
        Ok(uri) => parts.uri = uri,
        Err(_) => return error(404, None, "no such SCIM endpoint").into_response(),
    }
    // The canonical path either matches or falls to this router's own 404.
    let mut service = endpoints.fallback(|| async { error(404, None, "no such SCIM endpoint") }).with_state(state);
    match service.call(axum::extract::Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn endpoints() -> Router<ServerState> {
    Router::new()
        .merge(resource_routes("/Users", ScimKind::User))
        .merge(resource_routes("/Groups", ScimKind::Group))
        .route("/.search", post(search_root))
        .route("/Bulk", post(bulk_request))
        .route("/Me", any(me))
        .route("/Me/{*rest}", any(me))
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
        .layer(axum::middleware::map_response(scim_method_not_allowed))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// One resource type's endpoints; the handlers learn which type from the route's extension, so
/// users and groups share them.
fn resource_routes(base: &str, kind: ScimKind) -> Router<ServerState> {
    Router::new()
        .route(base, get(list_kind).post(create_kind))
        .route(&format!("{base}/.search"), post(search_kind))
        .route(&format!("{base}/{{id}}"), get(read_kind).put(put_kind).patch(patch_kind).delete(delete_kind))
        .layer(Extension(kind))
}

/// axum answers an unsupported method with an empty 405; SCIM clients expect an error body.
async fn scim_method_not_allowed(response: Response) -> Response {
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && response.headers().get(header::CONTENT_TYPE).is_none_or(|c| c != SCIM_MEDIA_TYPE)
    {
        let allow = response.headers().get(header::ALLOW).cloned();
        let mut out = error(405, None, "this method is not supported here").into_response();
        if let Some(allow) = allow {
            out.headers_mut().insert(header::ALLOW, allow);
        }
        return out;
    }
    response
}

/// The absolute `/scim/v2` URL the client used, for `meta.location` and `Location`. Host names
/// are checked so a forged header cannot put arbitrary text into responses.
fn base_url(headers: &HeaderMap) -> String {
    let pick = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty());
    let proto = match pick("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let host = pick("x-forwarded-host")
        .or_else(|| pick(header::HOST.as_str()))
        .filter(|h| h.len() <= 255 && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c)))
        .unwrap_or("localhost");
    format!("{proto}://{host}/scim/v2")
}

fn ctx(state: &ServerState, tenant: &ScimTenant, headers: &HeaderMap) -> Ctx {
    Ctx { store: state.store.clone(), tenant: tenant.tenant, base: base_url(headers), actor: tenant.actor.clone() }
}

fn scim_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_MEDIA_TYPE));
    response
}

fn with_header(mut response: Response, name: header::HeaderName, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
    response
}

/// A JSON request body (`application/scim+json` or `application/json`; the type is not
/// enforced because IdPs differ), within the size limit.
async fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ScimFailure> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            error(413, None, format!("the request body exceeds {MAX_BODY} bytes"))
        } else {
            error(400, Some(ScimType::InvalidSyntax), rejection.body_text())
        }
    })?;
    let large = bytes.len() > LARGE_BODY;
    let parse = move || {
        serde_json::from_slice(&bytes)
            .map_err(|e| ScimError::bad_request(ScimType::InvalidSyntax, format!("the body is not valid JSON: {e}")))
    };
    // Parsing megabytes is CPU work that does not belong on a runtime worker.
    if large { Ok(resources::off_runtime(parse).await?) } else { Ok(parse()?) }
}

/// Bodies larger than this are parsed on the blocking pool.
const LARGE_BODY: usize = 64 * 1024;

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

type ScimResult = Result<Response, ScimFailure>;

/// One resource, projected, with its `ETag`.
fn resource_response(
    ctx: &Ctx,
    kind: ScimKind,
    record: &tenure_store::ScimRecord,
    status: StatusCode,
    projection: &Projection,
) -> Response {
    let body = projection.apply(&render(ctx, kind, record), view(kind));
    with_header(scim_response(status, &body), header::ETAG, &record.version)
}

fn projection(kind: ScimKind, params: &HashMap<String, String>) -> Result<Projection, ScimError> {
    let get = |name: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    Projection::parse(get("attributes"), get("excludedAttributes"), view(kind))
}

async fn list(
    state: ServerState,
    tenant: ScimTenant,
    headers: HeaderMap,
    kind: ScimKind,
    params: HashMap<String, String>,
) -> ScimResult {
    let ctx = ctx(&state, &tenant, &headers);
    let search = query::Search::from_query(&params)?;
    Ok(scim_response(StatusCode::OK, &query::list(&ctx, kind, &search).await?))
}

async fn search(
    state: ServerState,
    tenant: ScimTenant,
    headers: HeaderMap,
    kind: Option<ScimKind>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult {
    let ctx = ctx(&state, &tenant, &headers);
    let search = query::Search::from_body(&json_body(body).await?)?;
    let page = match kind {
        Some(kind) => query::list(&ctx, kind, &search).await?,
        None => query::search_all(&ctx, &search).await?,
    };
    Ok(scim_response(StatusCode::OK, &page))
}

async fn create(
    state: ServerState,
    tenant: ScimTenant,
    headers: HeaderMap,
    kind: ScimKind,
    params: HashMap<String, String>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult {
    let ctx = ctx(&state, &tenant, &headers);
    let projection = projection(kind, &params)?;
    let record = resources::create(&ctx, kind, &json_body(body).await?).await?;
    let location = resources::location(&ctx, kind, &record.id);
    let response = resource_response(&ctx, kind, &record, StatusCode::CREATED, &projection);
    Ok(with_header(response, header::LOCATION, &location))
}

async fn read(
    state: ServerState,
    tenant: ScimTenant,
    headers: HeaderMap,
    kind: ScimKind,
    id: String,
    params: HashMap<String, String>,
) -> ScimResult {
    let ctx = ctx(&state, &tenant, &headers);
    let projection = projection(kind, &params)?;
    let record = resources::get(&ctx, kind, &id, wants_members(&projection)).await?;
    if header_text(&headers, header::IF_NONE_MATCH).is_some_and(|h| etag_matches(h, &record.version)) {
        return Ok(with_header(StatusCode::NOT_MODIFIED.into_response(), header::ETAG, &record.version));
    }
    Ok(resource_response(&ctx, kind, &record, StatusCode::OK, &projection))
}

#[derive(Clone, Copy)]
enum Write {
    Put,
    Patch,
}

#[allow(clippy::too_many_arguments)]
async fn write(
    state: ServerState,
    tenant: ScimTenant,
    headers: HeaderMap,
    kind: ScimKind,
    id: String,
    params: HashMap<String, String>,
    body: Result<Bytes, BytesRejection>,
    how: Write,
) -> ScimResult {
    let ctx = ctx(&state, &tenant, &headers);
    let mut projection = projection(kind, &params)?;
    let body = json_body(body).await?;
    let if_match = header_text(&headers, header::IF_MATCH);
    let record = match how {
        Write::Put => resources::replace(&ctx, kind, &id, &body, if_match).await?,
        Write::Patch => resources::patch(&ctx, kind, &id, &body, if_match).await?,
    };
    // RFC 7644 §3.5.2: a PATCH answers 200 with the resource (subject to `attributes`) or 204.
    if matches!(how, Write::Patch) && kind == ScimKind::Group {
        match group_patch_answer(&headers, &params) {
            GroupPatchAnswer::NoContent => {
                return Ok(with_header(StatusCode::NO_CONTENT.into_response(), header::ETAG, &record.version));
            }
            GroupPatchAnswer::WithoutMembers => {
                projection = Projection::parse(None, Some("members"), view(kind))?;
            }
            GroupPatchAnswer::AsProjected => {}
        }
    }
    let record = if kind == ScimKind::Group && wants_members(&projection) {
        resources::get(&ctx, kind, &id, true).await?
    } else {
        record
    };
    let shown = ctx.clone();
    Ok(resources::off_runtime(move || Ok(resource_response(&shown, kind, &record, StatusCode::OK, &projection)))
        .await?)
}

/// How a successful PATCH on a group is answered.
#[derive(Debug, PartialEq, Eq)]
enum GroupPatchAnswer {
    /// 204 and the new `ETag`: the client asked for it (`Prefer: return=minimal`, RFC 7240), or
    /// it is Microsoft Entra ID, whose SCIM tutorial says a group PATCH "should yield an HTTP 204
    /// No Content" and that returning the members "isn't advisable".
    NoContent,
    /// 200 with the group but not its members: Okta, whose SCIM 2.0 reference says it needs the
    /// group's other details back, not its member list.
    WithoutMembers,
    /// 200 with the group as `attributes` / `excludedAttributes` shape it (members included by
    /// default): everyone else.
    AsProjected,
}

fn group_patch_answer(headers: &HeaderMap, params: &HashMap<String, String>) -> GroupPatchAnswer {
    let shaped =
        params.keys().any(|k| k.eq_ignore_ascii_case("attributes") || k.eq_ignore_ascii_case("excludedAttributes"));
    let minimal = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("return=minimal"));
    let agent = header_text(headers, header::USER_AGENT).unwrap_or("").to_ascii_lowercase();
    // Entra's tenant URL flag (`?aadOptscim062020`) travels with every request it sends.
    let entra = params.keys().any(|k| k.eq_ignore_ascii_case("aadOptscim062020"))
        || agent.contains("microsoft")
        || agent.contains("azure");
    if minimal || (entra && !shaped) {
        GroupPatchAnswer::NoContent
    } else if agent.starts_with("okta scim client") && !shaped {
        GroupPatchAnswer::WithoutMembers
    } else {
        GroupPatchAnswer::AsProjected
    }
}

async fn remove(state: ServerState, tenant: ScimTenant, headers: HeaderMap, kind: ScimKind, id: String) -> ScimResult {
    let ctx = ctx(&state, &tenant, &headers);
    resources::delete(&ctx, kind, &id, header_text(&headers, header::IF_MATCH)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

type Params = ScimQuery;

/// Query parameters, with a SCIM error (not axum's plain-text 400) should the query string ever
/// fail to decode. (Percent escapes that are not UTF-8 are decoded lossily, not refused.)
struct ScimQuery(HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ScimQuery {
    type Rejection = ScimFailure;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Query(params)) => Ok(Self(params)),
            Err(rejection) => Err(ScimFailure(ScimError::bad_request(
                ScimType::InvalidValue,
                format!("the query string cannot be read: {}", rejection.body_text()),
            ))),
        }
    }
}
type Body = Result<Bytes, BytesRejection>;

async fn list_kind(
    State(s): State<ServerState>,
    Extension(kind): Extension<ScimKind>,
    t: ScimTenant,
    h: HeaderMap,
    ScimQuery(p): Params,
) -> ScimResult {
    list(s, t, h, kind, p).await
}
async fn search_kind(
    State(s): State<ServerState>,
    Extension(kind): Extension<ScimKind>,
    t: ScimTenant,
    h: HeaderMap,
    b: Body,
) -> ScimResult {
    search(s, t, h, Some(kind), b).await
}
async fn search_root(State(s): State<ServerState>, t: ScimTenant, h: HeaderMap, b: Body) -> ScimResult {
    search(s, t, h, None, b).await
}
async fn create_kind(
    State(s): State<ServerState>,
    Extension(kind): Extension<ScimKind>,
    t: ScimTenant,
    h: HeaderMap,
    ScimQuery(p): Params,
    b: Body,
) -> ScimResult {
    create(s, t, h, kind, p, b).await
}
async fn read_kind(
    State(s): State<ServerState>,
    Extension(kind): Extension<ScimKind>,
    t: ScimTenant,
    h: HeaderMap,
    Path(id): Path<String>,
    ScimQuery(p): Params,
) -> ScimResult {
    read(s, t, h, kind, id, p).await
}
async fn put_kind(
    State(s): State<ServerState>,
    Extension(kind): Extension<ScimKind>,
    t: ScimTenant,
    h: HeaderMap,
    Path(id): Path<String>,
    ScimQuery(p): Params,
    b: Body,
) -> ScimResult {
    write(s, t, h, kind, id, p, b, Write::Put).await
}
async fn patch_kind(
    State(s): State<ServerState>,
    Extension(kind): Extension<ScimKind>,
    t: ScimTenant,
    h: HeaderMap,
    Path(id): Path<String>,
    ScimQuery(p): Params,
    b: Body,
) -> ScimResult {
    write(s, t, h, kind, id, p, b, Write::Patch).await
}
async fn delete_kind(
    State(s): State<ServerState>,
    Extension(kind): Extension<ScimKind>,
    t: ScimTenant,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ScimResult {
    remove(s, t, h, kind, id).await
}

async fn bulk_request(State(s): State<ServerState>, t: ScimTenant, h: HeaderMap, b: Body) -> ScimResult {
    let ctx = ctx(&s, &t, &h);
    if let Ok(bytes) = &b
        && bytes.len() > bulk::MAX_PAYLOAD
    {
        return Err(error(413, None, format!("a bulk request may hold at most {} bytes", bulk::MAX_PAYLOAD)));
    }
    let body = json_body(b).await?;
    Ok(scim_response(StatusCode::OK, &bulk::bulk(&ctx, &body).await?))
}

async fn me(_t: ScimTenant) -> ScimFailure {
    error(501, None, "/Me is not supported: IdP tokens do not stand for a user")
}

async fn service_provider_config(_t: ScimTenant, h: HeaderMap) -> Response {
    scim_response(StatusCode::OK, &discovery::service_provider_config(&base_url(&h)))
}
async fn resource_types(_t: ScimTenant, h: HeaderMap) -> Response {
    scim_response(StatusCode::OK, &discovery::resource_types(&base_url(&h)))
}
async fn resource_type(_t: ScimTenant, h: HeaderMap, Path(id): Path<String>) -> ScimResult {
    Ok(scim_response(StatusCode::OK, &discovery::resource_type(&base_url(&h), &id)?))
}
async fn schemas(_t: ScimTenant, h: HeaderMap) -> Response {
    scim_response(StatusCode::OK, &discovery::schemas(&base_url(&h)))
}
async fn schema(_t: ScimTenant, h: HeaderMap, Path(id): Path<String>) -> ScimResult {
    Ok(scim_response(StatusCode::OK, &discovery::schema(&base_url(&h), &id)?))
}

/// Shared state of the SCIM endpoint.
pub(crate) fn token_cache() -> Arc<TokenCache> {
    Arc::new(TokenCache::default())
}
