//! Who administers the tenant (admins, tokens), who the caller is, and the directory.

use axum::Router;
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{delete, get, patch};
use serde::Serialize;
use tenure_engine::admin::views::{AdminView, TokenCreated, TokenView};
use tenure_engine::admin::{AdminChange, NewAdmin, NewToken};

use super::Errors;
use crate::ServerState;
use crate::api::{ApiError, ApiResult, Body, Caller, created, json};

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/people", get(people))
        .route("/groups", get(groups))
        .route("/admins", get(admins).post(add_admin))
        .route("/admins/{email}", patch(change_admin).delete(remove_admin))
        .route("/tokens", get(tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// As the audit log names the caller.
    actor: String,
    role: String,
    /// An app admin's apps, by id.
    apps: Vec<String>,
    tenant: String,
}

/// The caller as the API sees it: actor, role, tenant.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "access", responses((status = 200, body = WhoAmI), Errors))]
pub async fn whoami(caller: Caller) -> ApiResult<Response> {
    json(&WhoAmI {
        actor: caller.actor.name.clone(),
        role: caller.actor.role.to_string(),
        apps: caller.actor.apps.iter().map(ToString::to_string).collect(),
        tenant: caller.tenant.to_string(),
    })
}

/// The directory's people (org admins and auditors).
#[utoipa::path(get, path = "/api/v1/people", tag = "directory", responses((status = 200, body = Vec<Object>), Errors))]
pub async fn people(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().people().await?)
}

/// The directory's groups (org admins and auditors).
#[utoipa::path(get, path = "/api/v1/groups", tag = "directory", responses((status = 200, body = Vec<Object>), Errors))]
pub async fn groups(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().groups().await?)
}

/// The tenant's admins.
#[utoipa::path(get, path = "/api/v1/admins", tag = "access", responses((status = 200, body = Vec<AdminView>), Errors))]
pub async fn admins(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().admins().await?)
}

/// Adds an admin (org admins): email, role (`org-admin`, `app-admin` with `apps`,
/// `license-admin`, `auditor`), optional password (hashed with argon2id).
#[utoipa::path(post, path = "/api/v1/admins", tag = "access", request_body = NewAdmin, responses((status = 201, body = AdminView), Errors))]
pub async fn add_admin(caller: Caller, Body(spec): Body<NewAdmin>) -> ApiResult<Response> {
    created(&caller.admin().add_admin(spec).await?)
}

/// Changes an admin's role, apps or password; never demotes the last org admin.
#[utoipa::path(patch, path = "/api/v1/admins/{email}", tag = "access", request_body = AdminChange,
    params(("email" = String, Path)), responses((status = 200, body = AdminView), Errors))]
pub async fn change_admin(
    caller: Caller,
    Path(email): Path<String>,
    Body(change): Body<AdminChange>,
) -> ApiResult<Response> {
    json(&caller.admin().change_admin(&email, change).await?)
}

/// Removes an admin and their tokens; never the last org admin.
#[utoipa::path(delete, path = "/api/v1/admins/{email}", tag = "access", params(("email" = String, Path)),
    responses((status = 200, body = AdminView), Errors))]
pub async fn remove_admin(caller: Caller, Path(email): Path<String>) -> ApiResult<Response> {
    json(&caller.admin().remove_admin(&email).await?)
}

/// The tenant's tokens: never the tokens themselves.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "access", responses((status = 200, body = Vec<TokenView>), Errors))]
pub async fn tokens(caller: Caller) -> ApiResult<Response> {
    json(&caller.admin().tokens().await?)
}

/// Creates a token (org admins), shown in this answer only: one that acts as an admin (`admin`,
/// with their role), or a SCIM token for an IdP (`scope: "scim"`). `expires_in_s` bounds it.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "access", request_body = NewToken, responses((status = 201, body = TokenCreated), Errors))]
pub async fn create_token(caller: Caller, Body(spec): Body<NewToken>) -> ApiResult<Response> {
    created(&caller.admin().create_token(spec).await?)
}

/// Revokes a token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "access", params(("id" = String, Path)), responses((status = 200, body = TokenView), Errors))]
pub async fn revoke_token(caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let id = id.parse().map_err(|_| ApiError::field("id", format!("token id {id:?} is not a UUID")))?;
    json(&caller.admin().revoke_token(id).await?)
}
