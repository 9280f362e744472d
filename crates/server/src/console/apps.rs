//! Apps: the list, and an app's page with its tabs: Provisioning (connection, settings, Verify),
//! Users (the live list, paged and searched, with adopt and known-external actions),
//! Assignments (add with a preview of the plan, remove) and Activity (operations and audit).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde::Deserialize;
use tenure_connectors::UserQuery;
use tenure_engine::admin::views::{AppActivityView, AppView, AssignmentView, PlanChange};
use tenure_engine::admin::{AssignmentSpec, Need, Unassign};

use super::app_admin::{self, MappingRow, SettingsForm};
use super::auth::Signed;
use super::overview::health;
use super::svg;
use super::view::{Failure, Nav, Notice, PageResult, render, segment, when, word};

const USERS_PAGE: usize = 25;

pub struct AppLine {
    pub name: String,
    pub href: String,
    pub kind: String,
    pub vendor: String,
    pub health: String,
    pub assignments: usize,
    pub linked: i64,
    pub active: i64,
    /// When an operation last settled, or empty for whoever may not see the queue.
    pub last_activity: String,
    /// Operations per hour over the last day, an inline SVG.
    pub chart: String,
}

#[derive(Template)]
#[template(path = "console/apps.html")]
struct AppsPage {
    nav: Nav,
    notice: Option<Notice>,
    apps: Vec<AppLine>,
    can_add: bool,
}

pub async fn list(signed: Signed) -> PageResult {
    list_page(&signed, None).await
}

pub async fn list_page(signed: &Signed, notice: Option<Notice>) -> PageResult {
    let admin = signed.admin();
    let apps = admin.apps().await?;
    let mut activity: std::collections::HashMap<String, AppActivityView> =
        admin.app_activity().await?.into_iter().map(|a| (a.app.clone(), a)).collect();
    let apps = apps
        .iter()
        .map(|a| {
            let seen = activity.remove(&a.name);
            AppLine {
                name: a.name.clone(),
                href: format!("/apps/{}", segment(&a.name)),
                kind: word(&a.kind),
                vendor: a.settings.vendor.clone().unwrap_or_else(|| "-".into()),
                health: health(a),
                assignments: a.assignments,
                linked: a.linked_accounts,
                active: a.active_accounts,
                last_activity: seen.as_ref().map_or_else(String::new, |s| when(s.last_ms)),
                chart: seen.as_ref().map(|s| svg::hourly(&s.succeeded, &s.failed, 120, 24)).unwrap_or_default(),
            }
        })
        .collect();
    Ok(render(&AppsPage { nav: signed.nav("apps"), notice, apps, can_add: signed.actor.allows(Need::OrgAdmin) }))
}

pub struct VerifyView {
    pub ok: bool,
    pub message: String,
    pub action: Option<String>,
    pub users: String,
    pub blockers: Vec<String>,
    pub observations: Vec<String>,
}

pub struct UserLine {
    pub user_name: String,
    pub email: String,
    pub active: bool,
    pub class: &'static str,
    pub person: String,
    pub other_apps: String,
    pub adoptable: bool,
    pub markable: bool,
    pub unlinkable: bool,
    pub adopt_href: String,
    pub external_href: String,
    pub unlink_href: String,
}

pub struct OpLine {
    pub id: String,
    pub failed: bool,
    pub kind: &'static str,
    pub person: String,
    pub status: String,
    pub attempts: i64,
    pub error: String,
}

pub struct AuditLine {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
}

pub struct Preview {
    pub kind: String,
    pub target: String,
    pub exclude: bool,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/app.html")]
struct AppPage {
    nav: Nav,
    notice: Option<Notice>,
    name: String,
    href: String,
    tab: &'static str,
    can_write: bool,
    can_plans: bool,
    kind: String,
    base_url: String,
    auth: String,
    health: String,
    disabled: bool,
    version: i64,
    settings: String,
    last_error: String,
    verification: Option<VerifyView>,
    /// The app is granted by an admin's consent (OAuth authorization code).
    consent: bool,
    /// Where to send the browser to consent, once asked.
    authorize_url: Option<String>,
    search: String,
    users: Vec<UserLine>,
    users_error: Option<String>,
    /// What the page cannot show: accounts the app's list leaves out, creates the plan refuses.
    users_notes: Vec<String>,
    users_total: String,
    prev_start: Option<usize>,
    next_start: Option<usize>,
    assignments: Vec<AssignmentView>,
    preview: Option<Preview>,
    operations: Vec<OpLine>,
    audit: Vec<AuditLine>,
    settings_form: SettingsForm,
    settings_error: super::forms::Refusal,
    user_name_formats: [&'static str; 3],
    /// Catalog profiles a SCIM app may take (empty for other kinds).
    vendors: Vec<String>,
    settings_plan: Option<PlanLines>,
    deprovision_options: [&'static str; 5],
    /// The kind's own settings the form draws: Drive transfer, manual tasks.
    google: bool,
    m365: bool,
    manual: bool,
    mappings: Vec<MappingRow>,
    /// The credential the app takes (`token`, `client_secret`, ...), empty for a manual app.
    credential_field: &'static str,
    last_activity: String,
    activity_chart: String,
    activity_total: u64,
    activity_failed: u64,
}

/// What a change would add to and take out of a plan, in words.
#[derive(Debug, Clone, Default)]
pub struct PlanLines {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

pub fn plan_lines(change: Option<&PlanChange>) -> PlanLines {
    let describe = |ops: &[tenure_core::PlannedOp]| {
        ops.iter().take(200).map(|o| format!("{} {} ({})", o.kind.name(), o.person, o.reason)).collect::<Vec<_>>()
    };
    change.map(|c| PlanLines { added: describe(&c.added), removed: describe(&c.removed) }).unwrap_or_default()
}

/// What a form left to show on the app's page.
#[derive(Default)]
pub struct Shown {
    pub notice: Option<Notice>,
    pub verification: Option<VerifyView>,
    pub preview: Option<Preview>,
    pub authorize_url: Option<String>,
    /// The settings as typed (after a refusal or with a preview).
    pub settings_form: Option<SettingsForm>,
    pub settings_plan: Option<PlanLines>,
    /// The mappings as typed, with the refused expression's error on its row.
    pub mappings: Option<Vec<MappingRow>>,
    /// A refused setting, shown under its field (`user_name`, `vendor`, ...).
    pub settings_error: super::forms::Refusal,
}

impl AppPage {
    fn tab_class(&self, tab: &str) -> &'static str {
        if self.tab == tab { "tab current" } else { "tab" }
    }

    fn users_href(&self, start: &usize) -> String {
        format!("{}?tab=users&start={start}&q={}", self.href, segment(&self.search))
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AppQuery {
    #[serde(default)]
    tab: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    start: Option<usize>,
}

fn tab(name: Option<&str>) -> &'static str {
    match name {
        Some("users") => "users",
        Some("assignments") => "assignments",
        Some("activity") => "activity",
        _ => "provisioning",
    }
}

pub async fn page(signed: Signed, Path(app): Path<String>, Query(query): Query<AppQuery>) -> PageResult {
    let tab = tab(query.tab.as_deref());
    app_page(&signed, &app, tab, &query, None, None, None).await
}

async fn app_page(
    signed: &Signed,
    name: &str,
    tab: &'static str,
    query: &AppQuery,
    notice: Option<Notice>,
    verification: Option<VerifyView>,
    preview: Option<Preview>,
) -> PageResult {
    app_page_shown(signed, name, tab, query, Shown { notice, verification, preview, ..Default::default() }).await
}

pub async fn app_page_shown(
    signed: &Signed,
    name: &str,
    tab: &'static str,
    query: &AppQuery,
    shown: Shown,
) -> PageResult {
    let Shown { notice, verification, preview, authorize_url, settings_form, settings_plan, mappings, settings_error } =
        shown;
    let admin = signed.admin();
    let app: AppView = admin.app(name).await?;
    let can_write = signed.actor.allows(Need::AppWrite(app.id));
    let can_plans = signed.actor.allows(Need::AppPlans(app.id));
    let href = format!("/apps/{}", segment(&app.name));
    let mut page = AppPage {
        nav: signed.nav("apps"),
        notice,
        name: app.name.clone(),
        href: href.clone(),
        tab,
        can_write,
        can_plans,
        kind: word(&app.kind),
        base_url: app.base_url.clone(),
        auth: serde_json::to_string(&app.auth).unwrap_or_default(),
        health: health(&app),
        disabled: app.disabled,
        version: app.version,
        settings: serde_json::to_string_pretty(&app.settings).unwrap_or_default(),
        last_error: app.last_error.clone().unwrap_or_default(),
        verification,
        consent: matches!(app.auth, tenure_store::AppAuth::OauthAuthorizationCode { .. }),
        authorize_url: None,
        search: query.q.clone().unwrap_or_default().trim().to_owned(),
        users: Vec::new(),
        users_error: None,
        users_notes: Vec::new(),
        users_total: String::new(),
        prev_start: None,
        next_start: None,
        assignments: Vec::new(),
        preview,
        operations: Vec::new(),
        audit: Vec::new(),
        settings_form: settings_form.unwrap_or_else(|| SettingsForm::of(&app.settings)),
        settings_error,
        user_name_formats: app_admin::USER_NAME_FORMATS,
        vendors: if app.kind == tenure_core::AppKind::Scim && !app.settings.manual() {
            admin.catalog().into_iter().filter(|c| c.scim).map(|c| c.name).collect()
        } else {
            Vec::new()
        },
        settings_plan,
        deprovision_options: app_admin::DEPROVISION,
        google: app.settings.google_workspace.is_some(),
        m365: app.settings.m365.is_some(),
        manual: app.settings.manual(),
        mappings: mappings.unwrap_or_else(|| app_admin::mapping_rows(&app.settings)),
        credential_field: app_admin::credential_field(&app),
        last_activity: String::new(),
        activity_chart: String::new(),
        activity_total: 0,
        activity_failed: 0,
    };
    if can_plans && let Some(seen) = admin.app_activity().await?.into_iter().find(|a| a.app == app.name) {
        page.last_activity = when(seen.last_ms);
        page.activity_total = seen.succeeded.iter().chain(&seen.failed).sum();
        page.activity_failed = seen.failed.iter().sum();
        page.activity_chart = svg::hourly(&seen.succeeded, &seen.failed, 480, 80);
    }
    match tab {
        "users" => {
            let start = query.start.unwrap_or(1).max(1);
            let search = Some(page.search.clone()).filter(|s| !s.is_empty());
            match admin.app_users(&app.name, &UserQuery { start_index: start, count: USERS_PAGE, search }).await {
                Ok(users) => {
                    page.users_total = users.total.map_or_else(|| "?".into(), |t| t.to_string());
                    page.prev_start = (start > 1).then(|| start.saturating_sub(USERS_PAGE).max(1));
                    let shown = users.accounts.len();
                    if shown == USERS_PAGE && users.total.is_none_or(|t| start + shown <= t) {
                        page.next_start = Some(start + shown);
                    }
                    page.users_notes =
                        users.unseen.into_iter().chain(users.problems.into_iter().map(|p| p.message)).collect();
                    page.users = users
                        .accounts
                        .into_iter()
                        .map(|a| {
                            let class = a.class.as_str();
                            let account = segment(&a.remote_id);
                            UserLine {
                                adoptable: matches!(class, "unmanaged" | "ambiguous" | "matched"),
                                markable: class == "unmanaged",
                                unlinkable: a.origin.is_some(),
                                adopt_href: format!("{href}/accounts/{account}/adopt"),
                                external_href: format!("{href}/accounts/{account}/external"),
                                unlink_href: format!("{href}/accounts/{account}/unlink"),
                                user_name: a.user_name,
                                email: a.email.unwrap_or_default(),
                                active: a.active,
                                class,
                                person: a.person.unwrap_or_default(),
                                other_apps: a.other_apps.join(", "),
                            }
                        })
                        .collect();
                }
                Err(e) => page.users_error = Some(e.to_string()),
            }
        }
        "assignments" => page.assignments = admin.assignments(&app.name).await?,
        "activity" => {
            if can_plans {
                page.operations = admin
                    .operations(None, Some(&app.name), 50)
                    .await?
                    .into_iter()
                    .map(|o| OpLine {
                        id: o.id.to_string(),
                        failed: o.status == tenure_store::OperationStatus::Failed,
                        kind: o.op.kind.name(),
                        person: o.op.person.clone(),
                        status: o.status.as_str().to_owned(),
                        attempts: o.attempts,
                        error: o.last_error.unwrap_or_default(),
                    })
                    .collect();
            }
            if signed.actor.allows(Need::Audit) {
                let filter = tenure_store::AuditFilter { app: Some(app.name.clone()), ..Default::default() };
                page.audit = admin
                    .audit(&filter, None, 50)
                    .await?
                    .entries
                    .into_iter()
                    .map(|e| AuditLine {
                        at: when(Some(e.at_ms)),
                        actor: e.actor,
                        action: e.action,
                        subject: e.subject,
                    })
                    .collect();
            }
        }
        _ => {}
    }
    page.authorize_url = authorize_url;
    Ok(render(&page))
}

pub async fn verify(signed: Signed, Path(app): Path<String>) -> PageResult {
    let v = signed.admin().verify_app(&app).await?;
    let view = VerifyView {
        ok: v.ok,
        message: v.message,
        action: v.action,
        users: match (v.users_on_first_page, v.total_users) {
            (_, Some(total)) => format!("{total} users in the app"),
            (Some(n), None) => format!("{n} users on the first page"),
            (None, None) => String::new(),
        },
        blockers: v.blockers,
        observations: v.observations,
    };
    app_page(&signed, &app, "provisioning", &AppQuery::default(), None, Some(view), None).await
}

#[derive(Debug, Deserialize)]
pub struct AssignForm {
    kind: String,
    target: String,
    #[serde(default)]
    exclude: Option<String>,
    /// `preview` or `save`.
    #[serde(default)]
    action: Option<String>,
}

pub async fn assign(signed: Signed, Path(app): Path<String>, Form(form): Form<AssignForm>) -> PageResult {
    let target = form.target.trim().to_owned();
    let mut spec = AssignmentSpec { exclude: form.exclude.is_some(), ..Default::default() };
    match form.kind.as_str() {
        "person" => spec.person = Some(target.clone()),
        "group" => spec.group = Some(target.clone()),
        "org_unit" => spec.org_unit = Some(target.clone()),
        "rule" => spec.rule = Some(target.clone()),
        other => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                format!("{other:?}: assign a person, group, org_unit or rule"),
            ));
        }
    }
    let preview = form.action.as_deref() != Some("save");
    let query = AppQuery { tab: Some("assignments".into()), ..Default::default() };
    match signed.admin().assign(&app, &spec, preview).await {
        Ok(change) if preview => {
            let describe = |ops: &[tenure_core::PlannedOp]| {
                ops.iter().map(|o| format!("{} {} ({})", o.kind.name(), o.person, o.reason)).collect::<Vec<_>>()
            };
            let (added, removed) =
                change.plan.as_ref().map(|p| (describe(&p.added), describe(&p.removed))).unwrap_or_default();
            let preview = Preview { kind: form.kind.clone(), target, exclude: spec.exclude, added, removed };
            app_page(&signed, &app, "assignments", &query, None, None, Some(preview)).await
        }
        Ok(_) => {
            let notice = Notice::ok(format!(
                "Saved: {} {target} {}.",
                form.kind,
                if spec.exclude { "excluded" } else { "assigned" }
            ));
            app_page(&signed, &app, "assignments", &query, notice, None, None).await
        }
        Err(e @ tenure_engine::EngineError::Forbidden(_)) => Err(e.into()),
        Err(e) => app_page(&signed, &app, "assignments", &query, Notice::error(e.to_string()), None, None).await,
    }
}

pub async fn unassign(signed: Signed, Path((app, id)): Path<(String, String)>) -> PageResult {
    let id = id.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, format!("assignment {id} not found")))?;
    signed.admin().unassign(&app, Unassign::Id(id), false).await?;
    let query = AppQuery { tab: Some("assignments".into()), ..Default::default() };
    app_page(&signed, &app, "assignments", &query, Notice::ok("Assignment removed."), None, None).await
}

#[derive(Debug, Deserialize)]
pub struct AdoptForm {
    person: String,
}

pub async fn adopt(
    signed: Signed,
    Path((app, account)): Path<(String, String)>,
    Form(form): Form<AdoptForm>,
) -> PageResult {
    let query = AppQuery { tab: Some("users".into()), ..Default::default() };
    let notice = match signed.admin().adopt(&app, &account, form.person.trim()).await {
        Ok(a) => Notice::ok(format!("{} is now linked to {}.", a.user_name, a.person)),
        Err(e @ tenure_engine::EngineError::Forbidden(_)) => return Err(e.into()),
        Err(e) => Notice::error(e.to_string()),
    };
    app_page(&signed, &app, "users", &query, notice, None, None).await
}

#[derive(Debug, Deserialize)]
pub struct ExternalForm {
    #[serde(default)]
    note: Option<String>,
}

pub async fn external(
    signed: Signed,
    Path((app, account)): Path<(String, String)>,
    Form(form): Form<ExternalForm>,
) -> PageResult {
    let note = form.note.as_deref().map(str::trim).unwrap_or_default();
    let note = if note.is_empty() { "known external (console)" } else { note };
    signed.admin().mark_external(&app, &account, Some(note)).await?;
    let query = AppQuery { tab: Some("users".into()), ..Default::default() };
    app_page(&signed, &app, "users", &query, Notice::ok("Marked as a known external account."), None, None).await
}

pub async fn unlink(signed: Signed, Path((app, account)): Path<(String, String)>) -> PageResult {
    signed.admin().unlink(&app, &account).await?;
    let query = AppQuery { tab: Some("users".into()), ..Default::default() };
    let notice = Notice::ok("Unlinked: Tenure no longer manages this account (nothing changed in the app).");
    app_page(&signed, &app, "users", &query, notice, None, None).await
}

#[derive(Debug, Deserialize)]
pub struct OperationForm {
    /// `retry` or `dismiss`.
    what: String,
}

/// Puts a failed operation back in the queue, or gives up on it.
pub async fn operation(
    signed: Signed,
    Path((app, id)): Path<(String, String)>,
    Form(form): Form<OperationForm>,
) -> PageResult {
    let id = id.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, format!("operation {id} not found")))?;
    let admin = signed.admin();
    let notice = match form.what.as_str() {
        "retry" => {
            admin.retry_operations(Some(id)).await?;
            Notice::ok("Queued again.")
        }
        "dismiss" => {
            admin.dismiss_operation(id).await?;
            Notice::ok("Dismissed: it will not run.")
        }
        other => return Err(Failure::new(StatusCode::BAD_REQUEST, format!("{other:?}: retry or dismiss"))),
    };
    let query = AppQuery { tab: Some("activity".into()), ..Default::default() };
    app_page(&signed, &app, "activity", &query, notice, None, None).await
}

/// Starts the app's OAuth authorization-code flow. The page answers a link to the authorization
/// server rather than a redirect: the console's policy lets forms lead only to this server.
pub async fn authorize(
    axum::extract::State(state): axum::extract::State<crate::ServerState>,
    signed: Signed,
    Path(app): Path<String>,
) -> PageResult {
    let Some(public) = state.public_url.as_deref() else {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            "the server does not know its public URL, which the authorization server must send the browser back \
             to: start it with --public-url (e.g. https://tenure.example.com)",
        ));
    };
    let redirect_uri = format!("{}{}", public.trim_end_matches('/'), crate::oauth::CALLBACK_PATH);
    let start = signed.admin().authorize_app(&app, &redirect_uri).await?;
    let notice = Notice::ok(format!(
        "Consent at the app's authorization server within {} minutes; it sends you back here.",
        start.expires_in_s / 60
    ));
    let shown = Shown { notice, authorize_url: Some(start.authorize_url), ..Default::default() };
    app_page_shown(&signed, &app, "provisioning", &AppQuery::default(), shown).await
}
