//! The front hall: every administrative change is a typed command here. A command checks the
//! actor's role, validates its input, and writes the change with its audit entry (naming the
//! actor) in one store transaction. The CLI, the API and the console are adapters: they parse,
//! call [`Engine::admin`] and render the response types of [`views`].
//!
//! A new command goes in the file of its subject (`apps.rs`, `sources.rs`, `assignments.rs`,
//! `access.rs` for admins and tokens, `plans.rs` (`saved_plans.rs`: applying a saved plan), `accounts.rs`, `tenants.rs`, `keys.rs`, `guard.rs`,
//! `licenses.rs`, `legal_holds.rs`, `workflows.rs`),
//! as a method of [`Admin`] that starts with an [`Actor::require`] check.

mod access;
mod accounts;
mod activity;
mod apps;
mod assignments;
mod catalog;
mod guard;
mod keys;
mod legal_holds;
mod licenses;
mod notify;
mod offboard;
mod plans;
mod saved_plans;
pub mod sessions;
mod sources;
mod successor;
mod tenants;
pub mod views;
mod workflows;

pub use access::{AdminChange, NewAdmin, NewToken, hash_password, verify_password};
pub use activity::ACTIVITY_HOURS;
pub use apps::{AppCheck, zoom_token_url};
pub use apps::{
    AppEdit, Credentials, GITHUB_API_URL, GithubSpec, GoogleSpec, MappingSpec, NewApp, NewAppKind, OauthSpec,
    SettingsSpec,
};
pub use assignments::{AssignmentSpec, Unassign};
pub use catalog::catalog_apps;
pub use guard::{GuardSpec, GuardView};
pub use legal_holds::{LegalHoldSpec, LegalHoldView, MAX_HOLD_REASON};
pub use licenses::{
    ActivityEntry, ActivityUpload, DEFAULT_CURRENCY, LicenseSpec, MAX_ACTIVITY_ROWS, ReclaimSpec, WaitingView,
};
pub use notify::{ChannelChange, ChannelSpec, ChannelTest, ChannelView, EventView, TaskRead, TaskView};
pub use offboard::{OffboardRequest, OffboardSpec, OffboardStep, OffboardView, OffboardingState};
pub(crate) use offboard::{QueuedOffboarding, offboarding_notice, plan_status};
pub use sources::{NewSource, Origin, SourceEdit, redact_secrets};
pub use tenants::{DEFAULT_TENANT, create_tenant, list_tenants, resolve_tenant};
pub use workflows::{RunStepView, RunView, SettingsChange, TenantSettings, WorkflowSpec, WorkflowView};

use tenure_core::{AppId, Role};
use tenure_store::AdminRecord;

use crate::{Engine, EngineError};

/// Who is acting, and with which role: an admin (directly or through a token of theirs), an
/// older admin token (org admin), the CLI's operator (org admin: whoever holds the database
/// and its keys), or Tenure itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// As the audit log names it: an email, `token:LABEL:ID`, `cli`, `system`.
    pub name: String,
    pub role: Role,
    /// The apps of an app admin.
    pub apps: Vec<AppId>,
}

/// What a command needs of its actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read the tenant's directory, sources, admins, tokens, queue: org admins and auditors.
    TenantRead,
    /// Change anything that is not one app's: org admins only.
    OrgAdmin,
    /// The audit log: org admins and auditors.
    Audit,
    /// Read an app (settings, assignments, users, report): every role but an app admin of
    /// other apps.
    AppRead(AppId),
    /// An app's plans, queue and explanations: org admins, auditors, its app admins.
    AppPlans(AppId),
    /// Change an app (settings, credentials, assignments, accounts, its held plans): org admins
    /// and its app admins.
    AppWrite(AppId),
    /// Reports and license data across apps: org admins, auditors, license admins.
    Reports,
    /// Change license pools and their activity data: org admins and license admins.
    Licenses,
}

impl Actor {
    /// The operator at the command line, who holds the database and its keys.
    pub fn cli() -> Self {
        Self { name: "cli".into(), role: Role::OrgAdmin, apps: Vec::new() }
    }

    /// Tenure itself (the scheduler, watched directories).
    pub fn system() -> Self {
        Self { name: "system".into(), role: Role::OrgAdmin, apps: Vec::new() }
    }

    /// An admin, signed in or through one of their tokens.
    pub fn admin(admin: &AdminRecord) -> Self {
        Self { name: admin.email.clone(), role: admin.role, apps: admin.apps.clone() }
    }

    /// An admin token that belongs to nobody (created with `--scope admin`): an org admin,
    /// named by its label and id.
    pub fn token(label: Option<&str>, id: tenure_core::TokenId) -> Self {
        Self { name: format!("token:{}:{id}", label.unwrap_or("unlabelled")), role: Role::OrgAdmin, apps: Vec::new() }
    }

    pub fn allows(&self, need: Need) -> bool {
        match (self.role, need) {
            (Role::OrgAdmin, _) => true,
            (Role::Auditor, Need::OrgAdmin | Need::AppWrite(_) | Need::Licenses) => false,
            (Role::Auditor, _) => true,
            (Role::LicenseAdmin, Need::AppRead(_) | Need::Reports | Need::Licenses) => true,
            (Role::LicenseAdmin, _) => false,
            (Role::AppAdmin, Need::AppRead(app) | Need::AppPlans(app) | Need::AppWrite(app)) => {
                self.apps.contains(&app)
            }
            (Role::AppAdmin, _) => false,
        }
    }

    pub fn require(&self, need: Need) -> Result<(), EngineError> {
        if self.allows(need) {
            return Ok(());
        }
        let what = match need {
            Need::TenantRead => "reading the tenant's settings needs an org admin or an auditor",
            Need::OrgAdmin => "this change needs an org admin",
            Need::Audit => "the audit log is for org admins and auditors",
            Need::AppRead(_) => "this app is not one of yours",
            Need::AppPlans(_) => "this app's plans and queue are for org admins, auditors and its app admins",
            Need::AppWrite(_) if self.role == Role::AppAdmin => "this app is not one of yours",
            Need::AppWrite(_) => "changing an app needs an org admin or one of its app admins",
            Need::Reports => "reports are for org admins, license admins and auditors",
            Need::Licenses => "license pools are changed by org admins and license admins",
        };
        Err(EngineError::Forbidden(format!("{} ({}): {what}", self.name, self.role)))
    }

    /// Whether the actor sees every app (not only some of them).
    pub fn sees_every_app(&self) -> bool {
        self.role != Role::AppAdmin
    }
}

/// The admin commands of one tenant, as one actor.
pub struct Admin<'a> {
    engine: &'a Engine,
    actor: &'a Actor,
}

impl Engine {
    /// The admin commands, acting as `actor`.
    pub fn admin<'a>(&'a self, actor: &'a Actor) -> Admin<'a> {
        Admin { engine: self, actor }
    }
}

impl Admin<'_> {
    pub fn actor(&self) -> &Actor {
        self.actor
    }

    fn store(&self) -> &tenure_store::Store {
        &self.engine.store
    }

    fn tenant(&self) -> tenure_core::TenantId {
        self.engine.tenant
    }
}

/// A version given by a caller (an `If-Match`), checked before anything is computed, so a stale
/// edit fails fast with the current version; the store checks it again when it writes.
pub(crate) fn check_version(what: &str, expected: Option<i64>, current: i64) -> Result<i64, EngineError> {
    match expected {
        Some(v) if v != current => {
            Err(tenure_store::StoreError::Stale { what: what.to_owned(), expected: v, current }.into())
        }
        _ => Ok(expected.unwrap_or(current)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_what_the_issue_says() {
        let mine = AppId::new();
        let other = AppId::new();
        let actor = |role| Actor { name: "a@x".into(), role, apps: vec![mine] };
        let org = actor(Role::OrgAdmin);
        let app = actor(Role::AppAdmin);
        let license = actor(Role::LicenseAdmin);
        let auditor = actor(Role::Auditor);
        for need in [Need::TenantRead, Need::OrgAdmin, Need::Audit, Need::AppWrite(other), Need::Reports] {
            assert!(org.allows(need), "{need:?}");
        }
        assert!(app.allows(Need::AppWrite(mine)) && app.allows(Need::AppPlans(mine)));
        assert!(!app.allows(Need::AppWrite(other)) && !app.allows(Need::AppRead(other)));
        assert!(!app.allows(Need::TenantRead) && !app.allows(Need::Audit) && !app.allows(Need::Reports));
        assert!(license.allows(Need::AppRead(other)) && license.allows(Need::Reports));
        assert!(license.allows(Need::Licenses) && org.allows(Need::Licenses));
        assert!(!auditor.allows(Need::Licenses) && !app.allows(Need::Licenses));
        assert!(!license.allows(Need::AppWrite(mine)) && !license.allows(Need::AppPlans(mine)));
        assert!(
            auditor.allows(Need::Audit) && auditor.allows(Need::AppPlans(other)) && auditor.allows(Need::TenantRead)
        );
        assert!(!auditor.allows(Need::OrgAdmin) && !auditor.allows(Need::AppWrite(mine)));
        let err = auditor.require(Need::OrgAdmin).unwrap_err().to_string();
        assert!(err.contains("auditor") && err.contains("org admin"), "{err}");
    }
}
