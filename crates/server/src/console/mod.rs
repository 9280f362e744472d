//! The web console: HTML pages rendered on the server (askama templates in `templates/console/`),
//! made faster by htmx where it helps, never made possible by it. It is a third door to the front
//! hall: every page and form calls the engine's admin commands as the signed-in admin, so the
//! roles and rules are the API's; the console decides nothing but what to show. Buttons an admin
//! may not use are not drawn, and a forged form gets the command's own refusal (403).
//!
//! `auth.rs` holds sessions, the sign-in limits and the anti-forgery check every POST passes;
//! `headers.rs` the security headers and the embedded assets; one module per screen.

mod admins;
mod apps;
mod audit;
mod auth;
mod headers;
mod login;
mod overview;
mod people;
mod plans;
mod sources;
mod svg;
mod view;

pub use auth::SignInLimits;

use axum::Router;
use axum::routing::{get, post};

use crate::ServerState;

/// The console's pages and forms, behind the anti-forgery check and the security headers.
pub fn routes(state: ServerState) -> Router<ServerState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::sign_out))
        .route("/apps", get(apps::list))
        .route("/apps/{app}", get(apps::page))
        .route("/apps/{app}/verify", post(apps::verify))
        .route("/apps/{app}/authorize", post(apps::authorize))
        .route("/apps/{app}/assignments", post(apps::assign))
        .route("/apps/{app}/assignments/{id}/remove", post(apps::unassign))
        .route("/apps/{app}/accounts/{account}/adopt", post(apps::adopt))
        .route("/apps/{app}/accounts/{account}/external", post(apps::external))
        .route("/apps/{app}/accounts/{account}/unlink", post(apps::unlink))
        .route("/apps/{app}/operations/{id}", post(apps::operation))
        .route("/plans", get(plans::page))
        .route("/plans/{id}/decide", post(plans::decide))
        .route("/people", get(people::list))
        .route("/people/{email}", get(people::person))
        .route("/sources", get(sources::page))
        .route("/sources/{name}/sync", post(sources::sync))
        .route("/audit", get(audit::page))
        .route("/admins", get(admins::page).post(admins::add))
        .route("/admins/{email}/remove", post(admins::remove))
        .route("/admins/{email}/role", post(admins::change_role))
        .route("/tokens", post(admins::create_token))
        .route("/tokens/{id}/revoke", post(admins::revoke_token))
        .layer(axum::middleware::from_fn_with_state(state, auth::forgery_check))
        .merge(headers::asset_routes())
        .layer(axum::middleware::from_fn(headers::secure))
}
