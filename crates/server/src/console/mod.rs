//! The web console: HTML pages rendered on the server (askama templates in `templates/console/`),
//! made faster by htmx where it helps, never made possible by it. It is a third door to the front
//! hall: every page and form calls the engine's admin commands as the signed-in admin, so the
//! roles and rules are the API's; the console decides nothing but what to show. Buttons an admin
//! may not use are not drawn, and a forged form gets the command's own refusal (403).
//!
//! `auth.rs` holds sessions, the sign-in limits and the anti-forgery check every POST passes;
//! `headers.rs` the security headers and the embedded assets; `jobs.rs` syncs and applies run
//! in tasks with a page that shows their progress; `multipart.rs` reads upload forms; `svg.rs`
//! draws the charts; `forms.rs` shows a refused field under it; one module per screen (`app_admin.rs`: an app's configuration forms; `tasks.rs`: manual
//! apps' tasks; `notify.rs`: notification channels; `reclaims.rs`: license reclaims and activity).

mod admins;
mod app_admin;
mod app_kinds;
mod apps;
mod audit;
mod auth;
mod forms;
mod headers;
mod holds;
mod jobs;
mod license_pools;
mod licenses;
mod login;
mod multipart;
mod notify;
mod overview;
mod people;
mod plans;
mod reclaims;
mod source_ldap;
mod sources;
mod svg;
mod tasks;
mod view;
mod workflows;

pub use auth::SignInLimits;
pub use jobs::Jobs;

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
        .route("/apps/new", get(app_admin::new_form).post(app_admin::create))
        .route("/apps/new/{kind}", get(app_kinds::form).post(app_kinds::create))
        .route("/apps/{app}", get(apps::page))
        .route("/apps/{app}/settings", post(app_admin::settings))
        .route("/apps/{app}/mappings", post(app_admin::mappings))
        .route("/apps/{app}/state", post(app_admin::state))
        .route("/apps/{app}/credentials", post(app_admin::credentials))
        .route("/apps/{app}/remove", get(app_admin::remove_form).post(app_admin::remove))
        .route("/apps/{app}/verify", post(apps::verify))
        .route("/apps/{app}/authorize", post(apps::authorize))
        .route("/apps/{app}/assignments", post(apps::assign))
        .route("/apps/{app}/assignments/{id}/remove", post(apps::unassign))
        .route("/apps/{app}/accounts/{account}/adopt", post(apps::adopt))
        .route("/apps/{app}/accounts/{account}/external", post(apps::external))
        .route("/apps/{app}/accounts/{account}/unlink", post(apps::unlink))
        .route("/apps/{app}/operations/{id}", post(apps::operation))
        .route("/plans", get(plans::page))
        .route("/plans/save", post(plans::save))
        .route("/plans/apply", post(plans::apply))
        .route("/plans/guard", post(plans::guard))
        .route("/plans/{id}", get(plans::saved))
        .route("/plans/{id}/decide", post(plans::decide))
        .route("/jobs/{id}", get(jobs::page))
        .route("/people", get(people::list))
        .route("/people/{email}", get(people::person))
        .route("/people/{email}/offboard", post(people::offboard))
        .route("/sources", get(sources::page).post(sources::add))
        .route("/sources/new/ldap", get(source_ldap::form).post(source_ldap::create))
        .route("/sources/{name}", get(sources::show))
        .route("/sources/{name}/sync", post(sources::sync))
        .route("/sources/{name}/scope", post(sources::scope))
        .route(
            "/sources/{name}/upload",
            post(sources::upload).layer(axum::extract::DefaultBodyLimit::max(auth::MAX_UPLOAD)),
        )
        .route("/licenses", get(licenses::page))
        .route("/licenses/pools", get(license_pools::page).post(license_pools::set))
        .route("/licenses/pools/remove", post(license_pools::remove))
        .route("/licenses/reclaims", get(reclaims::page).post(reclaims::start))
        .route(
            "/licenses/activity",
            post(reclaims::activity).layer(axum::extract::DefaultBodyLimit::max(auth::MAX_UPLOAD)),
        )
        .route("/tasks", get(tasks::page))
        .route("/tasks/{id}/close", post(tasks::close))
        .route("/tasks/verify", post(tasks::verify).layer(axum::extract::DefaultBodyLimit::max(auth::MAX_UPLOAD)))
        .route("/notify", get(notify::page).post(notify::add))
        .route("/notify/{name}/remove", post(notify::remove))
        .route("/notify/{name}/test", post(notify::test))
        .route("/notify/{name}/events", post(notify::events))
        .route("/catalog", get(licenses::catalog))
        .route("/audit", get(audit::page))
        .route("/audit/export", get(audit::export))
        .route("/workflows", get(workflows::page).post(workflows::add))
        .route("/workflows/{name}/remove", post(workflows::remove))
        .route("/workflows/runs/{id}/approve", post(workflows::approve))
        .route("/workflows/runs/{id}/reject", post(workflows::reject))
        .route("/holds", get(holds::page))
        .route("/holds/legal", post(holds::place))
        .route("/holds/legal/{email}/lift", post(holds::lift))
        .route("/admins", get(admins::page).post(admins::add))
        .route("/admins/{email}/remove", post(admins::remove))
        .route("/admins/{email}/role", post(admins::change_role))
        .route("/admins/{email}/password", post(admins::password))
        .route("/tokens", post(admins::create_token))
        .route("/tokens/{id}/revoke", post(admins::revoke_token))
        .layer(axum::middleware::from_fn_with_state(state, auth::forgery_check))
        .merge(headers::asset_routes())
        .layer(axum::middleware::from_fn(headers::secure))
}
