//! An app's configuration from the console: adding one from the catalog, its settings
//! (deprovisioning, match keys, guard, pace) with a preview of what they change, its mappings (a
//! bad expression is shown under its field, line, column and caret), pausing and resuming it,
//! removing it after a confirmation that lists what stays in the app, and new credentials. Every
//! form calls the engine's app commands as the signed-in admin; the forms hold no rules.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde::Deserialize;
use tenure_core::{AppKind, AppSettings, DeprovisionPolicy, MatchKey};
use tenure_engine::EngineError;
use tenure_engine::admin::views::AppView;
use tenure_engine::admin::{AppEdit, Credentials, MappingSpec, Need, NewApp, NewAppKind, SettingsSpec};
use tenure_store::AppAuth;

use super::apps::{self, AppQuery, Shown};
use super::auth::Signed;
use super::view::{Failure, Nav, Notice, PageResult, render, segment};

/// The form's text for each setting, as shown (the app's values) or as typed (after a refusal).
#[derive(Debug, Clone, Default)]
pub struct SettingsForm {
    pub deprovision: String,
    pub delete_after_days: String,
    pub match_keys: String,
    pub guard_percent: String,
    pub guard_count: String,
    pub guard_window_s: String,
    pub rate_limit: String,
    pub burst: String,
    pub max_concurrency: String,
    /// Budgets over a long window (`limits.windows`): requests in any hour, in any 24 hours.
    pub rate_limit_per_hour: String,
    pub rate_limit_per_day: String,
    /// The catalog profile (SCIM apps); emptied, the profile stays (the engine keeps it).
    pub vendor: String,
    /// `email`, `local-part` or `handle`, and the longest a derived userName may be.
    pub user_name: String,
    pub user_name_max_len: String,
    /// `on` while the app is planned and logged but never written to.
    pub dry_run: String,
    /// Whether the posted form carried the dry-run checkbox at all: an unticked box is simply
    /// absent, so only a form that says it showed the box may switch dry run off (a hand-made or
    /// older form without it must not start writing to an app that was only being watched).
    pub dry_run_shown: bool,
    /// Google Workspace apps: `manager`, an address, or empty (no Drive transfer).
    pub transfer_drive_to: String,
    /// Only a form that drew the Drive field may empty it (an absent field is not a cleared one).
    pub transfer_drive_to_shown: bool,
    /// The SKUs Tenure manages: a Google Workspace app's License Manager SKUs
    /// (`PRODUCT:SKU=TIER,...`), a Microsoft 365 app's part numbers (`SPE_E3,SPE_E5`); emptied,
    /// a Google app's licenses are not managed and a Microsoft 365 app's tier is any SKU.
    pub license_skus: String,
    /// As `transfer_drive_to_shown`: only a form that drew the field may empty it.
    pub license_skus_shown: bool,
    /// Manual apps: how long a task has (`3d`, `12h`, `5400s`); empty: the default.
    pub task_due: String,
    /// Manual apps: `on` while closed tasks await the next read of the app.
    pub verify_by_read: String,
    /// As `dry_run_shown`: only a form that drew the box may untick it.
    pub verify_by_read_shown: bool,
}

/// A task's due period as the form writes it: whole days or hours where it is one.
fn due_text(seconds: u64) -> String {
    if seconds.is_multiple_of(86_400) {
        format!("{}d", seconds / 86_400)
    } else if seconds.is_multiple_of(3_600) {
        format!("{}h", seconds / 3_600)
    } else {
        format!("{seconds}s")
    }
}

/// `3d`, `12h`, `90m`, `5400s` or plain seconds; `0` restores the default.
fn due_seconds(text: &str) -> Result<u64, EngineError> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let per = match unit.trim() {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(bad("settings.task_due_s", format!("{text:?}: a number of days (3d) or hours (12h)"))),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(per))
        .ok_or_else(|| bad("settings.task_due_s", format!("{text:?}: a number of days (3d) or hours (12h)")))
}

pub const USER_NAME_FORMATS: [&str; 3] = ["email", "local-part", "handle"];

fn user_name_word(format: &tenure_core::UserNameFormat) -> &'static str {
    match format {
        tenure_core::UserNameFormat::Email => "email",
        tenure_core::UserNameFormat::EmailLocalPart { .. } => "local-part",
        tenure_core::UserNameFormat::Handle { .. } => "handle",
    }
}

pub const DEPROVISION: [&str; 5] = ["deactivate", "delete", "deactivate-then-delete", "remove-license", "do-nothing"];

fn policy_word(policy: &DeprovisionPolicy) -> (&'static str, Option<u32>) {
    match policy {
        DeprovisionPolicy::Deactivate => ("deactivate", None),
        DeprovisionPolicy::Delete => ("delete", None),
        DeprovisionPolicy::DeactivateThenDelete { after_days } => ("deactivate-then-delete", Some(*after_days)),
        DeprovisionPolicy::RemoveLicense => ("remove-license", None),
        DeprovisionPolicy::DoNothing => ("do-nothing", None),
    }
}

fn key_word(key: MatchKey) -> &'static str {
    match key {
        MatchKey::ExternalId => "external-id",
        MatchKey::UserName => "user-name",
        MatchKey::Email => "email",
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

impl SettingsForm {
    /// The app's settings as the form shows them; a limit left to its default is empty.
    pub fn of(settings: &AppSettings) -> Self {
        let (deprovision, after) = policy_word(&settings.deprovision);
        let limits = settings.limits.as_ref();
        Self {
            deprovision: deprovision.to_owned(),
            delete_after_days: opt(after),
            match_keys: settings.match_keys.iter().map(|k| key_word(*k)).collect::<Vec<_>>().join(", "),
            guard_percent: opt(settings.guard.map(|g| g.max_percent)),
            guard_count: opt(settings.guard.map(|g| g.max_count)),
            guard_window_s: opt(settings.guard.map(|g| g.window_s)),
            rate_limit: opt(limits.and_then(|l| l.per_second)),
            burst: opt(limits.and_then(|l| l.burst)),
            max_concurrency: opt(limits.and_then(|l| l.concurrency)),
            rate_limit_per_hour: opt(window(settings, tenure_core::RequestWindow::HOUR)),
            rate_limit_per_day: opt(window(settings, tenure_core::RequestWindow::DAY)),
            vendor: settings.vendor.clone().unwrap_or_default(),
            user_name: user_name_word(&settings.user_name).to_owned(),
            user_name_max_len: opt(settings.user_name.max_len()),
            dry_run: if settings.dry_run { "on".into() } else { String::new() },
            dry_run_shown: true,
            transfer_drive_to: settings
                .google_workspace
                .as_ref()
                .and_then(|g| g.transfer_drive_to.clone())
                .unwrap_or_default(),
            transfer_drive_to_shown: true,
            license_skus: match (&settings.google_workspace, &settings.m365) {
                (Some(g), _) => tenure_connectors::google_workspace::licensing::format_skus(&g.license_skus),
                (None, Some(m)) => m.license_skus.join(","),
                (None, None) => String::new(),
            },
            license_skus_shown: true,
            task_due: opt(settings.manual.as_ref().and_then(|m| m.task_due_s).map(due_text)),
            verify_by_read: if settings.manual.as_ref().is_some_and(|m| m.verify_by_read) {
                "on".into()
            } else {
                String::new()
            },
            verify_by_read_shown: true,
        }
    }

    fn typed(pairs: &[(String, String)]) -> Self {
        let get = |name: &str| field(pairs, name).to_owned();
        Self {
            deprovision: get("deprovision"),
            delete_after_days: get("delete_after_days"),
            match_keys: get("match_keys"),
            guard_percent: get("guard_percent"),
            guard_count: get("guard_count"),
            guard_window_s: get("guard_window_s"),
            rate_limit: get("rate_limit"),
            burst: get("burst"),
            max_concurrency: get("max_concurrency"),
            rate_limit_per_hour: get("rate_limit_per_hour"),
            rate_limit_per_day: get("rate_limit_per_day"),
            vendor: get("vendor"),
            user_name: get("user_name"),
            user_name_max_len: get("user_name_max_len"),
            // A checkbox is absent when unticked.
            dry_run: if get("dry_run").is_empty() { String::new() } else { "on".into() },
            dry_run_shown: !get("dry_run_shown").is_empty(),
            transfer_drive_to: get("transfer_drive_to"),
            transfer_drive_to_shown: !get("transfer_drive_to_shown").is_empty(),
            license_skus: get("license_skus"),
            license_skus_shown: !get("license_skus_shown").is_empty(),
            task_due: get("task_due"),
            verify_by_read: if get("verify_by_read").is_empty() { String::new() } else { "on".into() },
            verify_by_read_shown: !get("verify_by_read_shown").is_empty(),
        }
    }

    /// The settings the form changes: only fields whose text differs from what the app has,
    /// so an untouched form changes nothing (and a default stays a default).
    fn spec(&self, current: &Self, confirm_delete: bool) -> Result<SettingsSpec, EngineError> {
        fn number<T: std::str::FromStr>(field: &str, text: &str) -> Result<Option<T>, EngineError> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse().map(Some).map_err(|_| bad(field, format!("{text:?} is not a number")))
        }
        let changed = |mine: &str, theirs: &str| mine.trim() != theirs.trim();
        let mut spec = SettingsSpec { confirm_permanent_delete: confirm_delete, ..Default::default() };
        if changed(&self.deprovision, &current.deprovision)
            || changed(&self.delete_after_days, &current.delete_after_days)
        {
            spec.deprovision = Some(self.deprovision.trim().to_owned());
            spec.delete_after_days = number("settings.delete_after_days", &self.delete_after_days)?;
        }
        if changed(&self.match_keys, &current.match_keys) {
            spec.match_keys =
                Some(self.match_keys.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect());
        }
        if changed(&self.guard_percent, &current.guard_percent) {
            spec.guard_percent = number("settings.guard_percent", &self.guard_percent)?;
        }
        if changed(&self.guard_count, &current.guard_count) {
            spec.guard_count = number("settings.guard_count", &self.guard_count)?;
        }
        if changed(&self.guard_window_s, &current.guard_window_s) {
            spec.guard_window_s = number("settings.guard_window_s", &self.guard_window_s)?;
        }
        if changed(&self.rate_limit, &current.rate_limit) {
            spec.rate_limit = number("settings.rate_limit", &self.rate_limit)?;
        }
        if changed(&self.burst, &current.burst) {
            spec.burst = number("settings.burst", &self.burst)?;
        }
        if changed(&self.max_concurrency, &current.max_concurrency) {
            spec.max_concurrency = number("settings.max_concurrency", &self.max_concurrency)?;
        }
        // 0 removes a budget; an emptied field changes nothing (as every number here).
        if changed(&self.rate_limit_per_hour, &current.rate_limit_per_hour) {
            spec.rate_limit_per_hour = number("settings.rate_limit_per_hour", &self.rate_limit_per_hour)?;
        }
        if changed(&self.rate_limit_per_day, &current.rate_limit_per_day) {
            spec.rate_limit_per_day = number("settings.rate_limit_per_day", &self.rate_limit_per_day)?;
        }
        if changed(&self.vendor, &current.vendor) && !self.vendor.trim().is_empty() {
            spec.vendor = Some(self.vendor.trim().to_owned());
        }
        if changed(&self.user_name, &current.user_name) || changed(&self.user_name_max_len, &current.user_name_max_len)
        {
            spec.user_name = Some(self.user_name.trim().to_owned()).filter(|u| !u.is_empty());
            spec.user_name_max_len = number("settings.user_name_max_len", &self.user_name_max_len)?;
        }
        if self.dry_run_shown && changed(&self.dry_run, &current.dry_run) {
            spec.dry_run = Some(!self.dry_run.is_empty());
        }
        // Emptied, the field stops transferring (the engine's empty value).
        if self.transfer_drive_to_shown && changed(&self.transfer_drive_to, &current.transfer_drive_to) {
            spec.transfer_drive_to = Some(self.transfer_drive_to.trim().to_owned());
        }
        // Emptied, Tenure stops managing licenses (the engine refuses it while remove-license
        // needs them).
        if self.license_skus_shown && changed(&self.license_skus, &current.license_skus) {
            spec.license_skus = Some(self.license_skus.trim().to_owned());
        }
        // Emptied, it changes nothing (as every number here); 0 restores the default.
        if changed(&self.task_due, &current.task_due) && !self.task_due.trim().is_empty() {
            spec.task_due_s = Some(due_seconds(&self.task_due)?);
        }
        if self.verify_by_read_shown && changed(&self.verify_by_read, &current.verify_by_read) {
            spec.verify_by_read = Some(!self.verify_by_read.is_empty());
        }
        Ok(spec)
    }
}

/// The app's budget over a window of `seconds`, if it has one.
fn window(settings: &AppSettings, seconds: u64) -> Option<u32> {
    settings.limits.as_ref()?.windows.iter().find(|w| w.seconds == seconds).map(|w| w.requests)
}

/// A field error the console found before asking the engine, worded as the engine words its own.
fn bad(field: &str, message: impl Into<String>) -> EngineError {
    EngineError::BadField { field: field.to_owned(), message: message.into() }
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// The version the form was drawn from: the engine refuses a change made over a newer one.
fn version(pairs: &[(String, String)]) -> Result<Option<i64>, Failure> {
    let raw = field(pairs, "version").trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| Failure::new(StatusCode::BAD_REQUEST, format!("version {raw:?}: not a version this page gave")))
}

/// A refusal of the role is the page's 403; any other problem is said on the page.
fn said(e: EngineError) -> Result<Option<Notice>, Failure> {
    match e {
        e @ EngineError::Forbidden(_) => Err(e.into()),
        e => Ok(Notice::error(e.to_string())),
    }
}

/// What the mapping form's rows hold.
#[derive(Debug, Clone, Default)]
pub struct MappingRow {
    pub index: usize,
    pub target: String,
    pub expression: String,
    pub on_create: bool,
    pub error: Option<ExpressionError>,
}

/// An expression the engine refused, as it shows under the field.
#[derive(Debug, Clone)]
pub struct ExpressionError {
    pub message: String,
    pub line: usize,
    pub column: usize,
    /// The expression's line with a caret under the mistake.
    pub caret: String,
}

/// The app's mappings as rows, with one empty row to add another.
pub fn mapping_rows(settings: &AppSettings) -> Vec<MappingRow> {
    let mut rows: Vec<MappingRow> = settings
        .mappings
        .as_ref()
        .map(|set| {
            set.mappings()
                .iter()
                .enumerate()
                .map(|(index, m)| MappingRow {
                    index,
                    target: m.target.clone(),
                    expression: m.expr.source().to_owned(),
                    on_create: m.apply == tenure_core::expr::Apply::OnCreate,
                    error: None,
                })
                .collect()
        })
        .unwrap_or_default();
    rows.push(MappingRow { index: rows.len(), ..Default::default() });
    rows
}

/// Which credential the app takes, by its kind and authentication (what `Credentials` wants).
pub fn credential_field(app: &AppView) -> &'static str {
    if app.settings.manual() {
        return "";
    }
    match (app.kind, &app.auth) {
        (AppKind::GoogleWorkspace, _) => "service_account_key",
        (AppKind::Scim, AppAuth::Bearer) | (AppKind::GithubOrg | AppKind::Box | AppKind::Dropbox, _) => "token",
        (AppKind::Scim | AppKind::M365, _) => "client_secret",
    }
}

async fn provisioning(signed: &Signed, app: &str, shown: Shown) -> PageResult {
    let query = AppQuery::default();
    apps::app_page_shown(signed, app, "provisioning", &query, shown).await
}

/// Saves (or previews) the app's settings.
pub async fn settings(signed: Signed, Path(app): Path<String>, Form(pairs): Form<Vec<(String, String)>>) -> PageResult {
    let expected = version(&pairs)?;
    let current = SettingsForm::of(&signed.admin().app(&app).await?.settings);
    let typed = SettingsForm::typed(&pairs);
    let preview = field(&pairs, "action") == "preview";
    let confirm = !field(&pairs, "confirm_permanent_delete").is_empty();
    let outcome = match typed.spec(&current, confirm) {
        Ok(spec) => {
            let edit = AppEdit { settings: spec, ..Default::default() };
            signed.admin().edit_app(&app, edit, expected, preview).await
        }
        Err(e) => Err(e),
    };
    let mut shown = Shown::default();
    match outcome {
        Ok(edited) if preview => {
            shown.settings_form = Some(typed);
            shown.settings_plan = Some(apps::plan_lines(edited.plan.as_ref()));
            shown.notice = Notice::ok(if edited.changed.is_empty() {
                "Preview: these settings change nothing.".to_owned()
            } else {
                format!("Preview of {}: nothing saved yet.", edited.changed.join(", "))
            });
        }
        Ok(edited) if edited.changed.is_empty() => shown.notice = Notice::ok("Nothing changed."),
        Ok(edited) => shown.notice = Notice::ok(format!("Saved: {}.", edited.changed.join(", "))),
        Err(e) => {
            shown.settings_form = Some(typed);
            let mut refused = super::forms::refusal(e)?;
            // The notice names the field as the engine does (`settings.burst: ...`).
            shown.notice = Notice::error(if refused.field.is_empty() {
                refused.message.clone()
            } else {
                format!("{}: {}", refused.field, refused.message)
            });
            refused.field = refused.field.trim_start_matches("settings.").to_owned();
            shown.settings_error = refused;
        }
    }
    provisioning(&signed, &app, shown).await
}

/// Replaces the app's mappings with the rows of the form (an empty row is no mapping).
pub async fn mappings(signed: Signed, Path(app): Path<String>, Form(pairs): Form<Vec<(String, String)>>) -> PageResult {
    let expected = version(&pairs)?;
    let mut rows = Vec::new();
    for index in 0.. {
        let target = format!("target_{index}");
        if !pairs.iter().any(|(k, _)| *k == target) {
            break;
        }
        rows.push(MappingRow {
            index,
            target: field(&pairs, &target).trim().to_owned(),
            expression: field(&pairs, &format!("expression_{index}")).to_owned(),
            on_create: !field(&pairs, &format!("on_create_{index}")).is_empty(),
            error: None,
        });
        if index > 500 {
            return Err(Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "more mappings than an app may have"));
        }
    }
    // The rows the engine is given, and which row each one is.
    let given: Vec<&MappingRow> =
        rows.iter().filter(|r| !(r.target.is_empty() && r.expression.trim().is_empty())).collect();
    let specs = given
        .iter()
        .map(|r| MappingSpec { target: r.target.clone(), expression: r.expression.clone(), on_create: r.on_create })
        .collect();
    let row_of: Vec<usize> = given.iter().map(|r| r.index).collect();
    let edit = AppEdit { settings: SettingsSpec { mappings: Some(specs), ..Default::default() }, ..Default::default() };
    let mut shown = Shown::default();
    match signed.admin().edit_app(&app, edit, expected, false).await {
        Ok(edited) if edited.changed.is_empty() => shown.notice = Notice::ok("The mappings are unchanged."),
        Ok(_) => shown.notice = Notice::ok("Mappings saved."),
        Err(EngineError::Expression { field, line, column, message, rendered }) => {
            let at = spec_index(&field).and_then(|i| row_of.get(i).copied());
            if let Some(row) = at.and_then(|at| rows.get_mut(at)) {
                row.error = Some(ExpressionError { message: message.clone(), line, column, caret: rendered });
            }
            shown.notice =
                Notice::error(format!("Not saved: the expression at line {line}, column {column}: {message}"));
            shown.mappings = Some(rows);
        }
        Err(e) => {
            shown.notice = said(e)?;
            shown.mappings = Some(rows);
        }
    }
    provisioning(&signed, &app, shown).await
}

/// `settings.mappings[3].expression` → 3.
fn spec_index(field: &str) -> Option<usize> {
    field.strip_prefix("settings.mappings[")?.split(']').next()?.parse().ok()
}

/// Pauses or resumes provisioning into the app.
pub async fn state(signed: Signed, Path(app): Path<String>, Form(pairs): Form<Vec<(String, String)>>) -> PageResult {
    let expected = version(&pairs)?;
    let disabled = match field(&pairs, "what") {
        "disable" => true,
        "enable" => false,
        other => return Err(Failure::new(StatusCode::BAD_REQUEST, format!("{other:?}: disable or enable"))),
    };
    let notice = match signed.admin().set_app_disabled(&app, disabled, expected).await {
        Ok(_) if disabled => Notice::ok("Provisioning paused: nothing is planned or carried out for this app."),
        Ok(_) => Notice::ok("Provisioning resumed: the app is planned in full again."),
        Err(e) => said(e)?,
    };
    provisioning(&signed, &app, Shown { notice, ..Default::default() }).await
}

/// New credentials for the app (a rotated token), which also lift a quarantine.
pub async fn credentials(
    signed: Signed,
    Path(app): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let expected = version(&pairs)?;
    let secret = Some(field(&pairs, "secret").to_owned());
    let view = signed.admin().app(&app).await?;
    let credentials = match credential_field(&view) {
        "token" => Credentials { token: secret, ..Default::default() },
        "client_secret" => Credentials { client_secret: secret, ..Default::default() },
        "service_account_key" => Credentials { service_account_key: secret, ..Default::default() },
        _ => return Err(Failure::new(StatusCode::CONFLICT, format!("{app} has no credentials: it is worked by hand"))),
    };
    let notice = match signed.admin().rotate_credentials(&app, credentials, expected).await {
        Ok(_) => Notice::ok("New credentials saved (sealed); a quarantine is lifted. Verify to test them."),
        Err(e) => said(e)?,
    };
    provisioning(&signed, &app, Shown { notice, ..Default::default() }).await
}

#[derive(Template)]
#[template(path = "console/app_remove.html")]
struct RemovePage {
    nav: Nav,
    notice: Option<Notice>,
    name: String,
    href: String,
    version: i64,
    staying: Vec<(String, String, bool)>,
    assignments: usize,
    pending: i64,
}

/// What removing the app leaves (everything: removing never deprovisions), and the confirmation.
pub async fn remove_form(signed: Signed, Path(app): Path<String>) -> PageResult {
    let view = signed.admin().app(&app).await?;
    remove_page(&signed, &view, None).await
}

async fn remove_page(signed: &Signed, view: &AppView, notice: Option<Notice>) -> PageResult {
    let removal = signed.admin().remove_app(&view.name, Some(view.version), true).await?;
    Ok(render(&RemovePage {
        nav: signed.nav("apps"),
        notice,
        href: format!("/apps/{}", segment(&view.name)),
        name: view.name.clone(),
        version: view.version,
        staying: removal
            .staying
            .into_iter()
            .take(500)
            .map(|a| (a.user_name, a.person.unwrap_or_default(), a.active))
            .collect(),
        assignments: removal.assignments,
        pending: removal.pending_operations,
    }))
}

/// Removes the app once its name is typed again.
pub async fn remove(signed: Signed, Path(app): Path<String>, Form(pairs): Form<Vec<(String, String)>>) -> PageResult {
    let expected = version(&pairs)?;
    let view = signed.admin().app(&app).await?;
    if field(&pairs, "confirm").trim() != view.name {
        signed.actor.require(Need::OrgAdmin).map_err(Failure::from)?;
        let notice = Notice::error(format!("Type the app's name, {}, to remove it.", view.name));
        return remove_page(&signed, &view, notice).await;
    }
    match signed.admin().remove_app(&app, expected, false).await {
        Ok(removal) => {
            let notice = format!(
                "{} removed from Tenure: {} account(s) stay in the app as they are, {} queued operation(s) dismissed.",
                removal.app,
                removal.staying.len(),
                removal.pending_operations
            );
            apps::list_page(&signed, Notice::ok(notice)).await
        }
        Err(e) => {
            let notice = said(e)?;
            remove_page(&signed, &view, notice).await
        }
    }
}

/// A catalog entry offered by the add form.
pub struct CatalogOption {
    pub name: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "console/app_new.html")]
struct NewAppPage {
    nav: Nav,
    notice: Option<Notice>,
    catalog: Vec<CatalogOption>,
    name: String,
    base_url: String,
    /// The base URL the chosen entry documents, with its `{parameters}`.
    hint: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    #[serde(default)]
    vendor: Option<String>,
}

fn new_page(signed: &Signed, notice: Option<Notice>, vendor: &str, name: &str, base_url: &str) -> PageResult {
    signed.actor.require(Need::OrgAdmin).map_err(Failure::from)?;
    let entries = signed.admin().catalog();
    let hint = entries.iter().find(|c| c.name == vendor).and_then(|c| c.base_url.clone()).unwrap_or_default();
    let catalog = entries
        .into_iter()
        .filter(|c| c.scim)
        .map(|c| CatalogOption {
            selected: c.name == vendor,
            label: format!("{} ({})", c.display_name, c.api),
            name: c.name,
        })
        .collect();
    Ok(render(&NewAppPage {
        nav: signed.nav("apps"),
        notice,
        catalog,
        name: name.to_owned(),
        base_url: if base_url.is_empty() { hint.clone() } else { base_url.to_owned() },
        hint,
    }))
}

/// The form adding a SCIM app from the catalog (org admins).
pub async fn new_form(signed: Signed, Query(q): Query<NewQuery>) -> PageResult {
    let vendor = q.vendor.unwrap_or_default();
    new_page(&signed, None, vendor.trim(), vendor.trim(), "")
}

#[derive(Debug, Deserialize)]
pub struct NewAppForm {
    name: String,
    #[serde(default)]
    vendor: String,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    token: String,
}

/// Adds the app; a refused field is said on the form, with what was typed kept (not the token).
pub async fn create(signed: Signed, Form(form): Form<NewAppForm>) -> PageResult {
    let vendor = form.vendor.trim();
    let spec = NewApp {
        name: form.name.trim().to_owned(),
        kind: NewAppKind::Scim,
        base_url: Some(form.base_url.trim().to_owned()),
        token: Some(form.token.clone()),
        oauth: None,
        google: None,
        github: None,
        owner: None,
        settings: SettingsSpec { vendor: Some(vendor.to_owned()).filter(|v| !v.is_empty()), ..Default::default() },
        disabled: false,
    };
    match signed.admin().create_app(spec).await {
        Ok(app) => {
            let notice = Notice::ok(format!(
                "{} added ({}). Verify the connection, then assign it to people.",
                app.name,
                app.settings.vendor.as_deref().unwrap_or("plain SCIM")
            ));
            provisioning(&signed, &app.name, Shown { notice, ..Default::default() }).await
        }
        Err(e) => {
            let notice = said(e)?;
            new_page(&signed, notice, vendor, form.name.trim(), form.base_url.trim())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_untouched_settings_form_changes_nothing() {
        let settings = AppSettings::default();
        let shown = SettingsForm::of(&settings);
        let spec = shown.spec(&shown, false).unwrap();
        assert!(spec.deprovision.is_none() && spec.match_keys.is_none() && spec.guard_percent.is_none());
        let mut typed = shown.clone();
        typed.guard_count = " 7 ".into();
        typed.match_keys = "email, user-name".into();
        let spec = typed.spec(&shown, false).unwrap();
        assert_eq!(spec.guard_count, Some(7));
        assert!(spec.vendor.is_none() && spec.user_name.is_none() && spec.dry_run.is_none(), "untouched");
        assert_eq!(spec.match_keys, Some(vec!["email".to_owned(), "user-name".to_owned()]));
        typed.rate_limit_per_hour = "3000".into();
        let spec = typed.spec(&shown, false).unwrap();
        assert_eq!((spec.rate_limit_per_hour, spec.rate_limit_per_day), (Some(3000), None));
        let budgeted = AppSettings {
            limits: Some(tenure_core::AppLimits {
                windows: vec![tenure_core::RequestWindow {
                    requests: 250_000,
                    seconds: tenure_core::RequestWindow::DAY,
                }],
                ..Default::default()
            }),
            ..AppSettings::default()
        };
        let with_budget = SettingsForm::of(&budgeted);
        assert_eq!((with_budget.rate_limit_per_hour.as_str(), with_budget.rate_limit_per_day.as_str()), ("", "250000"));
        let mut named = shown.clone();
        named.user_name = "handle".into();
        named.user_name_max_len = "21".into();
        named.dry_run = "on".into();
        named.vendor = " ".into();
        let spec = named.spec(&shown, false).unwrap();
        assert_eq!(
            (spec.user_name.as_deref(), spec.user_name_max_len, spec.dry_run),
            (Some("handle"), Some(21), Some(true))
        );
        assert!(spec.vendor.is_none(), "an emptied vendor keeps the profile");
        let mut without_box = shown.clone();
        without_box.dry_run = String::new();
        without_box.dry_run_shown = false;
        let dry = SettingsForm { dry_run: "on".into(), ..shown.clone() };
        assert_eq!(without_box.spec(&dry, false).unwrap().dry_run, None, "a form without the box leaves dry run on");
        typed.burst = "lots".into();
        let err = typed.spec(&shown, false).unwrap_err().to_string();
        assert!(err.contains("settings.burst") && err.contains("lots"), "{err}");
    }

    #[test]
    fn drive_transfer_and_task_settings_change_only_from_a_form_that_drew_them() {
        let google = AppSettings {
            google_workspace: Some(
                serde_json::from_value(serde_json::json!({
                    "domain": "acme.example", "admin": "a@acme.example", "transfer_drive_to": "manager"
                }))
                .unwrap(),
            ),
            ..AppSettings::default()
        };
        let shown = SettingsForm::of(&google);
        assert_eq!(shown.transfer_drive_to, "manager");
        let mut emptied = shown.clone();
        emptied.transfer_drive_to = " ".into();
        assert_eq!(emptied.spec(&shown, false).unwrap().transfer_drive_to.as_deref(), Some(""), "emptied: no transfer");
        emptied.transfer_drive_to_shown = false;
        assert_eq!(emptied.spec(&shown, false).unwrap().transfer_drive_to, None, "a form without the field keeps it");
        let mut boss = shown.clone();
        boss.transfer_drive_to = "boss@acme.example".into();
        assert_eq!(boss.spec(&shown, false).unwrap().transfer_drive_to.as_deref(), Some("boss@acme.example"));
        assert_eq!(shown.license_skus, "", "no SKU managed");
        assert_eq!(shown.spec(&shown, false).unwrap().license_skus, None, "an untouched field changes nothing");
        let mut skus = shown.clone();
        skus.license_skus = " Google-Apps:1010020027=Business Starter ".into();
        assert_eq!(
            skus.spec(&shown, false).unwrap().license_skus.as_deref(),
            Some("Google-Apps:1010020027=Business Starter")
        );
        let managed = SettingsForm { license_skus: "Google-Apps:1010020027=Business Starter".into(), ..shown.clone() };
        let mut hidden = shown.clone();
        hidden.license_skus_shown = false;
        assert_eq!(hidden.spec(&managed, false).unwrap().license_skus, None, "a form without the field keeps the SKUs");
        let m365 = AppSettings {
            m365: Some(tenure_core::M365Target {
                tenant_id: "contoso.onmicrosoft.com".into(),
                usage_location: None,
                license_skus: vec!["SPE_E3".into(), "SPE_E5".into()],
            }),
            ..AppSettings::default()
        };
        let shown_m365 = SettingsForm::of(&m365);
        assert_eq!(shown_m365.license_skus, "SPE_E3,SPE_E5", "a Microsoft 365 app's part numbers, in order");
        let cleared = SettingsForm { license_skus: String::new(), ..shown_m365.clone() };
        assert_eq!(cleared.spec(&shown_m365, false).unwrap().license_skus.as_deref(), Some(""), "emptied: cleared");

        assert_eq!(
            (due_text(2 * 86_400), due_text(7_200), due_text(5_400)),
            ("2d".into(), "2h".into(), "5400s".into())
        );
        assert_eq!(due_seconds("3d").unwrap(), 3 * 86_400);
        assert_eq!(due_seconds(" 12h ").unwrap(), 12 * 3_600);
        assert_eq!(due_seconds("0").unwrap(), 0);
        let err = due_seconds("soon").unwrap_err().to_string();
        assert!(err.contains("settings.task_due_s") && err.contains("soon"), "{err}");
        assert!(due_seconds("99999999999999999d").is_err(), "an overflow is refused, not wrapped");
        let manual = SettingsForm { verify_by_read: "on".into(), task_due: "2d".into(), ..SettingsForm::default() };
        let mut typed = manual.clone();
        typed.verify_by_read = String::new();
        typed.verify_by_read_shown = false;
        typed.task_due = String::new();
        let spec = typed.spec(&manual, false).unwrap();
        assert_eq!((spec.verify_by_read, spec.task_due_s), (None, None), "absent box, emptied due: unchanged");
        typed.verify_by_read_shown = true;
        assert_eq!(typed.spec(&manual, false).unwrap().verify_by_read, Some(false));
    }

    #[test]
    fn a_mapping_field_names_its_row() {
        assert_eq!(spec_index("settings.mappings[3].expression"), Some(3));
        assert_eq!(spec_index("settings.match_keys"), None);
    }
}
