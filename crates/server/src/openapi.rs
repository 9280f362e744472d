//! The admin API's OpenAPI 3.1 document, generated from the routes' `#[utoipa::path]`
//! descriptions and the request and response types' `ToSchema` derives, served at
//! `GET /api/v1/openapi.json`. `tests/openapi.rs` walks the router and fails when a route is
//! missing from it.

use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{access, accounts, apps, audit, licenses, lifecycle, oauth, plans, queue, sources, workflows};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tenure admin API",
        description = "Administers one tenant: apps, sources, assignments, plans, licenses, the queue, the audit log, admins \
                       and tokens. Authenticate with `Authorization: Bearer <token>`; the token's admin role decides \
                       what succeeds (403 otherwise), and objects of other tenants do not exist (404)."
    ),
    paths(
        apps::list, apps::create, apps::show, apps::edit, apps::remove, apps::rotate, apps::disable, apps::enable,
        apps::check, apps::assignments, apps::assign, apps::unassign, apps::catalog,
        accounts::accounts, accounts::unlink, accounts::users, accounts::report, accounts::adopt,
        accounts::mark_external, accounts::unmark_external,
        oauth::authorize, oauth::verify,
        plans::plan, plans::save, plans::list, plans::show, plans::diff, plans::approve, plans::reject, plans::apply_saved,
        plans::apply, plans::explain, plans::guard, plans::set_guard,
        sources::list, sources::create, sources::show, sources::edit, sources::remove, sources::sync,
        sources::sync_one, sources::upload_people, sources::upload_groups,
        queue::status, queue::list, queue::retry_all, queue::retry, queue::dismiss,
        audit::list, audit::export, audit::verify,
        licenses::list, licenses::report, licenses::waiting, licenses::set, licenses::remove, licenses::activity, licenses::reclaim, licenses::reclaims,
        access::whoami, access::people, access::groups, access::admins, access::add_admin, access::change_admin,
        access::remove_admin, access::tokens, access::create_token, access::revoke_token,
        lifecycle::offboard, lifecycle::place_legal_hold, lifecycle::lift_legal_hold, lifecycle::legal_holds,
        lifecycle::channels, lifecycle::add_channel, lifecycle::change_channel, lifecycle::notify_events,
        lifecycle::remove_channel,
        lifecycle::test_channel, lifecycle::tasks, lifecycle::close_task, lifecycle::verify_tasks,
        workflows::settings, workflows::set_settings, workflows::list, workflows::add, workflows::remove,
        workflows::runs, workflows::approve, workflows::reject,
    ),
    components(schemas(crate::api::ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "apps", description = "Apps Tenure provisions into"),
        (name = "assignments", description = "Who an app is granted to"),
        (name = "accounts", description = "An app's accounts, reports, marks"),
        (name = "plans", description = "Plans, approvals, apply, explain"),
        (name = "sources", description = "Directory sources, syncs, uploads"),
        (name = "queue", description = "The provisioning queue"),
        (name = "audit", description = "The audit log"),
        (name = "licenses", description = "License pools, seats, waste and cost"),
        (name = "access", description = "Admins, tokens, the caller"),
        (name = "directory", description = "People and groups"),
        (name = "lifecycle", description = "Offboarding, notifications, manual tasks, workflows, the tenant's timezone"),
    )
)]
pub struct ApiDoc;

/// Every route takes a bearer token.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security =
            Some(vec![utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new())]);
    }
}

/// The document, as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

pub async fn serve_document() -> Response {
    axum::Json(document()).into_response()
}
