//! What every admin route shares: who is calling (a bearer token: its tenant and the actor it
//! acts as), errors as JSON with the right status, request bodies that name a bad field, ETags.
//! Handlers are thin: they parse, call the engine's admin commands of the caller's tenant, and
//! answer the commands' response types.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tenure_core::TenantId;
use tenure_engine::{Actor, Engine, EngineError};
use tenure_store::{StoreError, TokenScope};
use utoipa::ToSchema;

use crate::ServerState;

/// Every error body: what went wrong, and where when a request field is at fault.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    /// The request field at fault, as the request spells it (`settings.mappings[0].expression`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Where in an expression the mistake is (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// The expression's line with a caret under the mistake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caret: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self { status, body: ErrorBody { error: error.into(), field: None, line: None, column: None, caret: None } }
    }

    pub fn bad_request(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error)
    }

    pub fn field(field: impl Into<String>, error: impl Into<String>) -> Self {
        let mut e = Self::bad_request(error);
        e.body.field = Some(field.into());
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::Stale { .. } => StatusCode::PRECONDITION_FAILED,
            StoreError::Invalid(_) | StoreError::InvalidFilter(_) | StoreError::InvalidSort(_) => {
                StatusCode::BAD_REQUEST
            }
            e if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "store error");
        }
        Self::new(status, e.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(s) => s.into(),
            EngineError::NotFound(what) => Self::new(StatusCode::NOT_FOUND, format!("{what} not found")),
            EngineError::Forbidden(_) => Self::new(StatusCode::FORBIDDEN, e.to_string()),
            EngineError::BadField { field, message } => Self::field(field.clone(), format!("{field}: {message}")),
            EngineError::Expression { ref field, line, column, ref rendered, .. } => {
                let mut out = Self::field(field.clone(), e.to_string());
                out.body.line = Some(line);
                out.body.column = Some(column);
                out.body.caret = Some(rendered.clone());
                out
            }
            EngineError::NotHeld { .. } | EngineError::Refused(_) => Self::new(StatusCode::CONFLICT, e.to_string()),
            EngineError::Invalid(_) => Self::bad_request(e.to_string()),
            EngineError::Connector { .. } => Self::new(StatusCode::BAD_GATEWAY, e.to_string()),
            EngineError::Internal(_) => {
                tracing::error!(error = %e, "internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
            other => Self::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON response.
pub fn json<T: Serialize>(value: &T) -> ApiResult<Response> {
    Ok(axum::Json(
        serde_json::to_value(value).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
    )
    .into_response())
}

/// The caller: an admin token's tenant and the actor it acts as.
pub struct Caller {
    pub tenant: TenantId,
    pub actor: Actor,
    /// The tenant's long-lived engine.
    pub engine: Engine,
}

fn unauthorized(message: &str) -> Response {
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], axum::Json(json!({"error": message})))
        .into_response()
}

/// Too many unknown or expired tokens from this client lately; the same words whatever the token.
pub(crate) fn too_many_failures() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, "900")],
        axum::Json(json!({"error": "too many failed attempts from this address; try again later"})),
    )
        .into_response()
}

/// The bearer token of a request, if it has one in the right form.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str, &'static str> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("missing Authorization: Bearer <admin token>")?;
    raw.split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or("the Authorization header must be: Bearer <admin token>")
}

impl FromRequestParts<ServerState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ServerState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).map_err(unauthorized)?;
        let ip = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        // A client that keeps sending unknown tokens is refused before any lookup.
        if state.sign_in_limits.token_blocked(ip) {
            return Err(too_many_failures());
        }
        let record = tenure_engine::tokens::authenticate(&state.store, token).await.map_err(|e| {
            tracing::error!(error = %e, "token lookup failed");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the database is unavailable").into_response()
        })?;
        let Some(record) = record else {
            state.sign_in_limits.token_failed(ip);
            tracing::warn!(client = ?ip, "admin API request with an unknown or expired token");
            return Err(unauthorized("unknown or expired token"));
        };
        if record.scope == TokenScope::Scim {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this is a SCIM token: it works on /scim/v2 only; the admin API takes an admin token \
                 (tenure token create --admin EMAIL)",
            )
            .into_response());
        }
        tenure_engine::tokens::note_use(&state.store, &record).await;
        let actor = match &record.admin {
            Some(admin) => Actor::admin(admin),
            None => Actor::token(record.label.as_deref(), record.id),
        };
        Ok(Caller { tenant: record.tenant_id, engine: state.contexts.engine(record.tenant_id), actor })
    }
}

impl Caller {
    pub fn admin(&self) -> tenure_engine::Admin<'_> {
        self.engine.admin(&self.actor)
    }
}

/// A JSON body; any problem with it (not JSON, a missing field, an unknown field, a wrong
/// type) is a 400 naming the field where serde says which.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(body_error(&rejection)),
        }
    }
}

fn body_error(rejection: &JsonRejection) -> ApiError {
    let text = rejection.body_text();
    let mut error = ApiError::bad_request(text.clone());
    // serde's words: "unknown field `colour`, expected one of ...", "missing field `name`".
    for marker in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(start) = text.find(marker) {
            let rest = &text[start + marker.len()..];
            if let Some(end) = rest.find('`') {
                error.body.field = Some(rest[..end].to_owned());
            }
        }
    }
    error
}

/// Query parameters; unknown ones are refused.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(query_error(&rejection)),
        }
    }
}

fn query_error(rejection: &QueryRejection) -> ApiError {
    let text = rejection.body_text();
    let mut error = ApiError::bad_request(text.clone());
    if let Some(start) = text.find("unknown field `") {
        let rest = &text[start + "unknown field `".len()..];
        if let Some(end) = rest.find('`') {
            error.body.field = Some(rest[..end].to_owned());
        }
    }
    error
}

/// `?preview=true`: answer what the change would do, save nothing.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// Compute the plan the change would cause; save nothing.
    #[serde(default)]
    pub preview: bool,
}

/// The version an `If-Match` header asks for: `"7"` (or `W/"7"`); `*` or no header asks for
/// none. Anything else matches no version.
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(raw) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let raw = raw.to_str().map_err(|_| ApiError::bad_request("If-Match is not text"))?.trim();
    if raw == "*" {
        return Ok(None);
    }
    let tag = raw.strip_prefix("W/").unwrap_or(raw).trim_matches('"');
    tag.parse::<i64>().map(Some).map_err(|_| {
        ApiError::new(StatusCode::PRECONDITION_FAILED, format!("If-Match {raw}: matches no version of this resource"))
    })
}

/// A JSON response with the resource's ETag.
pub fn with_etag<T: Serialize>(value: &T, version: i64) -> ApiResult<Response> {
    let mut response = json(value)?;
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    Ok(response)
}

/// 201 with a JSON body.
pub fn created<T: Serialize>(value: &T) -> ApiResult<Response> {
    let mut response = json(value)?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_reads_versions() {
        let mut headers = HeaderMap::new();
        assert_eq!(if_match(&headers).unwrap(), None);
        headers.insert(header::IF_MATCH, HeaderValue::from_static("\"7\""));
        assert_eq!(if_match(&headers).unwrap(), Some(7));
        headers.insert(header::IF_MATCH, HeaderValue::from_static("W/\"8\""));
        assert_eq!(if_match(&headers).unwrap(), Some(8));
        headers.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(if_match(&headers).unwrap(), None);
        headers.insert(header::IF_MATCH, HeaderValue::from_static("\"abc\""));
        assert_eq!(if_match(&headers).unwrap_err().status, StatusCode::PRECONDITION_FAILED);
    }
}
