//! Apps: create (every kind), show, edit (with preview and compare-and-set on the version),
//! rotate credentials (which lifts a quarantine), disable, enable, remove (never deprovisioning
//! anyone), and the capability profile `app check` stores.

use serde::Deserialize;
use serde_json::json;
use tenure_connectors::{GoogleWorkspace, ScimClient, Vendor};
use tenure_core::*;
use tenure_store::{AppAuth, AppRecord, AppRow, AuditRecord, OauthClientAuth};
use utoipa::ToSchema;

use super::views::{AppEdited, AppRemoval, AppView, PlanChange, StayingAccount};
use super::{Admin, Need, check_version};
use crate::EngineError;

/// A new app. `kind` `scim` takes `base_url` and either `token` or `oauth`; `google_workspace`
/// takes `google` (its `base_url`, the Admin SDK's root, is optional).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    pub name: String,
    pub kind: NewAppKind,
    #[serde(default)]
    pub base_url: Option<String>,
    /// The app's bearer token (SCIM).
    #[serde(default)]
    pub token: Option<String>,
    /// OAuth 2.0 instead of a static token.
    #[serde(default)]
    pub oauth: Option<OauthSpec>,
    /// Google Workspace as a target.
    #[serde(default)]
    pub google: Option<GoogleSpec>,
    /// A GitHub organization (without Enterprise Managed Users): joiners are invited.
    #[serde(default)]
    pub github: Option<GithubSpec>,
    /// A manual app's owner (an email): tasks are theirs.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub settings: SettingsSpec,
    /// Added paused: nothing is planned or carried out until it is enabled.
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NewAppKind {
    Scim,
    #[serde(alias = "google")]
    GoogleWorkspace,
    /// A GitHub organization through GitHub's REST API (`base_url` defaults to
    /// https://api.github.com; `token` an access token with `admin:org`).
    #[serde(alias = "github-org")]
    GithubOrg,
    /// Box's users API (`base_url` defaults to https://api.box.com/2.0; `token` an access token
    /// of an app a Box admin authorised).
    Box,
    /// Dropbox's team members API (`base_url` defaults to https://api.dropboxapi.com/2; `token`
    /// a team admin's access token with members.read, members.write, members.delete).
    Dropbox,
    /// Microsoft 365 / Entra ID through Microsoft Graph (`base_url` defaults to
    /// https://graph.microsoft.com/v1.0): `settings.tenant_id` names the tenant, `oauth.client_id`
    /// and `oauth.client_secret` the app registration Tenure signs in as (application permissions
    /// User.ReadWrite.All, LicenseAssignment.ReadWrite.All, Organization.Read.All, and for Entra
    /// groups GroupMember.ReadWrite.All and Group.Create, admin consented); `oauth.token_url`
    /// defaults to the tenant's identity platform endpoint.
    M365,
    /// An app without a connector, worked by hand by `owner`: its operations become tasks.
    Manual,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubSpec {
    /// The organization's login (`acme-corp`).
    pub org: String,
    /// Days after which a pending invitation is cancelled and sent again (default 7, as GitHub's
    /// expire after 7).
    #[serde(default)]
    pub reinvite_after_days: Option<u32>,
}

/// GitHub's REST API.
pub const GITHUB_API_URL: &str = "https://api.github.com";
/// GitHub's documented primary limit for a token: 5,000 requests an hour
/// (<https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api>).
const GITHUB_REQUESTS_PER_SECOND: f64 = 5000.0 / 3600.0;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OauthSpec {
    /// The token endpoint (for Zoom, default https://zoom.us/oauth/token).
    #[serde(default)]
    pub token_url: Option<String>,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub scope: Option<String>,
    /// `basic` (default) or `body`.
    #[serde(default)]
    pub client_auth: Option<String>,
    /// `client_credentials` (default) or `authorization_code`.
    #[serde(default)]
    pub flow: Option<String>,
    /// The authorization endpoint, for the authorization-code flow.
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// Zoom server-to-server OAuth: the account id (Zoom's account_credentials grant).
    #[serde(default)]
    pub zoom_account_id: Option<String>,
    /// Box's client credentials grant ("CCG") as the app's service account: the enterprise id
    /// (sent as `box_subject_type=enterprise`, `box_subject_id`). Kind `box` only.
    #[serde(default)]
    pub box_enterprise_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoogleSpec {
    pub domain: String,
    pub admin_email: String,
    /// The service account's JSON key, stored encrypted.
    pub service_account_key: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub org_unit: Option<String>,
    #[serde(default)]
    pub change_password_at_next_login: bool,
}

/// One attribute mapping: `target` computed by `expression` (the mapping language).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    pub target: String,
    pub expression: String,
    /// Only when the account is created (the one place `unique(...)` is allowed).
    #[serde(default)]
    pub on_create: bool,
}

/// An app's settings as given: each field given replaces the current value; on create, what is
/// not given comes from the vendor profile or the defaults.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsSpec {
    /// A SCIM app of the catalog (`GET /api/v1/catalog`): `slack`, `salesforce`, `asana`, ...
    #[serde(default)]
    pub vendor: Option<String>,
    /// `deactivate`, `delete`, `deactivate-then-delete`, `remove-license`, `do-nothing`.
    #[serde(default)]
    pub deprovision: Option<String>,
    #[serde(default)]
    pub delete_after_days: Option<u32>,
    /// Confirms deleting accounts in an app whose DELETE is permanent.
    #[serde(default)]
    pub confirm_permanent_delete: bool,
    /// `email`, `local-part`, `handle`.
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub user_name_max_len: Option<usize>,
    /// Strongest first: `external-id`, `user-name`, `email`.
    #[serde(default)]
    pub match_keys: Option<Vec<String>>,
    /// A matching account Tenure does not manage yet: `link`, `link-pulled` (the default: linked
    /// unless an identity provider pushed the person) or `case` (left for an admin to adopt).
    #[serde(default)]
    pub correlation: Option<String>,
    /// Replaces every mapping of the app.
    #[serde(default)]
    pub mappings: Option<Vec<MappingSpec>>,
    #[serde(default)]
    pub guard_percent: Option<u8>,
    #[serde(default)]
    pub guard_count: Option<usize>,
    /// The deprovisioning guard's window in seconds (default a day).
    #[serde(default)]
    pub guard_window_s: Option<u64>,
    /// Requests a second.
    #[serde(default)]
    pub rate_limit: Option<f64>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub rate_group: Option<String>,
    #[serde(default)]
    pub max_concurrency: Option<u16>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// Value lists the app's attribute rules name, by list name (`verified_domains` for
    /// Airtable): each list given replaces the current one; an empty list removes it.
    #[serde(default)]
    pub rule_lists: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// Microsoft 365 apps, on create: the Entra ID tenant id (a GUID) or its
    /// `….onmicrosoft.com` domain.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Microsoft 365 apps: the two-letter country (ISO 3166) users without one get before a
    /// license is assigned; empty removes it.
    #[serde(default)]
    pub usage_location: Option<String>,
    /// The least seconds between two full reads of the app's user list (0: no minimum); on
    /// create, a vendor that penalises frequent full reads sets it.
    #[serde(default)]
    pub min_list_interval_s: Option<u64>,
    /// At most this many requests in any hour, for the deployment (0: no hourly budget); on
    /// create, a vendor that documents one sets it.
    #[serde(default)]
    pub rate_limit_per_hour: Option<u32>,
    /// At most this many requests in any 24 hours (0: no daily budget).
    #[serde(default)]
    pub rate_limit_per_day: Option<u32>,
    /// Days before a new starter's start date their account is made, disabled, and activated
    /// on the day (0: made on the day, the default; at most 90).
    #[serde(default)]
    pub pre_start_days: Option<u32>,
    /// Google Workspace apps: before a departing person's account is suspended or deleted,
    /// their Drive files go to `manager` (their manager in the directory) or to this address
    /// (Data Transfer API); empty stops transferring.
    #[serde(default)]
    pub transfer_drive_to: Option<String>,
    /// Google Workspace apps: the License Manager SKUs Tenure manages, each with its tier name,
    /// as `PRODUCT:SKU=TIER` entries separated by commas (`Google-Apps:1010020027=Business
    /// Starter,Google-Apps:1010020028=Business Standard`); empty stops managing licenses.
    #[serde(default)]
    pub license_skus: Option<String>,
    /// Manual apps: seconds a task has before its owner is reminded (and as long again before
    /// the admins are told); 0 restores the default (three days).
    #[serde(default)]
    pub task_due_s: Option<u64>,
    /// Manual apps: a closed task is accepted only once the next read of the app's users (a
    /// CSV export uploaded with `tenure task verify`) shows it done.
    #[serde(default)]
    pub verify_by_read: Option<bool>,
}

/// An edit: only what is given changes. A changed `base_url` needs the credentials again.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppEdit {
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub credentials: Option<Credentials>,
    #[serde(default)]
    pub settings: SettingsSpec,
}

/// New credentials: the one the app's kind and auth use.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// A static bearer token.
    #[serde(default)]
    pub token: Option<String>,
    /// The OAuth client secret.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// A Google Workspace service account's JSON key.
    #[serde(default)]
    pub service_account_key: Option<String>,
}

impl Credentials {
    fn secret_for(&self, record: &AppRecord, field: &str) -> Result<Secret, EngineError> {
        let given: Vec<(&str, &String)> = [
            ("token", self.token.as_ref()),
            ("client_secret", self.client_secret.as_ref()),
            ("service_account_key", self.service_account_key.as_ref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        let wanted = match (record.app.kind, &record.auth) {
            (AppKind::GoogleWorkspace, _) => "service_account_key",
            (AppKind::GithubOrg, _) => "token",
            (AppKind::Scim | AppKind::Box | AppKind::Dropbox, AppAuth::Bearer) => "token",
            (AppKind::Scim | AppKind::Box | AppKind::Dropbox, _) => "client_secret",
            (AppKind::M365, _) => "client_secret",
        };
        match given.as_slice() {
            [(k, v)] if *k == wanted && !v.trim().is_empty() => Ok(Secret::new(v.trim().to_owned())),
            [(k, _)] if *k == wanted => Err(EngineError::field(format!("{field}.{k}"), "must not be empty")),
            [(k, _)] => Err(EngineError::field(
                format!("{field}.{k}"),
                format!("app {} takes {wanted} (its auth is {})", record.app.name, record.auth.kind()),
            )),
            [] => Err(EngineError::field(field, format!("give the app's {wanted}"))),
            _ => Err(EngineError::field(field, format!("give only {wanted}"))),
        }
    }
}

fn vendor_named(field: &str, name: &str) -> Result<Vendor, EngineError> {
    name.parse().map_err(|e: tenure_connectors::vendor::UnknownVendor| EngineError::field(field, e.to_string()))
}

/// Why deleting in `vendor`'s app cannot be undone, from its catalog entry.
fn irreversible_because(vendor: Vendor) -> String {
    let entry = vendor.entry();
    let name = vendor.display_name();
    if entry.reactivates() == Some(false) {
        format!("{name} cannot re-activate a deprovisioned account ({})", entry.reactivate.describe())
    } else if !entry.delete.value.is_known() {
        format!("{name} does not document what DELETE does, so Tenure treats it as permanent")
    } else {
        format!("{name}'s DELETE is permanent ({})", entry.delete.describe())
    }
}

fn deprovision_of(spec: &SettingsSpec) -> Result<Option<DeprovisionPolicy>, EngineError> {
    let Some(raw) = spec.deprovision.as_deref() else { return Ok(None) };
    Ok(Some(match raw {
        "deactivate" => DeprovisionPolicy::Deactivate,
        "delete" => DeprovisionPolicy::Delete,
        "deactivate-then-delete" | "deactivate_then_delete" => DeprovisionPolicy::DeactivateThenDelete {
            after_days: spec.delete_after_days.ok_or_else(|| {
                EngineError::field("settings.delete_after_days", "required with deactivate-then-delete")
            })?,
        },
        "remove-license" | "remove_license" => DeprovisionPolicy::RemoveLicense,
        "do-nothing" | "do_nothing" => DeprovisionPolicy::DoNothing,
        other => {
            return Err(EngineError::field(
                "settings.deprovision",
                format!("{other:?}: use deactivate, delete, deactivate-then-delete, remove-license or do-nothing"),
            ));
        }
    }))
}

/// The mapping set of `specs`, each expression checked: a bad one is reported with its line
/// and column.
pub(crate) fn mapping_set(specs: &[MappingSpec]) -> Result<Option<expr::MappingSet>, EngineError> {
    let mut mappings = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let field = format!("settings.mappings[{i}].expression");
        let apply = if spec.on_create { expr::Apply::OnCreate } else { expr::Apply::Always };
        let mapping = expr::Mapping::new(spec.target.trim(), &spec.expression, apply).map_err(|e| match &e {
            expr::MappingError::Expr { source, .. } => EngineError::expression(&field, &spec.expression, source),
            other => EngineError::field(format!("settings.mappings[{i}]"), other.to_string()),
        })?;
        mappings.push(mapping);
    }
    if mappings.is_empty() {
        return Ok(None);
    }
    expr::MappingSet::new(mappings).map(Some).map_err(|e| EngineError::field("settings.mappings", e.to_string()))
}

/// Sets the app's rule lists: each named by one of its rules, each value a plain value (a
/// domain has no `@`, no spaces). An empty list removes the list.
fn apply_rule_lists(
    settings: &mut AppSettings,
    lists: &std::collections::BTreeMap<String, Vec<String>>,
) -> Result<(), EngineError> {
    for (name, values) in lists {
        let field = format!("settings.rule_lists.{name}");
        if !settings.rules.iter().any(|r| r.list.as_deref() == Some(name.as_str())) {
            let named: Vec<&str> = settings.rules.iter().filter_map(|r| r.list.as_deref()).collect();
            return Err(EngineError::field(
                field,
                if named.is_empty() {
                    "no rule of this app uses a list".to_owned()
                } else {
                    format!("no rule of this app uses it; its rules use {}", named.join(", "))
                },
            ));
        }
        let mut clean = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            let value = value.trim();
            if value.is_empty() || value.contains('@') || value.chars().any(char::is_whitespace) {
                return Err(EngineError::field(
                    format!("{field}[{i}]"),
                    format!("{value:?}: a plain value such as example.com"),
                ));
            }
            if !clean.iter().any(|c: &String| c.eq_ignore_ascii_case(value)) {
                clean.push(value.to_owned());
            }
        }
        if clean.is_empty() {
            settings.rule_lists.remove(name);
        } else {
            settings.rule_lists.insert(name.clone(), clean);
        }
    }
    Ok(())
}

/// A usage location as Graph takes it: two letters (ISO 3166-1 alpha-2), upper case; empty is
/// none.
fn usage_location(field: &str, given: &str) -> Result<Option<String>, EngineError> {
    let code = given.trim().to_ascii_uppercase();
    if code.is_empty() {
        return Ok(None);
    }
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(EngineError::field(
            field,
            format!("{given:?}: a two-letter country code (ISO 3166), such as US or DE"),
        ));
    }
    Ok(Some(code))
}

/// Applies `spec` to `base`. `creating`: defaults come from the vendor profile.
/// The longest lead before a start date: a quarter. Beyond it, people who never start would
/// hold (disabled) accounts, and seats, for months.
const MAX_PRE_START_DAYS: u32 = 90;

/// `manager` or an address; empty for none.
fn drive_recipient(field: &str, given: &str) -> Result<Option<String>, EngineError> {
    let given = given.trim();
    if given.is_empty() {
        return Ok(None);
    }
    if given.eq_ignore_ascii_case(crate::drive_transfer::MANAGER) {
        return Ok(Some(crate::drive_transfer::MANAGER.to_owned()));
    }
    let valid = given.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.contains('@') && !given.contains(char::is_whitespace)
    });
    if !valid {
        return Err(EngineError::field(field, format!("{given:?}: `manager` or an email address")));
    }
    Ok(Some(given.to_lowercase()))
}

fn apply_settings(
    kind: AppKind,
    base: &AppSettings,
    spec: &SettingsSpec,
    creating: bool,
) -> Result<AppSettings, EngineError> {
    let mut settings = base.clone();
    let vendor = match spec.vendor.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        Some(name) => {
            if kind != AppKind::Scim {
                return Err(EngineError::field("settings.vendor", "vendor profiles are for SCIM apps"));
            }
            let v = vendor_named("settings.vendor", name)?;
            settings.vendor = Some(v.name().to_owned());
            Some(v)
        }
        None => settings.vendor.as_deref().and_then(|n| n.parse::<Vendor>().ok()),
    };
    let vendor_defaults = if creating { vendor } else { None };
    // userName
    let user_name = match spec.user_name.as_deref() {
        Some("email") => Some(UserNameFormat::Email),
        Some("local-part" | "local_part") => Some(UserNameFormat::EmailLocalPart { max_len: spec.user_name_max_len }),
        Some("handle") => Some(UserNameFormat::Handle {
            max_len: spec.user_name_max_len.unwrap_or(tenure_connectors::vendor::SLACK_HANDLE_MAX),
        }),
        Some(other) => {
            return Err(EngineError::field(
                "settings.user_name",
                format!("{other:?}: use email, local-part or handle"),
            ));
        }
        None => match (vendor_defaults, spec.user_name_max_len) {
            (Some(v), None) => Some(v.user_name_format()),
            (Some(v), Some(max)) => Some(match v.user_name_format() {
                UserNameFormat::Handle { .. } => UserNameFormat::Handle { max_len: max },
                _ => UserNameFormat::EmailLocalPart { max_len: Some(max) },
            }),
            (None, Some(max)) if !creating => Some(match settings.user_name {
                UserNameFormat::Handle { .. } => UserNameFormat::Handle { max_len: max },
                UserNameFormat::EmailLocalPart { .. } => UserNameFormat::EmailLocalPart { max_len: Some(max) },
                // An email userName has no length to cap.
                UserNameFormat::Email => UserNameFormat::Email,
            }),
            _ => None,
        },
    };
    if let Some(format) = user_name {
        if kind == AppKind::GoogleWorkspace && format != UserNameFormat::Email {
            return Err(EngineError::field("settings.user_name", "a Google account's userName is its email"));
        }
        if matches!(format, UserNameFormat::Handle { max_len: 0 }) {
            return Err(EngineError::field("settings.user_name_max_len", "must be at least 1"));
        }
        settings.user_name = format;
    }
    // Deprovisioning
    match deprovision_of(spec)? {
        Some(policy) => settings.deprovision = policy,
        None if creating => {
            settings.deprovision = vendor_defaults.map_or(DeprovisionPolicy::Deactivate, |v| v.default_deprovision())
        }
        None => {}
    }
    let deletes =
        matches!(settings.deprovision, DeprovisionPolicy::Delete | DeprovisionPolicy::DeactivateThenDelete { .. });
    let confirmation_matters = spec.deprovision.is_some() || spec.vendor.is_some() || creating;
    if let Some(v) = vendor
        && deletes
        && confirmation_matters
        && !v.entry().delete_supported()
    {
        return Err(EngineError::field(
            "settings.deprovision",
            format!(
                "{} does not support deleting users ({}): use deactivate",
                v.display_name(),
                v.entry().delete.describe()
            ),
        ));
    }
    if let Some(v) = vendor
        && deletes
        && confirmation_matters
        && v.delete_needs_confirmation()
        && !spec.confirm_permanent_delete
    {
        return Err(EngineError::field(
            "settings.confirm_permanent_delete",
            format!(
                "{}: a deleted account and its history cannot be brought back, and a returning person gets a new \
                 account. Deactivating is the safe default; to delete anyway, confirm it (--confirm-permanent-delete)",
                irreversible_because(v)
            ),
        ));
    }
    if spec.tenant_id.is_some() && !creating {
        return Err(EngineError::field(
            "settings.tenant_id",
            "a Microsoft 365 app's tenant is set when it is added (add another app for another tenant)",
        ));
    }
    if let Some(location) = &spec.usage_location {
        let target = settings
            .m365
            .as_mut()
            .ok_or_else(|| EngineError::field("settings.usage_location", "only for Microsoft 365 apps"))?;
        target.usage_location = usage_location("settings.usage_location", location)?;
    }
    if let Some(to) = &spec.transfer_drive_to {
        let target = settings
            .google_workspace
            .as_mut()
            .ok_or_else(|| EngineError::field("settings.transfer_drive_to", "only for Google Workspace apps"))?;
        target.transfer_drive_to = drive_recipient("settings.transfer_drive_to", to)?;
    }
    if let Some(skus) = &spec.license_skus {
        let target = settings
            .google_workspace
            .as_mut()
            .ok_or_else(|| EngineError::field("settings.license_skus", "only for Google Workspace apps"))?;
        target.license_skus = tenure_connectors::google_workspace::licensing::parse_skus(skus)
            .map_err(|e| EngineError::field("settings.license_skus", e))?;
    }
    // Licenses are removed only where Tenure knows which it manages.
    if kind == AppKind::GoogleWorkspace
        && settings.deprovision == DeprovisionPolicy::RemoveLicense
        && settings.google_workspace.as_ref().is_none_or(|t| t.license_skus.is_empty())
    {
        return Err(EngineError::field(
            "settings.deprovision",
            "remove-license on Google Workspace needs the License Manager SKUs Tenure manages (settings.license_skus, \
             e.g. Google-Apps:1010020027=Business Starter)",
        ));
    }
    if let Some(seconds) = spec.task_due_s {
        let target = settings
            .manual
            .as_mut()
            .ok_or_else(|| EngineError::field("settings.task_due_s", "only for manual apps"))?;
        if seconds != 0 && !(crate::tasks::MIN_TASK_DUE_S..=crate::tasks::MAX_TASK_DUE_S).contains(&seconds) {
            return Err(EngineError::field(
                "settings.task_due_s",
                format!("{seconds}: between an hour and 90 days (0 for the default)"),
            ));
        }
        target.task_due_s = (seconds != 0).then_some(seconds);
    }
    if let Some(verify) = spec.verify_by_read {
        let target = settings
            .manual
            .as_mut()
            .ok_or_else(|| EngineError::field("settings.verify_by_read", "only for manual apps"))?;
        target.verify_by_read = verify;
    }
    if let Some(keys) = &spec.match_keys {
        if keys.is_empty() {
            return Err(EngineError::field("settings.match_keys", "name at least one key"));
        }
        settings.match_keys = keys
            .iter()
            .enumerate()
            .map(|(i, k)| match k.as_str() {
                "external-id" | "external_id" | "externalId" => Ok(MatchKey::ExternalId),
                "user-name" | "user_name" | "userName" => Ok(MatchKey::UserName),
                "email" => Ok(MatchKey::Email),
                other => Err(EngineError::field(
                    format!("settings.match_keys[{i}]"),
                    format!("{other:?}: use external-id, user-name or email"),
                )),
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(correlation) = &spec.correlation {
        settings.correlation =
            correlation.parse().map_err(|e: String| EngineError::field("settings.correlation", e))?;
    }
    if let Some(mappings) = &spec.mappings {
        settings.mappings = mapping_set(mappings)?;
    }
    if spec.guard_percent.is_some() || spec.guard_count.is_some() || spec.guard_window_s.is_some() {
        if spec.guard_percent.is_some_and(|p| p > 100) {
            return Err(EngineError::field("settings.guard_percent", "a percentage, 0 to 100"));
        }
        if spec.guard_window_s == Some(0) {
            return Err(EngineError::field("settings.guard_window_s", "a window of at least one second"));
        }
        let current = settings.guard.unwrap_or_default();
        settings.guard = Some(guard::GuardLimits {
            max_percent: spec.guard_percent.unwrap_or(current.max_percent),
            max_count: spec.guard_count.unwrap_or(current.max_count),
            window_s: spec.guard_window_s.unwrap_or(current.window_s),
        });
    }
    if let Some(rate) = spec.rate_limit
        && !(rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0)
    {
        return Err(EngineError::field("settings.rate_limit", "requests a second, above 0 (e.g. 100 or 0.5)"));
    }
    if spec.burst == Some(0) {
        return Err(EngineError::field("settings.burst", "at least 1"));
    }
    if spec.max_concurrency == Some(0) {
        return Err(EngineError::field("settings.max_concurrency", "at least 1"));
    }
    let documented = vendor_defaults.and_then(|v| v.documented_limits());
    let pace_given = spec.rate_limit.is_some()
        || spec.burst.is_some()
        || spec.max_concurrency.is_some()
        || spec.rate_group.is_some()
        || spec.rate_limit_per_hour.is_some()
        || spec.rate_limit_per_day.is_some();
    if pace_given || documented.is_some() {
        let current = settings.limits.clone().or(documented.clone()).unwrap_or_default();
        let mut windows = current.windows.clone();
        for (given, seconds) in
            [(spec.rate_limit_per_hour, RequestWindow::HOUR), (spec.rate_limit_per_day, RequestWindow::DAY)]
        {
            let Some(requests) = given else { continue };
            windows.retain(|w| w.seconds != seconds);
            if requests > 0 {
                windows.push(RequestWindow { requests, seconds });
            }
        }
        windows.sort_by_key(|w| w.seconds);
        let burst = match (spec.burst, spec.rate_limit) {
            (Some(b), _) => Some(b),
            // A new rate without a burst: a burst of 1, not the old rate's.
            (None, Some(_)) => None,
            (None, None) => current.burst,
        };
        settings.limits = Some(AppLimits {
            per_second: spec.rate_limit.or(current.per_second),
            burst,
            concurrency: spec.max_concurrency.map(usize::from).or(current.concurrency),
            shared_key: spec.rate_group.clone().or(current.shared_key),
            creates_per_second: current.creates_per_second,
            updates_per_second: current.updates_per_second,
            deletes_per_second: current.deletes_per_second,
            windows,
        });
    }
    if let Some(dry) = spec.dry_run {
        settings.dry_run = dry;
    }
    // A vendor named (on create or edit) brings the rules its catalog entry documents.
    if spec.vendor.as_deref().is_some_and(|v| !v.trim().is_empty())
        && let Some(v) = vendor
    {
        settings.rules = v.entry().app_rules();
    }
    if let Some(lists) = &spec.rule_lists {
        apply_rule_lists(&mut settings, lists)?;
    }
    match spec.pre_start_days {
        Some(0) => settings.pre_start_days = None,
        Some(days) if days > MAX_PRE_START_DAYS => {
            return Err(EngineError::field(
                "settings.pre_start_days",
                format!("{days}: at most {MAX_PRE_START_DAYS} days before the start date"),
            ));
        }
        // A GitHub organization invites people, who join with their own account: nothing can
        // be made ahead and kept disabled.
        Some(_) if kind == AppKind::GithubOrg => {
            return Err(EngineError::field(
                "settings.pre_start_days",
                "a GitHub organization invites people; it cannot hold a disabled account ahead of a start date",
            ));
        }
        Some(days) => settings.pre_start_days = Some(days),
        None => {}
    }
    match spec.min_list_interval_s {
        Some(0) => settings.min_list_interval_s = None,
        Some(s) => settings.min_list_interval_s = Some(s),
        None => {
            if let Some(v) = vendor_defaults {
                settings.min_list_interval_s = v.entry().min_list_interval_s();
            }
        }
    }
    Ok(settings)
}

/// Zoom's token endpoint for server-to-server OAuth, in the form Zoom documents
/// (<https://developers.zoom.us/docs/internal-apps/s2s-oauth/>):
/// `https://zoom.us/oauth/token?grant_type=account_credentials&account_id=…`.
pub fn zoom_token_url(base: Option<&str>, account_id: &str) -> Result<String, EngineError> {
    let account_id = account_id.trim();
    if account_id.is_empty() {
        return Err(EngineError::field("oauth.zoom_account_id", "must not be empty"));
    }
    let base = base.unwrap_or("https://zoom.us/oauth/token").trim();
    let encoded: String = account_id
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let joiner = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{joiner}grant_type=account_credentials&account_id={encoded}"))
}

/// The auth settings and client secret of an OAuth spec, checked the way provisioning uses them.
fn oauth_auth(spec: &OauthSpec) -> Result<(AppAuth, Secret), EngineError> {
    if spec.box_enterprise_id.is_some() {
        return Err(EngineError::field("oauth.box_enterprise_id", "only for kind box"));
    }
    let token_url = match (&spec.zoom_account_id, &spec.token_url) {
        (Some(account), base) => zoom_token_url(base.as_deref(), account)?,
        (None, Some(url)) => url.trim().to_owned(),
        (None, None) => return Err(EngineError::field("oauth.token_url", "required (or oauth.zoom_account_id)")),
    };
    let secret = spec.client_secret.trim();
    if secret.is_empty() {
        return Err(EngineError::field("oauth.client_secret", "must not be empty"));
    }
    let secret = Secret::new(secret.to_owned());
    let client_id = spec.client_id.trim().to_owned();
    let scope = spec.scope.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let config = tenure_connectors::oauth::OAuthConfig::new(&token_url, &client_id, secret.clone(), scope.as_deref())
        .map_err(|e| EngineError::field("oauth", e.to_string()))?;
    let client_auth = match spec.client_auth.as_deref() {
        None | Some("basic") => OauthClientAuth::Basic,
        Some("body") => OauthClientAuth::Body,
        Some(other) => return Err(EngineError::field("oauth.client_auth", format!("{other:?}: use basic or body"))),
    };
    let auth = match (spec.flow.as_deref(), &spec.authorize_url) {
        (None | Some("client_credentials"), None) => AppAuth::OauthClientCredentials {
            token_url,
            client_id,
            scope,
            client_auth,
            token_params: Default::default(),
        },
        (None | Some("client_credentials"), Some(_)) => {
            return Err(EngineError::field("oauth.authorize_url", "belongs to the authorization_code flow"));
        }
        (Some("authorization_code"), None) => {
            return Err(EngineError::field("oauth.authorize_url", "required by the authorization_code flow"));
        }
        (Some("authorization_code"), Some(authorize_url)) => {
            tenure_connectors::oauth_code::AuthorizationCodeConfig::new(authorize_url, config)
                .map_err(|e| EngineError::field("oauth.authorize_url", e.to_string()))?;
            let authorize_url = authorize_url.trim().to_owned();
            AppAuth::OauthAuthorizationCode { authorize_url, token_url, client_id, scope, client_auth }
        }
        (Some(other), _) => {
            return Err(EngineError::field(
                "oauth.flow",
                format!("{other:?}: use client_credentials or authorization_code"),
            ));
        }
    };
    Ok((auth, secret))
}

/// Google's documented default quota is 2,400 Directory API queries a minute per user per Cloud
/// project (<https://developers.google.com/workspace/admin/directory/v1/limits>), the user being
/// the impersonated admin: 40 a second, shared by every app acting as that admin.
const GOOGLE_QUERIES_PER_SECOND: f64 = 40.0;
const GOOGLE_BURST: u32 = 40;

fn check_name(name: &str) -> Result<String, EngineError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(|c| c.is_control() || c == '/') {
        return Err(EngineError::field("name", "1 to 100 characters, no '/' or control characters"));
    }
    Ok(name.to_owned())
}

/// Checks that the app's connector can be built as configured (URLs, SSRF rules, key format).
fn check_connector(kind: AppKind, base_url: &str, settings: &AppSettings, secret: &Secret) -> Result<(), EngineError> {
    if settings.manual() {
        // No connector to build: the app is worked by hand.
        return Ok(());
    }
    match kind {
        AppKind::Scim => ScimClient::new(base_url, secret.clone(), Default::default())
            .map(drop)
            .map_err(|e| EngineError::field("base_url", e.to_string())),
        AppKind::GoogleWorkspace => {
            let target = settings
                .google_workspace
                .as_ref()
                .ok_or_else(|| EngineError::field("google", "required for a Google Workspace app"))?;
            GoogleWorkspace::new(base_url, target, secret, Default::default())
                .map(drop)
                .map_err(|e| EngineError::field("google", e.to_string()))
        }
        AppKind::GithubOrg => {
            let target = settings
                .github
                .as_ref()
                .ok_or_else(|| EngineError::field("github", "required for a GitHub org app"))?;
            tenure_connectors::GitHubOrg::new(base_url, target, secret.clone(), Default::default())
                .map(drop)
                .map_err(|e| EngineError::field("github", e.to_string()))
        }
        AppKind::Box => tenure_connectors::BoxUsers::new(base_url, secret.clone(), Default::default())
            .map(drop)
            .map_err(|e| EngineError::field("base_url", e.to_string())),
        AppKind::Dropbox => tenure_connectors::Dropbox::new(base_url, secret.clone(), Default::default())
            .map(drop)
            .map_err(|e| EngineError::field("base_url", e.to_string())),
        AppKind::M365 => {
            let target =
                settings.m365.as_ref().ok_or_else(|| EngineError::field("m365", "required for a Microsoft 365 app"))?;
            let token_url = tenure_connectors::m365::token_url(&target.tenant_id);
            let config = tenure_connectors::oauth::OAuthConfig::new(&token_url, "check", secret.clone(), None)
                .map_err(|e| EngineError::field("m365.tenant_id", e.to_string()))?;
            let tokens = std::sync::Arc::new(
                tenure_connectors::oauth::TokenSource::new(config, std::time::Duration::from_secs(1))
                    .map_err(|e| EngineError::field("m365", e.to_string()))?,
            );
            tenure_connectors::M365::new(base_url, tokens, Default::default())
                .map(drop)
                .map_err(|e| EngineError::field("base_url", e.to_string()))
        }
    }
}

/// A custom-REST app of the catalog (Box, Dropbox): a bearer token, the API root (its
/// documented default unless given), email userNames, deactivation by default, and the pace its
/// catalog entry documents.
fn rest_app(
    spec: &NewApp,
    kind: AppKind,
    catalog_name: &str,
    default_url: &str,
) -> Result<(AppKind, String, AppAuth, Secret, AppSettings), EngineError> {
    if spec.google.is_some() || spec.github.is_some() {
        return Err(EngineError::field(
            if spec.google.is_some() { "google" } else { "github" },
            format!("a {catalog_name} app authenticates with token or oauth"),
        ));
    }
    let (auth, secret) = match (&spec.token, &spec.oauth) {
        (Some(_), Some(_)) => {
            return Err(EngineError::field("oauth", "OAuth replaces the static token: give one of them"));
        }
        (Some(token), None) if !token.trim().is_empty() => (AppAuth::Bearer, Secret::new(token.trim().to_owned())),
        (Some(_), None) => return Err(EngineError::field("token", "must not be empty")),
        (None, Some(oauth)) => rest_oauth(kind, oauth)?,
        (None, None) => {
            return Err(EngineError::field(
                "token",
                "required: the API's access token (or oauth, which refreshes tokens that expire)",
            ));
        }
    };
    let base_url = spec.base_url.as_deref().map(str::trim).filter(|u| !u.is_empty()).unwrap_or(default_url).to_owned();
    let base = AppSettings { user_name: UserNameFormat::Email, ..AppSettings::default() };
    let mut settings = apply_settings(kind, &base, &spec.settings, true)?;
    let deletes =
        matches!(settings.deprovision, DeprovisionPolicy::Delete | DeprovisionPolicy::DeactivateThenDelete { .. });
    if deletes && !spec.settings.confirm_permanent_delete {
        return Err(EngineError::field(
            "settings.confirm_permanent_delete",
            format!(
                "deleting in {catalog_name} cannot be undone (a returning person gets a new account). Deactivating is \
                 the safe default; to delete anyway, confirm it (--confirm-permanent-delete)"
            ),
        ));
    }
    if settings.limits.is_none() {
        settings.limits = tenure_connectors::catalog::catalog().get(catalog_name).and_then(|e| e.documented_limits());
    }
    Ok((kind, base_url, auth, secret, settings))
}

/// Box's token endpoint, for its client credentials grant and its refresh tokens
/// (<https://developer.box.com/guides/authentication/client-credentials/>,
/// <https://developer.box.com/reference/post-oauth2-token/>).
pub const BOX_TOKEN_URL: &str = "https://api.box.com/oauth2/token";
/// Where a Box admin consents to an OAuth 2.0 app
/// (<https://developer.box.com/guides/authentication/oauth2/>).
pub const BOX_AUTHORIZE_URL: &str = "https://account.box.com/api/oauth2/authorize";
/// Dropbox's token endpoint (<https://developers.dropbox.com/oauth-guide>).
pub const DROPBOX_TOKEN_URL: &str = "https://api.dropboxapi.com/oauth2/token";
/// Where a Dropbox team admin consents; `token_access_type=offline` asks for the refresh token
/// without which the four-hour access token cannot be renewed
/// (<https://dropbox.tech/developers/using-oauth-2-0-with-offline-access>).
pub const DROPBOX_AUTHORIZE_URL: &str = "https://www.dropbox.com/oauth2/authorize?token_access_type=offline";

/// The OAuth settings of a Box or Dropbox app: the vendor's endpoints unless given.
///
/// - Box: the client credentials grant with `box_enterprise_id` (the app's service account; the
///   id and secret go in the form body, as Box documents), or the authorization-code grant, whose
///   refresh tokens Box rotates.
/// - Dropbox: the authorization-code grant only (Dropbox has no client credentials grant for a
///   team), asked for offline access so a refresh token comes with it.
fn rest_oauth(kind: AppKind, spec: &OauthSpec) -> Result<(AppAuth, Secret), EngineError> {
    if spec.zoom_account_id.is_some() {
        return Err(EngineError::field("oauth.zoom_account_id", "only for Zoom (kind scim)"));
    }
    let mut spec = spec.clone();
    let enterprise = spec.box_enterprise_id.take().map(|e| e.trim().to_owned());
    // Box: client credentials unless an authorization endpoint is named; Dropbox: consent.
    let default_flow =
        if kind == AppKind::Box && spec.authorize_url.is_none() { "client_credentials" } else { "authorization_code" };
    let flow = spec.flow.clone().unwrap_or_else(|| default_flow.to_owned());
    match (kind, flow.as_str()) {
        (AppKind::Box, "client_credentials") => {
            let Some(enterprise) = enterprise.filter(|e| !e.is_empty()) else {
                return Err(EngineError::field(
                    "oauth.box_enterprise_id",
                    "required by Box's client credentials grant: the enterprise id (Admin Console, Account & Billing)",
                ));
            };
            if !enterprise.chars().all(|c| c.is_ascii_digit()) {
                return Err(EngineError::field(
                    "oauth.box_enterprise_id",
                    format!("{enterprise:?}: a Box enterprise id is a number"),
                ));
            }
            spec.token_url.get_or_insert_with(|| BOX_TOKEN_URL.to_owned());
            spec.client_auth.get_or_insert_with(|| "body".to_owned());
            spec.flow = Some(flow);
            let (auth, secret) = oauth_auth(&spec)?;
            let AppAuth::OauthClientCredentials { token_url, client_id, scope, client_auth, .. } = auth else {
                return Err(EngineError::field("oauth.flow", "Box's client credentials grant"));
            };
            let token_params =
                [("box_subject_type".to_owned(), "enterprise".to_owned()), ("box_subject_id".to_owned(), enterprise)]
                    .into();
            Ok((AppAuth::OauthClientCredentials { token_url, client_id, scope, client_auth, token_params }, secret))
        }
        (AppKind::Box, "authorization_code") => {
            if enterprise.is_some() {
                return Err(EngineError::field("oauth.box_enterprise_id", "belongs to the client_credentials flow"));
            }
            spec.token_url.get_or_insert_with(|| BOX_TOKEN_URL.to_owned());
            spec.authorize_url.get_or_insert_with(|| BOX_AUTHORIZE_URL.to_owned());
            spec.client_auth.get_or_insert_with(|| "body".to_owned());
            spec.flow = Some(flow);
            oauth_auth(&spec)
        }
        (AppKind::Dropbox, "authorization_code") => {
            if enterprise.is_some() {
                return Err(EngineError::field("oauth.box_enterprise_id", "only for kind box"));
            }
            spec.token_url.get_or_insert_with(|| DROPBOX_TOKEN_URL.to_owned());
            let authorize = spec.authorize_url.get_or_insert_with(|| DROPBOX_AUTHORIZE_URL.to_owned());
            // Without offline access Dropbox issues no refresh token, and the grant ends after four hours.
            if !authorize.contains("token_access_type=") {
                authorize.push(if authorize.contains('?') { '&' } else { '?' });
                authorize.push_str("token_access_type=offline");
            }
            spec.flow = Some(flow);
            oauth_auth(&spec)
        }
        (AppKind::Dropbox, "client_credentials") => Err(EngineError::field(
            "oauth.flow",
            "Dropbox has no client credentials grant for a team: use authorization_code (a team admin consents once; \
             Tenure refreshes the four-hour access tokens)",
        )),
        (_, other) => {
            Err(EngineError::field("oauth.flow", format!("{other:?}: use client_credentials or authorization_code")))
        }
    }
}

/// A Microsoft 365 app: Graph's root (its documented default unless given), OAuth client
/// credentials against the tenant's token endpoint with Graph's `.default` scope, the UPN as
/// userName, deactivation (`accountEnabled: false`) by default. Graph throttles with 429 and
/// `Retry-After`, which every client waits out, so no pace is set by default.
fn m365_app(spec: &NewApp) -> Result<(AppKind, String, AppAuth, Secret, AppSettings), EngineError> {
    if spec.token.is_some() || spec.google.is_some() || spec.github.is_some() {
        return Err(EngineError::field(
            if spec.token.is_some() {
                "token"
            } else if spec.google.is_some() {
                "google"
            } else {
                "github"
            },
            "a Microsoft 365 app authenticates with oauth.client_id and oauth.client_secret",
        ));
    }
    let oauth = spec
        .oauth
        .as_ref()
        .ok_or_else(|| EngineError::field("oauth", "required: the app registration's client_id and client_secret"))?;
    if oauth.flow.as_deref().is_some_and(|f| f != "client_credentials")
        || oauth.authorize_url.is_some()
        || oauth.zoom_account_id.is_some()
        || oauth.box_enterprise_id.is_some()
    {
        return Err(EngineError::field("oauth", "a Microsoft 365 app uses the client_credentials flow alone"));
    }
    let tenant_id = spec.settings.tenant_id.as_deref().map(str::trim).unwrap_or_default();
    if tenant_id.is_empty() || !tenant_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')) {
        return Err(EngineError::field("settings.tenant_id", "the tenant's id (a GUID) or its onmicrosoft.com domain"));
    }
    let client_id = oauth.client_id.trim();
    if client_id.is_empty() {
        return Err(EngineError::field("oauth.client_id", "must not be empty"));
    }
    let secret = oauth.client_secret.trim();
    if secret.is_empty() {
        return Err(EngineError::field("oauth.client_secret", "must not be empty"));
    }
    let token_url = match oauth.token_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => url.to_owned(),
        None => tenure_connectors::m365::token_url(tenant_id),
    };
    let secret = Secret::new(secret.to_owned());
    tenure_connectors::oauth::OAuthConfig::new(
        &token_url,
        client_id,
        secret.clone(),
        Some(tenure_connectors::m365::GRAPH_SCOPE),
    )
    .map_err(|e| EngineError::field("oauth.token_url", e.to_string()))?;
    let auth = AppAuth::OauthClientCredentials {
        token_url,
        client_id: client_id.to_owned(),
        scope: Some(tenure_connectors::m365::GRAPH_SCOPE.to_owned()),
        // The identity platform takes the secret in the form body (its documented request).
        client_auth: OauthClientAuth::Body,
        token_params: Default::default(),
    };
    // The usage location, if given, is set by apply_settings.
    let target = M365Target { tenant_id: tenant_id.to_owned(), usage_location: None };
    let base_url = spec
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or(tenure_connectors::m365::DEFAULT_API_URL)
        .to_owned();
    let base = AppSettings { user_name: UserNameFormat::Email, m365: Some(target), ..AppSettings::default() };
    let mut settings = apply_settings(AppKind::M365, &base, &spec.settings, true)?;
    let deletes =
        matches!(settings.deprovision, DeprovisionPolicy::Delete | DeprovisionPolicy::DeactivateThenDelete { .. });
    if deletes && !spec.settings.confirm_permanent_delete {
        return Err(EngineError::field(
            "settings.confirm_permanent_delete",
            "a deleted Microsoft 365 user can be restored from deleted items for 30 days only, then it and its \
             mailbox and files are gone. Deactivating (accountEnabled: false) is the safe default; to delete anyway, \
             confirm it (--confirm-permanent-delete)",
        ));
    }
    // The pace Graph documents for its identity service, unless the admin set one.
    if settings.limits.is_none() {
        settings.limits = connector_entry(AppKind::M365).and_then(|e| e.documented_limits());
    }
    Ok((AppKind::M365, base_url, auth, secret, settings))
}

/// The check of an app reached through its connector alone (no SCIM probe): one read, its
/// problem or what it found, and the connector's declared operations.
fn connector_check(
    record: &AppRecord,
    descriptor: tenure_connectors::Descriptor,
    problem: Option<String>,
    found: Option<String>,
    vendor: Option<serde_json::Value>,
    deprovision: String,
    joiners: Option<String>,
) -> AppCheck {
    AppCheck {
        app: record.app.name.clone(),
        kind: record.app.kind,
        provisionable: problem.is_none(),
        probe: None,
        incompatibilities: Vec::new(),
        problem,
        descriptor: Some(descriptor),
        vendor,
        catalog: None,
        deprovision,
        joiners,
        found,
    }
}

/// The catalog entry of an app reached through a connector of its own (Box, Dropbox, Microsoft
/// 365): the entry whose `connector` is the app's kind.
fn connector_entry(kind: AppKind) -> Option<&'static tenure_connectors::CatalogEntry> {
    let name = match kind {
        AppKind::Box => "box",
        AppKind::Dropbox => "dropbox",
        AppKind::M365 => "m365",
        _ => return None,
    };
    tenure_connectors::catalog::catalog().entries().iter().find(|e| e.connector.as_deref() == Some(name))
}

/// Adds what the app's catalog entry documents to a connector app's check, and how the
/// connector and the app's settings compare with it, as a SCIM app's probe is compared with its
/// vendor profile.
fn against_entry(record: &AppRecord, check: &mut AppCheck) {
    let (Some(entry), Some(descriptor)) = (connector_entry(record.app.kind), &check.descriptor) else { return };
    check.vendor = Some(json!({
        "name": entry.name,
        "display_name": entry.display_name,
        "delete": entry.delete_meaning().as_str(),
        "delete_documented": entry.delete.describe(),
        "reactivate": entry.reactivates(),
        "rate_limit": entry.rate_limit_text(),
        "docs": entry.docs(),
    }));
    check.catalog = Some(tenure_connectors::catalog::compare_connector(
        entry,
        descriptor,
        record.app.settings.limits.as_ref(),
        check.found.as_deref().filter(|_| check.problem.is_none()),
    ));
}

/// The outbound policy on every address the server will send the app's credentials to, as
/// they resolve now (each connection checks again). A name that does not resolve yet passes:
/// it reaches nothing now, and the connect-time check judges whatever it resolves to later.
async fn check_addresses(base_url: &str, auth: &AppAuth) -> Result<(), EngineError> {
    let token_url = match auth {
        AppAuth::OauthClientCredentials { token_url, .. } | AppAuth::OauthAuthorizationCode { token_url, .. } => {
            Some(token_url.as_str())
        }
        _ => None,
    };
    for (field, url) in [("base_url", Some(base_url)), ("oauth.token_url", token_url)] {
        let Some(url) = url else { continue };
        let parsed = url::Url::parse(url).map_err(|e| EngineError::field(field, format!("{url:?}: {e}")))?;
        match tenure_outbound::check_url(&parsed).await {
            Ok(()) | Err(tenure_outbound::Refused::Lookup { .. }) => {}
            Err(refused) => return Err(EngineError::field(field, refused.to_string())),
        }
    }
    Ok(())
}

impl Admin<'_> {
    /// The app named, or 404; with the actor allowed to read it.
    async fn readable(&self, name: &str) -> Result<AppRecord, EngineError> {
        let record = self.store().app_by_name(self.tenant(), name).await?;
        self.actor.require(Need::AppRead(record.app.id))?;
        Ok(record)
    }

    /// Checks that the actor may change the app (404 when there is none).
    pub async fn writable_app(&self, name: &str) -> Result<(), EngineError> {
        self.writable(name).await.map(drop)
    }

    pub(crate) async fn writable(&self, name: &str) -> Result<AppRecord, EngineError> {
        let record = self.store().app_by_name(self.tenant(), name).await?;
        self.actor.require(Need::AppWrite(record.app.id))?;
        Ok(record)
    }

    async fn view(&self, record: &AppRecord) -> Result<AppView, EngineError> {
        let (tenant, id) = (self.tenant(), record.app.id);
        let (linked, active) = self.store().account_counts(tenant, id).await?;
        let assignments = self.store().list_assignments(tenant, id).await?.len();
        let health = self.store().app_health(tenant).await?.into_iter().find(|h| h.app_id == id);
        let request_windows = match record.app.settings.limits.as_ref().filter(|l| !l.windows.is_empty()) {
            Some(limits) => {
                let key = limits.shared_key.clone().unwrap_or_else(|| id.to_string());
                let now = crate::Clock::now_ms(&crate::SystemClock);
                self.store().window_usage(tenant, &crate::worker::window_bucket(&key), &limits.windows, now).await?
            }
            None => Vec::new(),
        };
        Ok(AppView {
            id,
            name: record.app.name.clone(),
            kind: record.app.kind,
            base_url: record.app.base_url.clone(),
            auth: record.auth.clone(),
            settings: record.app.settings.clone(),
            disabled: record.disabled,
            version: record.version,
            assignments,
            linked_accounts: linked,
            active_accounts: active,
            paused_until_ms: health.as_ref().and_then(|h| h.paused_until_ms),
            failures: health.as_ref().map_or(0, |h| h.failures),
            last_error: health.and_then(|h| h.last_error),
            request_windows,
            oauth_grant: crate::oauth_flow::grant_view(self.store(), tenant, record).await?,
        })
    }

    /// The apps the actor may read (an app admin sees theirs).
    pub async fn apps(&self) -> Result<Vec<AppView>, EngineError> {
        let mut out = Vec::new();
        for record in self.store().list_apps(self.tenant()).await? {
            if self.actor.allows(Need::AppRead(record.app.id)) {
                out.push(self.view(&record).await?);
            }
        }
        Ok(out)
    }

    pub async fn app(&self, name: &str) -> Result<AppView, EngineError> {
        let record = self.readable(name).await?;
        self.view(&record).await
    }

    /// Adds an app (org admins).
    pub async fn create_app(&self, spec: NewApp) -> Result<AppView, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let name = check_name(&spec.name)?;
        if spec.settings.tenant_id.is_some() && spec.kind != NewAppKind::M365 {
            return Err(EngineError::field("settings.tenant_id", "only for kind m365"));
        }
        let (kind, base_url, auth, secret, mut settings) = match spec.kind {
            NewAppKind::Scim => {
                if spec.google.is_some() {
                    return Err(EngineError::field("google", "only for kind google_workspace"));
                }
                let base_url = spec
                    .base_url
                    .as_deref()
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| EngineError::field("base_url", "required for a SCIM app"))?
                    .to_owned();
                let (auth, secret) = match (&spec.token, &spec.oauth) {
                    (Some(_), Some(_)) => {
                        return Err(EngineError::field("oauth", "OAuth replaces the static token: give one of them"));
                    }
                    (Some(token), None) if !token.trim().is_empty() => {
                        (AppAuth::Bearer, Secret::new(token.trim().to_owned()))
                    }
                    (Some(_), None) => return Err(EngineError::field("token", "must not be empty")),
                    (None, Some(oauth)) => oauth_auth(oauth)?,
                    (None, None) => return Err(EngineError::field("token", "required (or oauth)")),
                };
                let settings = apply_settings(AppKind::Scim, &AppSettings::default(), &spec.settings, true)?;
                (AppKind::Scim, base_url, auth, secret, settings)
            }
            NewAppKind::GoogleWorkspace => {
                if spec.token.is_some() || spec.oauth.is_some() {
                    return Err(EngineError::field(
                        if spec.token.is_some() { "token" } else { "oauth" },
                        "a Google Workspace app authenticates with google.service_account_key",
                    ));
                }
                let google =
                    spec.google.as_ref().ok_or_else(|| EngineError::field("google", "required for this kind"))?;
                if google.service_account_key.trim().is_empty() {
                    return Err(EngineError::field("google.service_account_key", "must not be empty"));
                }
                let target = GoogleWorkspaceTarget {
                    domain: google.domain.trim().to_lowercase(),
                    customer: google.customer.as_deref().unwrap_or("my_customer").trim().to_owned(),
                    admin: google.admin_email.trim().to_owned(),
                    token_url: google.token_url.clone(),
                    org_unit_path: google.org_unit.clone(),
                    change_password_at_next_login: google.change_password_at_next_login,
                    transfer_drive_to: None,
                    license_skus: Vec::new(),
                };
                let base_url = spec
                    .base_url
                    .as_deref()
                    .unwrap_or(tenure_connectors::google_workspace::DEFAULT_API_URL)
                    .trim()
                    .to_owned();
                let base = AppSettings {
                    user_name: UserNameFormat::Email,
                    google_workspace: Some(target),
                    ..AppSettings::default()
                };
                let mut settings = apply_settings(AppKind::GoogleWorkspace, &base, &spec.settings, true)?;
                let limits = settings.limits.take();
                let admin = google.admin_email.trim().to_lowercase();
                settings.limits = Some(AppLimits {
                    per_second: Some(limits.as_ref().and_then(|l| l.per_second).unwrap_or(GOOGLE_QUERIES_PER_SECOND)),
                    burst: match limits.as_ref().and_then(|l| l.per_second) {
                        Some(_) => limits.as_ref().and_then(|l| l.burst),
                        None => Some(GOOGLE_BURST),
                    },
                    concurrency: limits.as_ref().and_then(|l| l.concurrency),
                    shared_key: Some(format!("google:{admin}")),
                    creates_per_second: None,
                    updates_per_second: None,
                    deletes_per_second: None,
                    windows: limits.map(|l| l.windows).unwrap_or_default(),
                });
                let secret = Secret::new(google.service_account_key.clone());
                (AppKind::GoogleWorkspace, base_url, AppAuth::Bearer, secret, settings)
            }
            NewAppKind::Manual => {
                if spec.token.is_some() || spec.oauth.is_some() || spec.google.is_some() || spec.github.is_some() {
                    return Err(EngineError::field("kind", "a manual app has no connector and no credentials"));
                }
                let owner = spec.owner.as_deref().map(str::trim).unwrap_or_default().to_lowercase();
                if owner.parse::<lettre::Address>().is_err() {
                    return Err(EngineError::field("owner", "required: the email of whoever works the app by hand"));
                }
                let base = AppSettings {
                    manual: Some(tenure_core::ManualTarget { owner, task_due_s: None, verify_by_read: false }),
                    user_name: UserNameFormat::Email,
                    ..AppSettings::default()
                };
                let settings = apply_settings(AppKind::Scim, &base, &spec.settings, true)?;
                (AppKind::Scim, "manual:".to_owned(), AppAuth::Bearer, Secret::new("none"), settings)
            }
            NewAppKind::GithubOrg => {
                if spec.google.is_some() || spec.oauth.is_some() {
                    return Err(EngineError::field(
                        if spec.google.is_some() { "google" } else { "oauth" },
                        "a GitHub organization authenticates with token",
                    ));
                }
                let github =
                    spec.github.as_ref().ok_or_else(|| EngineError::field("github", "required for this kind"))?;
                let token = spec.token.as_deref().map(str::trim).unwrap_or_default();
                if token.is_empty() {
                    return Err(EngineError::field("token", "required: an access token with admin:org"));
                }
                let target = GitHubOrgTarget {
                    org: github.org.trim().to_owned(),
                    reinvite_after_days: github.reinvite_after_days.unwrap_or(7),
                };
                let base_url = spec.base_url.as_deref().unwrap_or(GITHUB_API_URL).trim().to_owned();
                // A leaver is removed from the organization; a pending invitation is cancelled.
                let base = AppSettings {
                    deprovision: DeprovisionPolicy::Deactivate,
                    user_name: UserNameFormat::Email,
                    github: Some(target.clone()),
                    ..AppSettings::default()
                };
                let mut settings = apply_settings(AppKind::GithubOrg, &base, &spec.settings, true)?;
                let limits = settings.limits.take();
                settings.limits = Some(AppLimits {
                    per_second: Some(limits.as_ref().and_then(|l| l.per_second).unwrap_or(GITHUB_REQUESTS_PER_SECOND)),
                    burst: limits.as_ref().and_then(|l| l.burst).or(Some(60)),
                    concurrency: limits.as_ref().and_then(|l| l.concurrency),
                    shared_key: Some(format!("github:{}", target.org.to_lowercase())),
                    creates_per_second: None,
                    updates_per_second: None,
                    deletes_per_second: None,
                    windows: limits.map(|l| l.windows).unwrap_or_default(),
                });
                (AppKind::GithubOrg, base_url, AppAuth::Bearer, Secret::new(token.to_owned()), settings)
            }
            NewAppKind::Box => rest_app(&spec, AppKind::Box, "box", "https://api.box.com/2.0")?,
            NewAppKind::Dropbox => rest_app(&spec, AppKind::Dropbox, "dropbox", "https://api.dropboxapi.com/2")?,
            NewAppKind::M365 => m365_app(&spec)?,
        };
        settings.dry_run = spec.settings.dry_run.unwrap_or(false);
        check_connector(kind, &base_url, &settings, &secret)?;
        if !settings.manual() {
            check_addresses(&base_url, &auth).await?;
        }
        let mut tx = self.store().begin().await?;
        let row = AppRow {
            name: &name,
            base_url: &base_url,
            settings: &settings,
            auth: &auth,
            secret: Some(&secret),
            disabled: spec.disabled,
        };
        let app = tx.insert_app(self.tenant(), kind, &row).await?;
        // The key and token stay out of the audit log; the settings say where and as whom.
        let detail =
            json!({"base_url": base_url, "kind": kind, "settings": settings, "auth": auth, "disabled": spec.disabled});
        tx.audit(self.tenant(), audit(self.actor, "app.add", &app.name, &detail)).await?;
        tx.commit().await?;
        self.app(&app.name).await
    }

    /// Edits an app: only what is given changes. `expected` is the version the caller read
    /// (`If-Match`); `preview` computes the plan the change would cause and saves nothing.
    pub async fn edit_app(
        &self,
        name: &str,
        edit: AppEdit,
        expected: Option<i64>,
        preview: bool,
    ) -> Result<AppEdited, EngineError> {
        let record = self.writable(name).await?;
        let version = check_version(&format!("app {name}"), expected, record.version)?;
        let mut changed = Vec::new();
        let base_url = match edit.base_url.as_deref().map(str::trim) {
            Some(url) if url != record.app.base_url => {
                if edit.credentials.is_none() {
                    return Err(EngineError::field(
                        "credentials",
                        "a changed base_url needs the app's credentials again (they would otherwise go to the new \
                         address unasked)",
                    ));
                }
                changed.push("base_url".to_owned());
                url.to_owned()
            }
            _ => record.app.base_url.clone(),
        };
        let secret = edit.credentials.as_ref().map(|c| c.secret_for(&record, "credentials")).transpose()?;
        if secret.is_some() {
            changed.push("credentials".to_owned());
        }
        let settings = apply_settings(record.app.kind, &record.app.settings, &edit.settings, false)?;
        let (before, after) = (serde_json::to_value(&record.app.settings), serde_json::to_value(&settings));
        if let (Ok(serde_json::Value::Object(before)), Ok(serde_json::Value::Object(after))) = (&before, &after) {
            let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
            changed
                .extend(keys.into_iter().filter(|k| before.get(*k) != after.get(*k)).map(|k| format!("settings.{k}")));
        }
        check_connector(record.app.kind, &base_url, &settings, secret.as_ref().unwrap_or(&record.secret))?;
        if !record.app.settings.manual() {
            check_addresses(&base_url, &record.auth).await?;
        }
        let access_changes = settings != record.app.settings;
        let plan = if preview && access_changes {
            let mut then = record.app.clone();
            then.settings = settings.clone();
            let (now, then) = self.engine.preview_app(&record.app.name, then, self.engine.today().await?).await?;
            Some(PlanChange::between(&now, &then))
        } else if preview {
            Some(PlanChange::default())
        } else {
            None
        };
        if preview {
            let mut shown = self.view(&record).await?;
            shown.base_url = base_url;
            shown.settings = settings;
            return Ok(AppEdited { saved: false, app: shown, plan, changed });
        }
        if changed.is_empty() {
            return Ok(AppEdited { saved: false, app: self.view(&record).await?, plan: None, changed });
        }
        let mut tx = self.store().begin().await?;
        let row = AppRow {
            name: &record.app.name,
            base_url: &base_url,
            settings: &settings,
            auth: &record.auth,
            secret: secret.as_ref(),
            disabled: record.disabled,
        };
        tx.update_app(self.tenant(), record.app.id, version, &row).await?;
        let detail = json!({
            "changed": changed,
            "before": {"base_url": record.app.base_url, "settings": record.app.settings},
            "after": {"base_url": base_url, "settings": settings},
        });
        tx.audit(self.tenant(), audit(self.actor, "app.edit", &record.app.name, &detail)).await?;
        tx.commit().await?;
        Ok(AppEdited { saved: true, app: self.app(&record.app.name).await?, plan: None, changed })
    }

    /// Replaces the app's credentials and lifts a quarantine (the refused credentials were its
    /// likely cause; the next operation tells).
    pub async fn rotate_credentials(
        &self,
        name: &str,
        credentials: Credentials,
        expected: Option<i64>,
    ) -> Result<AppView, EngineError> {
        let record = self.writable(name).await?;
        let version = check_version(&format!("app {name}"), expected, record.version)?;
        let secret = credentials.secret_for(&record, "credentials")?;
        check_connector(record.app.kind, &record.app.base_url, &record.app.settings, &secret)?;
        let mut tx = self.store().begin().await?;
        let row = AppRow {
            name: &record.app.name,
            base_url: &record.app.base_url,
            settings: &record.app.settings,
            auth: &record.auth,
            secret: Some(&secret),
            disabled: record.disabled,
        };
        tx.update_app(self.tenant(), record.app.id, version, &row).await?;
        let lifted = tx.clear_app_health(self.tenant(), record.app.id).await?;
        let detail = json!({"auth": record.auth.kind(), "quarantine_lifted": lifted});
        tx.audit(self.tenant(), audit(self.actor, "app.credentials", &record.app.name, &detail)).await?;
        tx.commit().await?;
        self.app(name).await
    }

    /// Pauses (or resumes) provisioning into the app. Disabled, nothing is planned or carried
    /// out for it and nobody is deprovisioned; enabled again, it is planned in full.
    pub async fn set_app_disabled(
        &self,
        name: &str,
        disabled: bool,
        expected: Option<i64>,
    ) -> Result<AppView, EngineError> {
        let record = self.writable(name).await?;
        let version = check_version(&format!("app {name}"), expected, record.version)?;
        if record.disabled == disabled {
            return self.view(&record).await;
        }
        let mut tx = self.store().begin().await?;
        let row = AppRow {
            name: &record.app.name,
            base_url: &record.app.base_url,
            settings: &record.app.settings,
            auth: &record.auth,
            secret: None,
            disabled,
        };
        tx.update_app(self.tenant(), record.app.id, version, &row).await?;
        let action = if disabled { "app.disable" } else { "app.enable" };
        tx.audit(self.tenant(), audit(self.actor, action, &record.app.name, &json!({}))).await?;
        tx.commit().await?;
        self.app(name).await
    }

    /// Removes the app from Tenure (org admins), or with `preview` says what would stay in it:
    /// every account, as it is. Removing an app never deprovisions anyone.
    pub async fn remove_app(
        &self,
        name: &str,
        expected: Option<i64>,
        preview: bool,
    ) -> Result<AppRemoval, EngineError> {
        let record = self.store().app_by_name(self.tenant(), name).await?;
        self.actor.require(Need::OrgAdmin)?;
        let version = check_version(&format!("app {name}"), expected, record.version)?;
        let (tenant, id) = (self.tenant(), record.app.id);
        let people: std::collections::HashMap<PersonId, String> =
            self.store().list_people(tenant).await?.into_iter().map(|p| (p.id, p.email)).collect();
        let staying = self
            .store()
            .list_accounts(tenant, id)
            .await?
            .into_iter()
            .map(|a| StayingAccount {
                person: people.get(&a.link.person_id).cloned(),
                remote_id: a.link.remote_id,
                user_name: a.user_name,
                active: a.active,
            })
            .collect::<Vec<_>>();
        let assignments = self.store().list_assignments(tenant, id).await?.len();
        let filter = tenure_store::OperationFilter {
            status: Some(tenure_store::OperationStatus::Pending),
            app: Some(id),
            limit: Some(1_000_000),
        };
        let pending_operations = self.store().list_operations(tenant, &filter).await?.len() as i64;
        let mut removal =
            AppRemoval { app: record.app.name.clone(), removed: false, staying, assignments, pending_operations };
        if preview {
            return Ok(removal);
        }
        let mut tx = self.store().begin().await?;
        tx.delete_app(tenant, id, version).await?;
        let detail = json!({
            "app": record.app.name, "kind": record.app.kind, "base_url": record.app.base_url,
            "accounts_left_in_app": removal.staying.len(), "assignments": assignments,
            "operations_dismissed": pending_operations,
        });
        tx.audit(tenant, audit(self.actor, "app.remove", &record.app.name, &detail)).await?;
        tx.commit().await?;
        removal.removed = true;
        Ok(removal)
    }

    /// Stores the capability profile `tenure app check` found.
    pub async fn store_capabilities(
        &self,
        name: &str,
        capabilities: tenure_core::capabilities::Capabilities,
    ) -> Result<AppView, EngineError> {
        let record = self.writable(name).await?;
        let mut settings = record.app.settings.clone();
        settings.capabilities = Some(capabilities);
        let mut tx = self.store().begin().await?;
        let row = AppRow {
            name: &record.app.name,
            base_url: &record.app.base_url,
            settings: &settings,
            auth: &record.auth,
            secret: None,
            disabled: record.disabled,
        };
        tx.update_app(self.tenant(), record.app.id, record.version, &row).await?;
        let detail = json!({"capabilities": settings.capabilities});
        tx.audit(self.tenant(), audit(self.actor, "app.profile", &record.app.name, &detail)).await?;
        tx.commit().await?;
        self.app(name).await
    }
}

/// An audit entry about an app, by this actor.
pub(crate) fn audit<'a>(
    actor: &'a super::Actor,
    action: &'a str,
    app: &'a str,
    detail: &'a serde_json::Value,
) -> AuditRecord<'a> {
    AuditRecord { actor: &actor.name, action, subject: app, person: None, app: Some(app), detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_defaults_apply_on_create_and_explicit_settings_win() {
        let spec = SettingsSpec { vendor: Some("slack".into()), ..Default::default() };
        let s = apply_settings(AppKind::Scim, &AppSettings::default(), &spec, true).unwrap();
        assert_eq!(s.user_name, UserNameFormat::Handle { max_len: 21 });
        assert_eq!(s.limits.as_ref().and_then(|l| l.per_second), Some(3.0));
        let spec = SettingsSpec { rate_limit: Some(10.0), ..Default::default() };
        let edited = apply_settings(AppKind::Scim, &s, &spec, false).unwrap();
        assert_eq!(edited.limits.as_ref().and_then(|l| l.per_second), Some(10.0));
        assert_eq!(edited.user_name, s.user_name, "an edit changes only what it gives");
    }

    #[test]
    fn window_budgets_come_from_the_vendor_and_the_flags() {
        // GitHub EMU documents "below 1,000 an hour": a budget over the hour, and no pace.
        let spec = SettingsSpec { vendor: Some("github".into()), ..Default::default() };
        let s = apply_settings(AppKind::Scim, &AppSettings::default(), &spec, true).unwrap();
        let limits = s.limits.clone().unwrap();
        assert_eq!(limits.windows, vec![RequestWindow::hourly(1000)]);
        // A daily budget is added beside it; a new hourly one replaces it; 0 removes one.
        let spec = SettingsSpec { rate_limit_per_day: Some(20_000), rate_limit: Some(5.0), ..Default::default() };
        let s = apply_settings(AppKind::Scim, &s, &spec, false).unwrap();
        let windows = s.limits.as_ref().map(|l| l.windows.clone()).unwrap_or_default();
        assert_eq!(windows, vec![RequestWindow::hourly(1000), RequestWindow::daily(20_000)]);
        let limits = s.limits.clone().unwrap();
        let spec = SettingsSpec { rate_limit_per_hour: Some(100), ..Default::default() };
        let s = apply_settings(AppKind::Scim, &s, &spec, false).unwrap();
        let windows = s.limits.as_ref().map(|l| l.windows.clone()).unwrap_or_default();
        assert_eq!(windows, vec![RequestWindow::hourly(100), RequestWindow::daily(20_000)]);
        assert_eq!(s.limits.as_ref().and_then(|l| l.per_second), limits.per_second, "the pace stays");
        let spec = SettingsSpec { rate_limit_per_hour: Some(0), ..Default::default() };
        let s = apply_settings(AppKind::Scim, &s, &spec, false).unwrap();
        let windows = s.limits.as_ref().map(|l| l.windows.clone()).unwrap_or_default();
        assert_eq!(windows, vec![RequestWindow::daily(20_000)]);
        // On an app without a vendor, the flag alone.
        let spec = SettingsSpec { rate_limit_per_hour: Some(50), ..Default::default() };
        let s = apply_settings(AppKind::Scim, &AppSettings::default(), &spec, true).unwrap();
        let limits = s.limits.unwrap();
        assert_eq!((limits.per_second, limits.windows), (None, vec![RequestWindow::hourly(50)]));
    }

    #[test]
    fn a_permanent_delete_needs_confirming() {
        let spec =
            SettingsSpec { vendor: Some("github".into()), deprovision: Some("delete".into()), ..Default::default() };
        let err = apply_settings(AppKind::Scim, &AppSettings::default(), &spec, true).unwrap_err();
        assert!(matches!(&err, EngineError::BadField { field, .. } if field == "settings.confirm_permanent_delete"));
    }

    #[test]
    fn a_pre_start_lead_is_bounded_and_refused_where_nothing_can_wait_disabled() {
        let spec = |days| SettingsSpec { pre_start_days: Some(days), ..Default::default() };
        let set = apply_settings(AppKind::Scim, &AppSettings::default(), &spec(5), true).unwrap();
        assert_eq!(set.pre_start_days, Some(5));
        let cleared = apply_settings(AppKind::Scim, &set, &spec(0), false).unwrap();
        assert_eq!(cleared.pre_start_days, None);
        let kept = apply_settings(AppKind::Scim, &set, &SettingsSpec::default(), false).unwrap();
        assert_eq!(kept.pre_start_days, Some(5), "an edit changes only what it gives");
        let too_long = apply_settings(AppKind::Scim, &AppSettings::default(), &spec(91), true).unwrap_err();
        assert_eq!(too_long.to_string(), "settings.pre_start_days: 91: at most 90 days before the start date");
        let github = apply_settings(AppKind::GithubOrg, &AppSettings::default(), &spec(3), true).unwrap_err();
        assert!(github.to_string().contains("invites people"), "{github}");
    }

    fn m365_spec(settings: SettingsSpec) -> NewApp {
        NewApp {
            name: "m365".into(),
            kind: NewAppKind::M365,
            base_url: None,
            token: None,
            oauth: Some(OauthSpec {
                token_url: None,
                client_id: " client ".into(),
                client_secret: " secret ".into(),
                scope: None,
                client_auth: None,
                flow: None,
                authorize_url: None,
                zoom_account_id: None,
                box_enterprise_id: None,
            }),
            google: None,
            github: None,
            owner: None,
            settings,
            disabled: false,
        }
    }

    #[test]
    fn an_m365_app_signs_in_to_its_tenant_and_keeps_a_usage_location() {
        let tenant = || SettingsSpec { tenant_id: Some("contoso.onmicrosoft.com".into()), ..Default::default() };
        let spec =
            SettingsSpec { usage_location: Some("de".into()), deprovision: Some("remove-license".into()), ..tenant() };
        let (kind, base_url, auth, secret, settings) = m365_app(&m365_spec(spec)).unwrap();
        assert_eq!(
            (kind, base_url.as_str(), secret.expose()),
            (AppKind::M365, "https://graph.microsoft.com/v1.0", "secret")
        );
        assert_eq!(
            auth,
            AppAuth::OauthClientCredentials {
                token_url: "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token".into(),
                client_id: "client".into(),
                scope: Some("https://graph.microsoft.com/.default".into()),
                client_auth: OauthClientAuth::Body,
                token_params: Default::default(),
            }
        );
        assert_eq!(settings.m365.as_ref().and_then(|t| t.usage_location.as_deref()), Some("DE"));
        assert_eq!(
            (settings.deprovision, settings.user_name),
            (DeprovisionPolicy::RemoveLicense, UserNameFormat::Email)
        );
        // An edit changes the usage location; an empty one removes it; the tenant stays.
        let edit = SettingsSpec { usage_location: Some("".into()), ..Default::default() };
        let edited = apply_settings(AppKind::M365, &settings, &edit, false).unwrap();
        assert_eq!(
            edited.m365.as_ref().map(|t| (t.tenant_id.as_str(), t.usage_location.clone())),
            Some(("contoso.onmicrosoft.com", None))
        );
        for (bad, field) in [
            (SettingsSpec { usage_location: Some("USA".into()), ..tenant() }, "settings.usage_location"),
            (SettingsSpec { tenant_id: Some("a/b".into()), ..Default::default() }, "settings.tenant_id"),
            (SettingsSpec { deprovision: Some("delete".into()), ..tenant() }, "settings.confirm_permanent_delete"),
        ] {
            let err = m365_app(&m365_spec(bad)).unwrap_err();
            assert!(matches!(&err, EngineError::BadField { field: f, .. } if f == field), "{err}");
        }
        let moved = apply_settings(AppKind::M365, &settings, &tenant(), false).unwrap_err();
        assert!(moved.to_string().contains("when it is added"), "{moved}");
        // The API's body.
        let body = json!({"name": "m", "kind": "m365", "oauth": {"client_id": "c", "client_secret": "s"},
            "settings": {"tenant_id": "t.onmicrosoft.com", "usage_location": "us"}});
        let spec: NewApp = serde_json::from_value(body).unwrap();
        assert_eq!(spec.kind, NewAppKind::M365);
        assert!(m365_app(&spec).is_ok());
        let scim = apply_settings(
            AppKind::Scim,
            &AppSettings::default(),
            &SettingsSpec { usage_location: Some("US".into()), ..Default::default() },
            true,
        );
        assert!(scim.is_err(), "a usage location is for Microsoft 365 apps");
    }

    #[test]
    fn a_google_app_removes_licenses_only_where_it_names_its_skus() {
        let google = AppSettings {
            google_workspace: Some(GoogleWorkspaceTarget {
                domain: "example.com".into(),
                customer: "my_customer".into(),
                admin: "admin@example.com".into(),
                token_url: None,
                org_unit_path: None,
                change_password_at_next_login: false,
                transfer_drive_to: None,
                license_skus: Vec::new(),
            }),
            ..AppSettings::default()
        };
        let remove = || SettingsSpec { deprovision: Some("remove-license".into()), ..Default::default() };
        let err = apply_settings(AppKind::GoogleWorkspace, &google, &remove(), true).unwrap_err();
        assert!(matches!(&err, EngineError::BadField { field, .. } if field == "settings.deprovision"), "{err}");
        let spec = SettingsSpec {
            license_skus: Some("Google-Apps:1010020027=Business Starter,Google-Vault:Google-Vault=Vault".into()),
            ..remove()
        };
        let settings = apply_settings(AppKind::GoogleWorkspace, &google, &spec, true).unwrap();
        let skus = &settings.google_workspace.as_ref().unwrap().license_skus;
        assert_eq!(skus.iter().map(|s| s.tier.as_str()).collect::<Vec<_>>(), ["Business Starter", "Vault"]);
        assert_eq!(settings.deprovision, DeprovisionPolicy::RemoveLicense);
        // Taking the SKUs away while licenses are removed on leaving is refused; a bad entry too.
        let clear = SettingsSpec { license_skus: Some(String::new()), ..Default::default() };
        assert!(apply_settings(AppKind::GoogleWorkspace, &settings, &clear, false).is_err());
        let bad = SettingsSpec { license_skus: Some("Google-Apps=Starter".into()), ..Default::default() };
        let err = apply_settings(AppKind::GoogleWorkspace, &google, &bad, false).unwrap_err();
        assert!(matches!(&err, EngineError::BadField { field, .. } if field == "settings.license_skus"), "{err}");
        let scim = SettingsSpec { license_skus: Some("a:b=c".into()), ..Default::default() };
        assert!(apply_settings(AppKind::Scim, &AppSettings::default(), &scim, true).is_err());
    }

    #[test]
    fn a_bad_mapping_names_its_line_and_column() {
        let spec =
            MappingSpec { target: "displayName".into(), expression: "lowr(familyName)".into(), on_create: false };
        match mapping_set(&[spec]).unwrap_err() {
            EngineError::Expression { field, line, column, message, .. } => {
                assert_eq!((field.as_str(), line, column), ("settings.mappings[0].expression", 1, 1));
                assert!(message.contains("lower"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}

/// What probing an app found: for a SCIM app the capability profile (stored when the app can be
/// provisioned), for Google Workspace one real request as the impersonated admin.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppCheck {
    pub app: String,
    pub kind: AppKind,
    pub provisionable: bool,
    /// SCIM: what the probe found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<tenure_connectors::ProbeReport>,
    /// SCIM: every incompatibility with how Tenure provisions.
    pub incompatibilities: Vec<String>,
    /// Why it cannot be provisioned, in the vendor's words where it documents them.
    pub problem: Option<String>,
    /// Google Workspace: the operations its connector declares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<tenure_connectors::Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<serde_json::Value>,
    pub deprovision: String,
    /// SCIM apps added with a catalog profile: what the probe found against what the entry
    /// promises.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<tenure_connectors::catalog::Comparison>,
    /// What happens to a joiner where the app invites rather than creates (a GitHub
    /// organization, a vendor whose documented flow is an invitation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joiners: Option<String>,
    /// What the check read, in words ("12 members, 3 pending invitations").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

impl Admin<'_> {
    /// Probes the app (`write_probe`: also creates, changes and deletes one probe user) and
    /// stores the profile found when the app can be provisioned.
    pub async fn check_app(&self, name: &str, write_probe: bool) -> Result<AppCheck, EngineError> {
        let record = self.writable(name).await?;
        let vendor = crate::app_auth::vendor_of(&record).map(|v| {
            let entry = v.entry();
            json!({
                "name": v.name(),
                "display_name": v.display_name(),
                "delete": v.delete_meaning().as_str(),
                "delete_documented": entry.delete.describe(),
                "reactivate": entry.reactivates(),
                "delete_needs_confirmation": v.delete_needs_confirmation(),
                "deprovision_default": v.default_deprovision().to_string(),
            })
        });
        let deprovision = record.app.settings.deprovision.to_string();
        let joiners = crate::app_auth::vendor_of(&record).and_then(|v| v.joiner_flow()).map(str::to_owned);
        if record.app.kind == AppKind::GithubOrg {
            let target = record
                .app
                .settings
                .github
                .clone()
                .ok_or_else(|| EngineError::Internal(format!("app {name} names no organization")))?;
            let connector = self.engine.client(&record)?;
            let read = connector.list_users().await;
            let (problem, found) = match &read {
                Ok(accounts) => {
                    let invited = accounts.iter().filter(|a| a.invited_on().is_some()).count();
                    (None, Some(format!("{} members, {invited} pending invitations", accounts.len() - invited)))
                }
                Err(e) => (Some(e.to_string()), None),
            };
            let joiners = format!(
                "a joiner gets an email invitation to {org} and shows as \"invited\" until they accept with their own \
                 GitHub account; a pending invitation is never sent twice, is sent again after {days} days (GitHub's \
                 expire after 7), and is cancelled if the person leaves first; once accepted, the member is linked by \
                 the invited email (their public email on GitHub) or by an admin (`tenure adopt`); a leaver is removed \
                 from the organization. Pending invitations count against the organization's paid seats.",
                org = target.org,
                days = target.reinvite_after_days
            );
            return Ok(connector_check(
                &record,
                connector.describe(),
                problem,
                found,
                vendor,
                deprovision,
                Some(joiners),
            ));
        }
        if matches!(record.app.kind, AppKind::Box | AppKind::Dropbox) {
            let connector = self.engine.client(&record)?;
            let (problem, found) = match connector.list_users().await {
                Ok(accounts) => {
                    let active = accounts.iter().filter(|a| a.active).count();
                    (None, Some(format!("{} users, {active} active", accounts.len())))
                }
                Err(e) => (Some(e.to_string()), None),
            };
            let mut check =
                connector_check(&record, connector.describe(), problem, found, vendor, deprovision, joiners);
            against_entry(&record, &mut check);
            return Ok(check);
        }
        if record.app.kind == AppKind::M365 {
            use tenure_connectors::Connector as _;
            let client = crate::app_auth::m365_client(&record, Default::default())
                .map_err(|source| EngineError::Connector { app: name.to_owned(), source })?;
            let (problem, found) = match client.list_users().await {
                Ok(accounts) => {
                    let active = accounts.iter().filter(|a| a.active).count();
                    let skus = match client.subscribed_skus().await {
                        Ok(skus) if skus.is_empty() => "no subscribed SKUs".to_owned(),
                        Ok(skus) => skus
                            .iter()
                            .map(|s| format!("{} {}/{}", s.part_number, s.consumed, s.enabled))
                            .collect::<Vec<_>>()
                            .join(", "),
                        Err(e) => format!("SKUs unreadable (Organization.Read.All?): {e}"),
                    };
                    (None, Some(format!("{} users, {active} enabled; licenses used/bought: {skus}", accounts.len())))
                }
                Err(e) => (Some(e.to_string()), None),
            };
            let mut check = connector_check(&record, client.describe(), problem, found, vendor, deprovision, joiners);
            against_entry(&record, &mut check);
            return Ok(check);
        }
        if record.app.kind == AppKind::GoogleWorkspace {
            let connector = self.engine.client(&record)?;
            let admin = record.app.settings.google_workspace.as_ref().map(|t| t.admin.clone()).unwrap_or_default();
            let mut problem = match connector.find_user(tenure_core::attributes::USER_NAME, &admin).await {
                Ok(Some(_)) => None,
                Ok(None) => Some(format!("the admin {admin} was not found in the directory")),
                Err(e) => Some(e.to_string()),
            };
            // Where Tenure manages licenses, one listing per SKU proves the licensing scope.
            let mut found = None;
            if problem.is_none()
                && let Some(target) = record.app.settings.google_workspace.as_ref()
                && !target.license_skus.is_empty()
            {
                let google = GoogleWorkspace::new(&record.app.base_url, target, &record.secret, Default::default())
                    .map_err(|source| EngineError::Connector { app: name.to_owned(), source })?;
                match google.license_counts().await {
                    Ok(counts) => {
                        let held: Vec<String> = counts.iter().map(|(tier, n)| format!("{tier} {n}")).collect();
                        found = Some(format!("acting as the configured admin; licenses held: {}", held.join(", ")));
                    }
                    Err(e) => problem = Some(e.to_string()),
                }
            }
            return Ok(connector_check(&record, connector.describe(), problem, found, vendor, deprovision, joiners));
        }
        // Authenticated the way the app is configured: an OAuth app's client secret is no bearer token.
        let client = crate::app_auth::scim_client(self.store(), self.tenant(), &record, Default::default())
            .map_err(|source| EngineError::Connector { app: name.to_owned(), source })?;
        let report = client.probe(tenure_connectors::ProbeOptions { write: write_probe }).await;
        // A profile of an app that refused us says nothing; keep the previous one.
        if report.provisionable() {
            self.store_capabilities(name, report.capabilities.clone()).await?;
        }
        let incompatibilities = if report.provisionable() {
            tenure_connectors::capabilities::incompatibilities(&report.capabilities)
        } else {
            Vec::new()
        };
        let catalog = crate::app_auth::vendor_of(&record)
            .filter(|_| report.provisionable())
            .map(|v| tenure_connectors::catalog::compare(v.entry(), &report.capabilities));
        Ok(AppCheck {
            app: record.app.name.clone(),
            kind: record.app.kind,
            provisionable: report.provisionable(),
            problem: report.blockers.first().cloned(),
            probe: Some(report),
            incompatibilities,
            descriptor: None,
            vendor,
            catalog,
            deprovision,
            joiners,
            found: None,
        })
    }
}
