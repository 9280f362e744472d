//! SCIM error responses (RFC 7644 §3.12) and the mapping of store errors onto them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tenure_scim::{SCIM_MEDIA_TYPE, ScimError, ScimType};
use tenure_store::StoreError;

/// A SCIM error as an HTTP response: the status, and the error body in `application/scim+json`.
pub struct ScimFailure(pub ScimError);

impl From<ScimError> for ScimFailure {
    fn from(e: ScimError) -> Self {
        Self(e)
    }
}

impl From<StoreError> for ScimFailure {
    fn from(e: StoreError) -> Self {
        Self(store_error(e))
    }
}

pub fn store_error(e: StoreError) -> ScimError {
    match e {
        StoreError::NotFound(what) => ScimError::not_found(format!("{what} not found")),
        StoreError::Conflict(what) => ScimError::conflict(format!("{what} is already taken")),
        StoreError::InvalidFilter(why) => ScimError::bad_request(ScimType::InvalidFilter, why),
        StoreError::InvalidSort(why) | StoreError::Invalid(why) => ScimError::bad_request(ScimType::InvalidValue, why),
        e if e.is_retryable() => {
            tracing::warn!(error = %e, "SCIM request: database busy or unreachable");
            ScimError::new(503, None, "the database is unavailable; try again")
        }
        e => {
            tracing::error!(error = %e, "SCIM request failed");
            ScimError::new(500, None, "internal error")
        }
    }
}

pub fn error(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> ScimFailure {
    ScimFailure(ScimError::new(status, scim_type, detail))
}

impl IntoResponse for ScimFailure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.0).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_MEDIA_TYPE));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
