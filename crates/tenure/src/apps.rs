//! `tenure app add|list|show|edit|rotate|disable|enable|remove`: flags into the engine's app
//! commands, answers printed. The files and environment variables flags name are read here,
//! on the operator's machine; the engine gets their contents.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use tenure_core::UserNameFormat;
use tenure_engine::admin::views::{AppEdited, AppView};
use tenure_engine::admin::{
    AppEdit, Credentials, GoogleSpec, MappingSpec, NewApp, NewAppKind, OauthSpec, SettingsSpec,
};
use tenure_engine::{Actor, Engine, EngineError};

use crate::cli::{DeprovisionArg, GoogleAppArgs, MatchKeyArg, ScimAppArgs, UserNameArg};

/// An engine error as the command line shows it: a request field as the flag that sets it, an
/// expression's caret line first.
pub fn cli_error(e: EngineError) -> anyhow::Error {
    match e {
        EngineError::Expression { rendered, field, line, column, message } => {
            eprintln!("{rendered}");
            anyhow!("{}: {line}:{column}: {message}", flag_of(&field))
        }
        EngineError::BadField { field, message } => anyhow!("{}: {message}", flag_of(&field)),
        other => other.into(),
    }
}

/// The flag that sets a request field: `oauth.authorize_url` is `--oauth-authorize-url`,
/// `settings.mappings[0].expression` is `--map`.
fn flag_of(field: &str) -> String {
    let special = [
        ("oauth.authorize_url", "--oauth-authorize-url"),
        ("oauth.token_url", "--oauth-token-url"),
        ("oauth.zoom_account_id", "--zoom-account-id"),
        ("oauth.client_secret", "--client-secret-env"),
        ("oauth.client_auth", "--client-auth"),
        ("oauth.flow", "--oauth-flow"),
        ("oauth", "--oauth-token-url"),
        ("google.service_account_key", "--service-account-key"),
        ("google", "--service-account-key"),
        ("credentials", "--token"),
        ("settings.task_due_s", "--task-due"),
    ];
    if let Some((_, flag)) = special.iter().find(|(f, _)| *f == field) {
        return (*flag).to_owned();
    }
    if field.starts_with("settings.mappings") {
        return "--map".to_owned();
    }
    if let Some(list) = field.strip_prefix("settings.rule_lists.") {
        return format!("--rule-list {}", list.split('[').next().unwrap_or(list));
    }
    let last = field.rsplit('.').next().unwrap_or(field);
    let last = last.split('[').next().unwrap_or(last);
    format!("--{}", last.replace('_', "-"))
}

fn deprovision_name(d: DeprovisionArg) -> &'static str {
    match d {
        DeprovisionArg::Deactivate => "deactivate",
        DeprovisionArg::Delete => "delete",
        DeprovisionArg::DeactivateThenDelete => "deactivate-then-delete",
        DeprovisionArg::RemoveLicense => "remove-license",
        DeprovisionArg::DoNothing => "do-nothing",
    }
}

/// `--map` / `--map-on-create` values: `ATTRIBUTE=EXPRESSION`.
pub fn mapping_specs(always: &[String], on_create: &[String]) -> anyhow::Result<Option<Vec<MappingSpec>>> {
    let given = always.iter().map(|m| (m, false)).chain(on_create.iter().map(|m| (m, true)));
    let mut out = Vec::new();
    for (raw, on_create) in given {
        let (target, expression) =
            raw.split_once('=').ok_or_else(|| anyhow!("--map {raw:?}: expected ATTRIBUTE=EXPRESSION"))?;
        out.push(MappingSpec { target: target.trim().to_owned(), expression: expression.to_owned(), on_create });
    }
    Ok((!out.is_empty()).then_some(out))
}

/// The settings flags shared by `app add scim` and `app edit`.
#[derive(Debug, Args, Default)]
pub struct SettingsArgs {
    /// A catalog profile (`tenure app catalog`).
    #[arg(long, value_name = "NAME")]
    pub vendor: Option<String>,
    #[arg(long, value_enum)]
    pub deprovision: Option<DeprovisionArg>,
    #[arg(long, value_name = "DAYS")]
    pub delete_after_days: Option<u32>,
    #[arg(long)]
    pub confirm_permanent_delete: bool,
    #[arg(long, value_enum)]
    pub user_name: Option<UserNameArg>,
    #[arg(long)]
    pub user_name_max_len: Option<usize>,
    /// Keys that match existing accounts to people, strongest first.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub match_keys: Vec<MatchKeyArg>,
    /// A person's one matching account that Tenure does not manage yet: `link` it,
    /// `link-pulled` (the default: link it unless an identity provider pushed the person over
    /// SCIM) or `case` (leave it for an admin to adopt).
    #[arg(long, value_name = "POLICY")]
    pub correlation: Option<String>,
    /// An attribute mapping (repeatable); given at all, the mappings replace the app's.
    #[arg(long = "map", value_name = "ATTRIBUTE=EXPRESSION")]
    pub mappings: Vec<String>,
    #[arg(long = "map-on-create", value_name = "ATTRIBUTE=EXPRESSION")]
    pub mappings_on_create: Vec<String>,
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub guard_percent: Option<u8>,
    #[arg(long, value_name = "COUNT")]
    pub guard_count: Option<usize>,
    /// The window the guard's limits apply to, e.g. 24h.
    #[arg(long, value_name = "DURATION", value_parser = crate::cli::parse_duration)]
    pub guard_window: Option<std::time::Duration>,
    #[arg(long, value_name = "PER_SECOND")]
    pub rate_limit: Option<f64>,
    #[arg(long)]
    pub burst: Option<u32>,
    #[arg(long, value_name = "KEY")]
    pub rate_group: Option<String>,
    #[arg(long)]
    pub max_concurrency: Option<u16>,
    /// true: plan and log everything, write nothing to the app; false: provision again.
    #[arg(long, value_name = "BOOL")]
    pub dry_run: Option<bool>,
    /// A value list the app's attribute rules name, e.g. `verified_domains=example.com,example.org`
    /// for Airtable (repeatable; `NAME=` removes the list).
    #[arg(long = "rule-list", value_name = "NAME=VALUE,...")]
    pub rule_lists: Vec<String>,
    /// The least time between two full reads of the app's user list, e.g. 2h,
    /// for an app that penalises reading it more often.
    #[arg(long, value_name = "DURATION", value_parser = crate::cli::parse_duration)]
    pub min_list_interval: Option<std::time::Duration>,
    /// At most this many requests in any hour, for the whole deployment (0 removes the budget);
    /// once spent, operations wait in the queue until it frees.
    #[arg(long, value_name = "REQUESTS")]
    pub rate_limit_per_hour: Option<u32>,
    /// At most this many requests in any 24 hours (0 removes the budget).
    #[arg(long, value_name = "REQUESTS")]
    pub rate_limit_per_day: Option<u32>,
    /// Make a new starter's account this many days before their start date, disabled, and
    /// activate it on the day (0: on the day).
    #[arg(long, value_name = "DAYS")]
    pub pre_start_days: Option<u32>,
    /// Microsoft 365 apps: the two-letter country (ISO 3166, e.g. US) users without one get
    /// before a license is assigned (empty removes it).
    #[arg(long, value_name = "COUNTRY")]
    pub usage_location: Option<String>,
    /// Google Workspace apps: before a departing person's account is suspended (or deleted),
    /// transfer their Drive files to `manager` (their manager in the directory) or to this
    /// address (empty stops transferring).
    #[arg(long, value_name = "manager|EMAIL")]
    pub transfer_drive_to: Option<String>,
    /// Google Workspace apps: the License Manager SKUs Tenure manages, each with the tier name
    /// pools and `assign --license` use, e.g. "Google-Apps:1010020027=Business
    /// Starter,Google-Apps:1010020028=Business Standard" (empty stops managing licenses).
    #[arg(long, value_name = "PRODUCT:SKU=TIER,...")]
    pub license_skus: Option<String>,
    /// Manual apps: how long a task has before its owner is reminded, e.g. 2d (the admins are
    /// told as long again later); 0 restores the default (3d).
    #[arg(long, value_name = "DURATION", value_parser = duration_or_zero)]
    pub task_due: Option<std::time::Duration>,
    /// Manual apps: accept a closed task only once the next read of the app's users (`tenure
    /// task verify`) shows it done.
    #[arg(long, value_name = "BOOL")]
    pub verify_by_read: Option<bool>,
}

/// A duration, or `0` (back to the default).
fn duration_or_zero(raw: &str) -> Result<std::time::Duration, String> {
    if raw.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    crate::cli::parse_duration(raw)
}

/// Seconds as the largest whole unit that fits: `2d`, `36h`, `90m`, `45s`.
fn shown_seconds(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `--rule-list NAME=V1,V2` flags as the settings' lists.
pub fn rule_list_specs(raw: &[String]) -> anyhow::Result<Option<std::collections::BTreeMap<String, Vec<String>>>> {
    let mut lists = std::collections::BTreeMap::new();
    for one in raw {
        let (name, values) =
            one.split_once('=').ok_or_else(|| anyhow!("--rule-list {one:?}: expected NAME=VALUE,VALUE,..."))?;
        let values: Vec<String> =
            values.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect();
        if lists.insert(name.trim().to_owned(), values).is_some() {
            bail!("--rule-list {}: given twice", name.trim());
        }
    }
    Ok((!lists.is_empty()).then_some(lists))
}

fn match_key_name(k: &MatchKeyArg) -> String {
    match k {
        MatchKeyArg::ExternalId => "external-id",
        MatchKeyArg::UserName => "user-name",
        MatchKeyArg::Email => "email",
    }
    .to_owned()
}

fn user_name_name(u: UserNameArg) -> String {
    match u {
        UserNameArg::Email => "email",
        UserNameArg::LocalPart => "local-part",
        UserNameArg::Handle => "handle",
    }
    .to_owned()
}

impl SettingsArgs {
    pub fn spec(&self) -> anyhow::Result<SettingsSpec> {
        Ok(SettingsSpec {
            vendor: self.vendor.clone(),
            deprovision: self.deprovision.map(|d| deprovision_name(d).to_owned()),
            delete_after_days: self.delete_after_days,
            confirm_permanent_delete: self.confirm_permanent_delete,
            user_name: self.user_name.map(user_name_name),
            user_name_max_len: self.user_name_max_len,
            match_keys: (!self.match_keys.is_empty()).then(|| self.match_keys.iter().map(match_key_name).collect()),
            correlation: self.correlation.clone(),
            mappings: mapping_specs(&self.mappings, &self.mappings_on_create)?,
            guard_percent: self.guard_percent,
            guard_count: self.guard_count,
            guard_window_s: self.guard_window.map(|w| w.as_secs()),
            rate_limit: self.rate_limit,
            burst: self.burst,
            rate_group: self.rate_group.clone(),
            max_concurrency: self.max_concurrency,
            dry_run: self.dry_run,
            rule_lists: rule_list_specs(&self.rule_lists)?,
            min_list_interval_s: self.min_list_interval.map(|d| d.as_secs()),
            rate_limit_per_hour: self.rate_limit_per_hour,
            rate_limit_per_day: self.rate_limit_per_day,
            pre_start_days: self.pre_start_days,
            tenant_id: None,
            usage_location: self.usage_location.clone(),
            transfer_drive_to: self.transfer_drive_to.clone(),
            license_skus: self.license_skus.clone(),
            task_due_s: self.task_due.map(|d| d.as_secs()),
            verify_by_read: self.verify_by_read,
        })
    }
}

/// The credential flags of `app edit` and `app rotate`.
#[derive(Debug, Args, Default)]
pub struct CredentialArgs {
    /// A new bearer token.
    #[arg(long, env = "TENURE_APP_TOKEN", hide_env_values = true, conflicts_with = "token_file")]
    pub token: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The environment variable holding the new OAuth client secret.
    #[arg(long, value_name = "VAR")]
    pub client_secret_env: Option<String>,
    /// A Google Workspace app's new service account key file.
    #[arg(long, value_name = "FILE")]
    pub service_account_key: Option<PathBuf>,
}

impl CredentialArgs {
    fn credentials(&self) -> anyhow::Result<Option<Credentials>> {
        let token = match (&self.token, &self.token_file) {
            (Some(t), _) => Some(t.trim().to_owned()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("--token-file {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let client_secret = self
            .client_secret_env
            .as_deref()
            .map(|var| std::env::var(var).map_err(|_| anyhow!("--client-secret-env {var}: the variable is not set")))
            .transpose()?;
        let service_account_key = self
            .service_account_key
            .as_deref()
            .map(|p| std::fs::read_to_string(p).with_context(|| format!("--service-account-key {}", p.display())))
            .transpose()?;
        if token.is_none() && client_secret.is_none() && service_account_key.is_none() {
            return Ok(None);
        }
        Ok(Some(Credentials { token, client_secret, service_account_key }))
    }
}

#[derive(Debug, Args)]
pub struct AppEditArgs {
    pub app: String,
    #[arg(long)]
    pub base_url: Option<String>,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Show what the change would do to the plan, and save nothing.
    #[arg(long)]
    pub preview: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    pub app: String,
    #[command(flatten)]
    pub credentials: CredentialArgs,
}

pub async fn add_scim(engine: &Engine, args: ScimAppArgs) -> anyhow::Result<ExitCode> {
    let oauth = match (&args.oauth_token_url, &args.zoom_account_id) {
        (None, None) => None,
        (token_url, zoom) => {
            if args.token.is_some() || args.token_file.is_some() {
                bail!(
                    "--oauth-token-url replaces the static token: drop --token / --token-file (and unset TENURE_APP_TOKEN)"
                );
            }
            let (Some(client_id), Some(var)) = (&args.client_id, &args.client_secret_env) else {
                bail!("OAuth needs --client-id and --client-secret-env");
            };
            let secret = std::env::var(var)
                .map_err(|_| anyhow!("--client-secret-env {var}: the variable is not set (or not UTF-8)"))?;
            Some(OauthSpec {
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                client_secret: secret,
                scope: args.scope.clone(),
                client_auth: Some(match args.client_auth {
                    crate::keys::ClientAuthArg::Basic => "basic".into(),
                    crate::keys::ClientAuthArg::Body => "body".into(),
                }),
                flow: Some(match args.oauth_flow {
                    crate::keys::OauthFlowArg::ClientCredentials => "client_credentials".into(),
                    crate::keys::OauthFlowArg::AuthorizationCode => "authorization_code".into(),
                }),
                authorize_url: args.oauth_authorize_url.clone(),
                zoom_account_id: zoom.clone(),
                box_enterprise_id: None,
            })
        }
    };
    let token = if oauth.is_some() {
        None
    } else {
        Some(match (&args.token, &args.token_file) {
            (Some(t), _) => t.trim().to_owned(),
            (None, Some(path)) => {
                std::fs::read_to_string(path).with_context(|| format!("--token-file {}", path.display()))?.trim().to_owned()
            }
            (None, None) => crate::config::secret_from_file("TENURE_APP_TOKEN_FILE")?.ok_or_else(|| {
                anyhow!(
                    "the app's bearer token is required: --token, --token-file, TENURE_APP_TOKEN or TENURE_APP_TOKEN_FILE"
                )
            })?,
        })
    };
    let settings = SettingsArgs {
        vendor: args.vendor.clone(),
        deprovision: args.deprovision,
        delete_after_days: args.delete_after_days,
        confirm_permanent_delete: args.confirm_permanent_delete,
        user_name: args.user_name,
        user_name_max_len: args.user_name_max_len,
        match_keys: args.match_keys.clone(),
        correlation: args.correlation.clone(),
        mappings: args.mappings.clone(),
        mappings_on_create: args.mappings_on_create.clone(),
        guard_percent: args.guard_percent,
        guard_count: args.guard_count,
        guard_window: args.guard_window,
        rate_limit: args.rate_limit,
        burst: args.burst,
        rate_group: args.rate_group.clone(),
        max_concurrency: args.max_concurrency,
        dry_run: Some(args.dry_run),
        rule_lists: args.rule_lists.clone(),
        min_list_interval: args.min_list_interval,
        rate_limit_per_hour: args.rate_limit_per_hour,
        rate_limit_per_day: args.rate_limit_per_day,
        pre_start_days: args.pre_start_days,
        usage_location: None,
        transfer_drive_to: None,
        license_skus: None,
        task_due: None,
        verify_by_read: None,
    };
    let spec = NewApp {
        name: args.name.clone(),
        kind: NewAppKind::Scim,
        base_url: Some(args.base_url.clone()),
        token,
        oauth,
        google: None,
        github: None,
        owner: None,
        settings: settings.spec()?,
        disabled: false,
    };
    let actor = Actor::cli();
    let app = engine.admin(&actor).create_app(spec).await.map_err(cli_error)?;
    println!("added SCIM app {}; grant it with `tenure assign {} --group NAME`", app.name, app.name);
    if let Some(v) = app.settings.vendor.as_deref().and_then(|v| v.parse::<tenure_connectors::Vendor>().ok()) {
        // Says which defaults came from the profile, so nobody is surprised by them later.
        println!(
            "{} profile: DELETE {}, deprovision: {}, userName: {}{}",
            v.display_name(),
            match v.delete_meaning() {
                tenure_connectors::DeleteMeaning::Deactivates => "deactivates",
                tenure_connectors::DeleteMeaning::RemovesFromWorkspace => "removes the member from the workspace",
                tenure_connectors::DeleteMeaning::Permanent => "is permanent",
            },
            app.settings.deprovision,
            match app.settings.user_name {
                UserNameFormat::Email => "email".to_owned(),
                UserNameFormat::EmailLocalPart { max_len } => match max_len {
                    Some(n) => format!("email local part, at most {n}"),
                    None => "email local part".to_owned(),
                },
                UserNameFormat::Handle { max_len } => format!("handle, at most {max_len}"),
            },
            app.settings
                .limits
                .as_ref()
                .and_then(|l| l.per_second)
                .map(|r| format!(", at most {r} requests a second"))
                .unwrap_or_default(),
        );
        let entry = v.entry();
        if entry.deactivate_irreversible() {
            println!(
                "  {} cannot re-activate a deprovisioned account: deprovisioning there cannot be undone",
                v.display_name()
            );
        }
        if entry.list_partial() {
            println!(
                "  {}'s user list leaves accounts out ({}): an account missing from it is never read as absent",
                v.display_name(),
                entry.list.note.as_deref().unwrap_or("documented")
            );
        }
        if let Some(limits) = app.settings.limits.as_ref() {
            for (what, pace) in [
                ("creates", limits.creates_per_second),
                ("updates", limits.updates_per_second),
                ("deletes", limits.deletes_per_second),
            ] {
                if let Some(pace) = pace {
                    println!("  {what}: at most {pace:.3} a second, paced apart from other requests");
                }
            }
        }
        for window in app.settings.limits.iter().flat_map(|l| &l.windows) {
            println!(
                "  at most {} requests {} (once spent, operations wait in the queue until it frees)",
                window.requests,
                window_words(window.seconds)
            );
        }
        for rule in &app.settings.rules {
            println!(
                "  a create is refused in the plan unless {} meets rule {}: {}",
                rule.attribute, rule.rule, rule.reason
            );
        }
        let parameters = entry.base_url_parameters();
        if let (Some(template), false) = (entry.base_url.get(), parameters.is_empty()) {
            println!("  base URL form: {template}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn add_google(engine: &Engine, args: GoogleAppArgs) -> anyhow::Result<ExitCode> {
    let path = &args.service_account_key;
    let key = std::fs::read_to_string(path).with_context(|| format!("--service-account-key {}", path.display()))?;
    if key.trim().is_empty() {
        bail!("--service-account-key {}: the file is empty", path.display());
    }
    if matches!(args.deprovision, DeprovisionArg::RemoveLicense) && args.license_skus.is_none() {
        bail!("--deprovision remove-license needs --license-skus (the License Manager SKUs Tenure manages)");
    }
    let settings = SettingsArgs {
        deprovision: Some(args.deprovision),
        delete_after_days: args.delete_after_days,
        mappings: args.mappings.clone(),
        mappings_on_create: args.mappings_on_create.clone(),
        guard_percent: args.guard_percent,
        guard_count: args.guard_count,
        guard_window: args.guard_window,
        rate_limit: args.rate_limit,
        burst: args.burst,
        max_concurrency: args.max_concurrency,
        dry_run: Some(args.dry_run),
        transfer_drive_to: args.transfer_drive_to.clone(),
        license_skus: args.license_skus.clone(),
        ..SettingsArgs::default()
    };
    let spec = NewApp {
        name: args.name.clone(),
        kind: NewAppKind::GoogleWorkspace,
        base_url: args.api_url.clone(),
        token: None,
        oauth: None,
        github: None,
        owner: None,
        google: Some(GoogleSpec {
            domain: args.domain.clone(),
            admin_email: args.admin_email.clone(),
            service_account_key: key,
            customer: Some(args.customer.clone()),
            token_url: args.token_url.clone(),
            org_unit: args.org_unit.clone(),
            change_password_at_next_login: args.change_password_at_next_login,
        }),
        settings: settings.spec()?,
        disabled: false,
    };
    let actor = Actor::cli();
    let app = engine.admin(&actor).create_app(spec).await.map_err(cli_error)?;
    println!(
        "added Google Workspace app {} ({} as {}); check it with `tenure app check {}`, grant it with `tenure assign {} --group NAME`",
        app.name, args.domain, args.admin_email, app.name, app.name
    );
    if let Some(target) = app.settings.google_workspace.as_ref().filter(|t| !t.license_skus.is_empty()) {
        let tiers: Vec<&str> = target.license_skus.iter().map(|s| s.tier.as_str()).collect();
        println!(
            "licenses: Tenure manages {} (`--license TIER` on an assignment); delegate the scope {} to the service account",
            tiers.join(", "),
            tenure_connectors::google_workspace::licensing::SCOPE
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_app(app: &AppView) {
    let state = if app.disabled { ", disabled" } else { "" };
    let paused =
        app.paused_until_ms.map(|ms| format!(", paused until {}", crate::output::time_ms(ms))).unwrap_or_default();
    println!("{} ({:?}, version {}{state}{paused})", app.name, app.kind, app.version);
    println!("  base URL:      {}", app.base_url);
    println!("  auth:          {}", app.auth.kind());
    println!("  deprovision:   {}", app.settings.deprovision);
    let keys: Vec<&str> = app.settings.match_keys.iter().map(|k| k.as_str()).collect();
    println!("  match keys:    {}", keys.join(", "));
    println!("  correlation:   {}", app.settings.correlation.as_str().replace('_', "-"));
    if let Some(vendor) = &app.settings.vendor {
        println!("  vendor:        {vendor}");
    }
    if let Some(limits) = &app.settings.limits {
        println!(
            "  pace:          {} requests/s, burst {}, {} at once{}",
            limits.per_second.map_or("unlimited".to_owned(), |r| r.to_string()),
            limits.burst.unwrap_or(1),
            limits.concurrency.unwrap_or(8),
            limits.shared_key.as_deref().map(|k| format!(", shared as {k}")).unwrap_or_default()
        );
    }
    for usage in &app.request_windows {
        let (window, per) = (usage.window, window_words(usage.window.seconds));
        print!("  budget:        at most {} requests {per}, {} used", window.requests, usage.used);
        match usage.spent_until_ms {
            Some(until) => println!(
                "; spent: waiting for its {} budget until {}",
                window.name(),
                tenure_connectors::ratelimit::clock(
                    std::time::UNIX_EPOCH + std::time::Duration::from_millis(until.max(0) as u64)
                )
            ),
            None => println!(),
        }
    }
    if let Some(mappings) = &app.settings.mappings {
        for m in mappings.mappings() {
            let when = if m.apply == tenure_core::expr::Apply::OnCreate { " (on create)" } else { "" };
            println!("  map:           {} = {}{when}", m.target, m.expr.source());
        }
    }
    if app.settings.dry_run {
        println!("  dry run:       nothing is written to the app");
    }
    if let Some(to) = app.settings.google_workspace.as_ref().and_then(|t| t.transfer_drive_to.as_deref()) {
        println!("  offboarding:   Drive files transferred to {to}, then the account is suspended");
    }
    if let Some(target) = app.settings.google_workspace.as_ref().filter(|t| !t.license_skus.is_empty()) {
        println!(
            "  licenses:      {} (License Manager)",
            tenure_connectors::google_workspace::licensing::format_skus(&target.license_skus)
        );
    }
    if let Some(seconds) = app.settings.manual.as_ref().and_then(|m| m.task_due_s) {
        println!(
            "  tasks due:     {} after they are opened (then the admins are told as long again later)",
            shown_seconds(seconds)
        );
    }
    if let Some(days) = app.settings.pre_start_days {
        println!("  pre-start:     new starters' accounts made {days} days ahead, disabled until the start date");
    }
    println!(
        "  {} assignments, {} accounts linked ({} active)",
        app.assignments, app.linked_accounts, app.active_accounts
    );
    if let Some(error) = &app.last_error {
        println!("  last error:    {error} ({} failures in a row)", app.failures);
    }
    if matches!(app.auth, tenure_store::AppAuth::OauthAuthorizationCode { .. }) {
        match &app.oauth_grant {
            None => println!(
                "  authorization: none yet; an admin consents with `tenure app authorize {} --public-url URL`",
                app.name
            ),
            Some(grant) => match &grant.revoked {
                Some(reason) => println!(
                    "  authorization: REVOKED, provisioning waits: {reason}; re-authorize with `tenure app authorize {} \
                     --public-url URL`",
                    app.name
                ),
                None => println!(
                    "  authorization: by {} at {}{}",
                    grant.authorized_by,
                    crate::output::time_ms(grant.authorized_ms),
                    if grant.refresh_token { ", refreshed by Tenure" } else { ", no refresh token: it lapses" }
                ),
            },
        }
    }
}

/// "an hour", "a day", "in any 30 s".
fn window_words(seconds: u64) -> String {
    match seconds {
        tenure_core::RequestWindow::HOUR => "an hour".into(),
        tenure_core::RequestWindow::DAY => "a day".into(),
        s => format!("in any {s} s"),
    }
}

pub async fn list(engine: &Engine, json: bool) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let apps = engine.admin(&actor).apps().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&apps)?);
    } else {
        for a in apps {
            println!(
                "{}\t{}\t{} assignments\t{} accounts ({} active){}",
                a.name,
                a.base_url,
                a.assignments,
                a.linked_accounts,
                a.active_accounts,
                if a.disabled { "\tdisabled" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn show(engine: &Engine, name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let app = engine.admin(&actor).app(name).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&app)?);
    } else {
        print_app(&app);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn edit(engine: &Engine, args: AppEditArgs) -> anyhow::Result<ExitCode> {
    let edit = AppEdit {
        base_url: args.base_url.clone(),
        credentials: args.credentials.credentials()?,
        settings: args.settings.spec()?,
    };
    let actor = Actor::cli();
    let spinner = crate::output::spinner(format!("reading {}", args.app));
    let edited = engine.admin(&actor).edit_app(&args.app, edit, None, args.preview).await;
    spinner.finish_and_clear();
    let edited: AppEdited = edited.map_err(cli_error)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&edited)?);
        return Ok(ExitCode::SUCCESS);
    }
    if edited.changed.is_empty() {
        println!("{}: nothing to change", edited.app.name);
        return Ok(ExitCode::SUCCESS);
    }
    if edited.saved {
        println!("changed {}: {} (now version {})", edited.app.name, edited.changed.join(", "), edited.app.version);
    } else {
        println!("Preview, nothing saved: changing {} of {} would", edited.changed.join(", "), edited.app.name);
        crate::commands::print_plan_change(edited.plan.as_ref());
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn rotate(engine: &Engine, args: RotateArgs) -> anyhow::Result<ExitCode> {
    let credentials = args.credentials.credentials()?.ok_or_else(|| {
        anyhow!("give the new credential: --token, --token-file, --client-secret-env or --service-account-key")
    })?;
    let actor = Actor::cli();
    let app = engine.admin(&actor).rotate_credentials(&args.app, credentials, None).await?;
    println!(
        "replaced the credentials of {}; it is no longer paused for refusing them (version {})",
        app.name, app.version
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn set_disabled(engine: &Engine, name: &str, disabled: bool) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let app = engine.admin(&actor).set_app_disabled(name, disabled, None).await?;
    if disabled {
        println!("{} is disabled: nothing is planned or carried out for it, nobody is deprovisioned", app.name);
    } else {
        println!("{} is enabled: it is planned in full again", app.name);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn remove(engine: &Engine, name: &str, preview: bool, yes: bool, json: bool) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    let shown = admin.remove_app(name, None, true).await?;
    if preview {
        if json {
            println!("{}", serde_json::to_string_pretty(&shown)?);
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "Preview, nothing removed: removing {} from Tenure leaves every account in the app as it is:",
            shown.app
        );
    }
    if !json || preview {
        for a in &shown.staying {
            let state = if a.active { "active" } else { "inactive" };
            println!("  stays: {}  {state}  {}", a.user_name, a.person.as_deref().unwrap_or("-"));
        }
        println!(
            "  {} accounts stay, {} assignments go, {} queued operations are dismissed",
            shown.staying.len(),
            shown.assignments,
            shown.pending_operations
        );
    }
    if preview {
        return Ok(ExitCode::SUCCESS);
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!("refusing to remove {name} without confirmation: pass --yes (or --preview to look first)");
        }
        eprint!("Remove {name} from Tenure? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("Nothing removed.");
            return Ok(ExitCode::FAILURE);
        }
    }
    let removed = admin.remove_app(name, None, false).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&removed)?);
    } else {
        println!(
            "removed {} from Tenure; its {} accounts stay in the app, untouched",
            removed.app,
            removed.staying.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
