//! The admin API under `/api/v1`, one module per subject. Every handler authenticates
//! ([`crate::api::Caller`]), calls one of the engine's admin commands for the caller's tenant
//! (which checks the caller's role), and answers the command's response type. Each is
//! described for the OpenAPI document (`crate::openapi`) by its `#[utoipa::path]`.

pub mod access;
pub mod accounts;
pub mod apps;
pub mod audit;
pub mod licenses;
pub mod lifecycle;
pub mod oauth;
pub mod plans;
pub mod queue;
pub mod reclaim_links;
pub mod sources;
pub mod workflows;

use axum::Router;

use crate::ServerState;

/// The errors every admin route may answer, for the document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // only described, never built
pub enum Errors {
    /// Bad input: the field at fault is named (an expression's line and column too).
    #[response(status = 400)]
    BadRequest(crate::api::ErrorBody),
    /// No token, or an unknown or expired one.
    #[response(status = 401)]
    Unauthorized(crate::api::ErrorBody),
    /// The token's role does not allow this (or a SCIM token on the admin API).
    #[response(status = 403)]
    Forbidden(crate::api::ErrorBody),
    /// No such object in the token's tenant.
    #[response(status = 404)]
    NotFound(crate::api::ErrorBody),
    /// The request contradicts the current state.
    #[response(status = 409)]
    Conflict(crate::api::ErrorBody),
    /// `If-Match` names a version that is no longer current.
    #[response(status = 412)]
    PreconditionFailed(crate::api::ErrorBody),
}

pub fn router() -> Router<ServerState> {
    Router::new()
        .merge(apps::routes())
        .merge(accounts::routes())
        .merge(plans::routes())
        .merge(sources::routes())
        .merge(queue::routes())
        .merge(audit::routes())
        .merge(access::routes())
        .merge(oauth::routes())
        .merge(licenses::routes())
        .merge(lifecycle::routes())
        .merge(workflows::routes())
}
