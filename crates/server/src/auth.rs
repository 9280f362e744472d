//! Bearer-token authentication for the admin API. The token selects the tenant.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tenure_core::TenantId;
use tenure_store::TokenScope;

use crate::ServerState;

/// An authenticated admin of one tenant.
pub struct Admin {
    pub tenant: TenantId,
}

pub struct Unauthorized(&'static str);

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let status = if self.0.is_empty() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::UNAUTHORIZED };
        let message = if self.0.is_empty() { "the database is unavailable" } else { self.0 };
        (status, [(header::WWW_AUTHENTICATE, "Bearer")], axum::Json(serde_json::json!({"error": message})))
            .into_response()
    }
}

impl FromRequestParts<ServerState> for Admin {
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, state: &ServerState) -> Result<Self, Self::Rejection> {
        let raw = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(Unauthorized("missing Authorization: Bearer <admin token>"))?;
        let token = raw
            .strip_prefix("Bearer ")
            .or_else(|| raw.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Unauthorized("the Authorization header must be: Bearer <admin token>"))?;
        // Looked up by hash: comparing hashes of a random secret leaks nothing useful by timing.
        let record = state.store.token_by_hash(&crate::tokens::hash(token)).await.map_err(|e| {
            tracing::error!(error = %e, "token lookup failed");
            Unauthorized("")
        })?;
        match record {
            Some(r) if r.scope == TokenScope::Admin => Ok(Admin { tenant: r.tenant_id }),
            Some(_) => Err(Unauthorized("this token is not an admin token")),
            None => Err(Unauthorized("unknown token")),
        }
    }
}
