//! SCIM pushes in the audit log: one entry per write request that succeeded (a `/Bulk` request
//! is one entry), naming the IdP as `scim:<token label>`. Reads (`GET`, `.search`) are not
//! audited: they change nothing.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use crate::ServerState;

pub async fn audit_push(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    let writes = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    let path = request.uri().path().to_owned();
    if !writes || path.ends_with("/.search") {
        return next.run(request).await;
    }
    let method = request.method().to_string();
    let token = crate::api::bearer(request.headers()).ok().map(str::to_owned);
    let response = next.run(request).await;
    if !response.status().is_success() {
        return response;
    }
    let Some(token) = token else { return response };
    match super::auth::authenticate(&state, &token).await {
        Ok(idp) => {
            let resource = path.strip_prefix("/scim/v2").unwrap_or(&path);
            let detail = json!({"method": method, "path": resource, "status": response.status().as_u16()});
            if let Err(e) =
                tenure_engine::tokens::audit_scim_push(&state.store, idp.tenant, &idp.actor, resource, &detail).await
            {
                tracing::warn!(error = %e, "could not audit a SCIM push that was applied");
            }
        }
        Err(_) => tracing::warn!("a SCIM write succeeded but its token no longer authenticates; not audited"),
    }
    response
}
