//! Bearer tokens of scope `scim`: the token selects the tenant. Tokens are looked up by their
//! SHA-256 hash (a hash of a random secret leaks nothing useful through timing). Recently seen
//! tokens are remembered for a few seconds so a busy IdP does not cost a database round trip per
//! request; a token removed from the database stops working within that time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use tenure_core::TenantId;
use tenure_store::TokenScope;

use super::errors::{ScimFailure, error};
use crate::ServerState;

const TTL: Duration = Duration::from_secs(10);
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (ScimTenant, Instant)>>,
}

impl TokenCache {
    fn get(&self, hash: &str) -> Option<ScimTenant> {
        let entries = self.entries.lock().ok()?;
        entries.get(hash).filter(|(_, at)| at.elapsed() < TTL).map(|(t, _)| t.clone())
    }

    fn put(&self, hash: String, tenant: ScimTenant) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.retain(|_, (_, at)| at.elapsed() < TTL);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(hash, (tenant, Instant::now()));
        }
    }
}

/// The tenant an IdP pushes into, and as whom the audit log names the push.
#[derive(Clone)]
pub struct ScimTenant {
    pub tenant: TenantId,
    /// `scim:<token label>`.
    pub actor: String,
}

fn unauthorized(detail: &str) -> ScimFailure {
    error(401, None, detail)
}

impl FromRequestParts<ServerState> for ScimTenant {
    type Rejection = ScimFailure;

    async fn from_request_parts(parts: &mut Parts, state: &ServerState) -> Result<Self, Self::Rejection> {
        let raw = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthorized("missing Authorization: Bearer <scim token>"))?;
        let token = raw
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must be: Bearer <scim token>"))?;
        let ip = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        authenticate(state, token, ip).await
    }
}

/// The SCIM tenant of a bearer token. An admin token is refused (403): it administers, it does
/// not push.
pub(crate) async fn authenticate(
    state: &ServerState,
    token: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<ScimTenant, ScimFailure> {
    let hash = crate::tokens::hash(token);
    if let Some(tenant) = state.scim_tokens.get(&hash) {
        return Ok(tenant);
    }
    // A client that keeps sending unknown tokens is refused before any lookup.
    if state.sign_in_limits.token_blocked(ip) {
        return Err(error(429, None, "too many failed attempts from this address; try again later"));
    }
    let record = tenure_engine::tokens::authenticate(&state.store, token).await.map_err(ScimFailure::from)?;
    match record {
        Some(r) if r.scope == TokenScope::Scim => {
            let tenant = ScimTenant {
                tenant: r.tenant_id,
                actor: format!("scim:{}", r.label.as_deref().unwrap_or(&r.id.to_string())),
            };
            state.scim_tokens.put(hash, tenant.clone());
            Ok(tenant)
        }
        Some(_) => Err(error(
            403,
            None,
            "this is an admin token: /scim/v2 takes a SCIM token (tenure token create --scope scim)",
        )),
        None => {
            state.sign_in_limits.token_failed(ip);
            tracing::warn!(client = ?ip, "SCIM request with an unknown or expired token");
            Err(unauthorized("unknown or expired token"))
        }
    }
}
