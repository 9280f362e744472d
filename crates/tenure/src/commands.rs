//! The admin verbs that act on the database `--database-url` names.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use serde_json::json;
use tenure_connectors::ScimClient;
use tenure_core::*;
use tenure_engine::{CsvSourceConfig, Engine};
use tenure_sources::{CsvFormat, CsvMapping};
use tenure_store::{Store, TokenScope};

use crate::cli::*;
use crate::output;

pub async fn run(command: Command, store: &Store, tenant: TenantId) -> anyhow::Result<ExitCode> {
    let engine = Engine::new(store.clone(), tenant);
    match command {
        Command::Token(TokenCommand::Create { scope, label }) => {
            token_create(store, tenant, scope, label.as_deref()).await
        }
        Command::Source(SourceCommand::Add(SourceAdd::Csv(args))) => source_add_csv(store, tenant, args).await,
        Command::Source(SourceCommand::Add(SourceAdd::Ldap(args))) => source_add_ldap(store, tenant, args).await,
        Command::Source(SourceCommand::Add(SourceAdd::Google(args))) => {
            crate::cloud_sources::add_google(store, tenant, args).await
        }
        Command::Source(SourceCommand::Add(SourceAdd::Graph(args))) => {
            crate::cloud_sources::add_graph(store, tenant, args).await
        }
        Command::Source(SourceCommand::Set(args)) => source_set(store, tenant, args).await,
        Command::Source(SourceCommand::List { json }) => source_list(store, tenant, json).await,
        Command::Sync(args) => sync(&engine, args).await,
        Command::App(AppCommand::Add(AppAdd::Scim(args))) => app_add_scim(store, tenant, args).await,
        Command::App(AppCommand::Add(AppAdd::Google(args))) => crate::google_app::add(store, tenant, args).await,
        Command::App(AppCommand::List { json }) => app_list(store, tenant, json).await,
        Command::App(AppCommand::Users(args)) => app_users(&engine, args).await,
        Command::App(AppCommand::External { app, account, note, clear }) => {
            app_external(&engine, &app, &account, &note, clear).await
        }
        Command::App(AppCommand::Check { app, json, write_probe }) => {
            crate::app_check::run(store, tenant, &app, json, write_probe).await
        }
        Command::App(AppCommand::Authorize { app, public_url, json }) => {
            crate::app_oauth::authorize(&engine, &app, &public_url, json).await
        }
        Command::App(AppCommand::Verify { app, json }) => crate::app_oauth::verify(&engine, &app, json).await,
        Command::Assign(args) => assign(store, tenant, args, true).await,
        Command::Unassign(args) => assign(store, tenant, args, false).await,
        Command::Plan(args) => plan(&engine, args).await,
        Command::Apply(args) => apply(&engine, args).await,
        Command::Guard(command) => crate::guard::run(&engine, command).await,
        Command::Explain(args) => explain(&engine, args).await,
        Command::Adopt(args) => adopt(&engine, args).await,
        Command::Unlink(args) => unlink(store, tenant, args).await,
        Command::Audit(args) => crate::audit::run(store, tenant, args).await,
        Command::Ops(command) => crate::ops::run(&engine, command).await,
        Command::Report(args) => crate::report::run(&engine, args).await,
        Command::Keys(command) => crate::keys::run(store, tenant, command).await,
        Command::Serve(_) | Command::Demo(_) | Command::Bench(_) => {
            Err(anyhow!("serve, demo and bench run their own set-up; they are not admin verbs"))
        }
    }
}

async fn token_create(
    store: &Store,
    tenant: TenantId,
    scope: ScopeArg,
    label: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let scope = match scope {
        ScopeArg::Admin => TokenScope::Admin,
        ScopeArg::Scim => TokenScope::Scim,
    };
    let token = tenure_server::tokens::generate();
    store.insert_token(tenant, scope, &tenure_server::tokens::hash(&token), label).await?;
    store.append_audit(tenant, "cli", "token.create", scope.as_str(), &json!({"label": label})).await?;
    println!("{token}");
    eprintln!("This {} token is shown once; Tenure stores only its hash.", scope.as_str());
    Ok(ExitCode::SUCCESS)
}

/// Applies `FIELD=COLUMN` overrides to a column mapping (`FIELD=`: do not read that field).
fn csv_mapping(base: &CsvMapping, overrides: &[String]) -> anyhow::Result<CsvMapping> {
    let mut value = serde_json::to_value(base)?;
    let fields = value.as_object_mut().ok_or_else(|| anyhow!("mapping is not an object"))?;
    for raw in overrides {
        let (field, column) = raw.split_once('=').ok_or_else(|| anyhow!("--column {raw:?}: expected FIELD=COLUMN"))?;
        let field = field.trim();
        if !fields.contains_key(field) {
            let known: Vec<&str> = fields.keys().map(String::as_str).collect();
            bail!("--column {raw:?}: unknown field {field:?}; fields: {}", known.join(", "));
        }
        fields.insert(field.to_owned(), json!(column.trim()));
    }
    Ok(serde_json::from_value(value)?)
}

fn csv_format(base: CsvFormat, args: &CsvFormatArgs) -> CsvFormat {
    CsvFormat {
        delimiter: args.delimiter.clone().map_or(base.delimiter, |a| a.0),
        encoding: args.encoding.clone().map_or(base.encoding, |a| a.0),
        date_format: args.date_format.clone().map_or(base.date_format, |a| a.0),
    }
}

/// An export's absolute path, so a later `tenure sync` from another directory reads the same
/// file. The file itself may not exist yet (a source fed only by uploads or a watched directory,
/// whose first import creates it); its directory must.
fn export_path(path: &std::path::Path, flag: &str) -> anyhow::Result<std::path::PathBuf> {
    if let Ok(absolute) = std::fs::canonicalize(path) {
        return Ok(absolute);
    }
    let name = path.file_name().with_context(|| format!("{flag} {}: not a file name", path.display()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let dir = std::fs::canonicalize(parent).with_context(|| format!("{flag} {}", path.display()))?;
    eprintln!(
        "note: {} does not exist yet; an upload or a watched directory's first import creates it",
        path.display()
    );
    Ok(dir.join(name))
}

/// An absolute directory that exists, so the server finds it whatever its working directory.
fn watch_dir(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::fs::canonicalize(dir).with_context(|| format!("--watch-dir {}", dir.display()))?;
    if !dir.is_dir() {
        bail!("--watch-dir {}: not a directory", dir.display());
    }
    Ok(dir)
}

async fn source_add_csv(store: &Store, tenant: TenantId, args: CsvSourceArgs) -> anyhow::Result<ExitCode> {
    // Absolute paths, so a later `tenure sync` from another directory reads the same files.
    let file = export_path(&args.file, "--file")?;
    let groups_file = args.groups_file.as_ref().map(|g| export_path(g, "--groups-file")).transpose()?;
    let config = CsvSourceConfig {
        file,
        groups_file,
        mapping: csv_mapping(&CsvMapping::default(), &args.columns)?,
        scope: sync_scope(&args.scope)?,
        min_share_percent: args.guard_min_share,
        format: csv_format(CsvFormat::default(), &args.format),
        watch_dir: args.watch_dir.as_deref().map(watch_dir).transpose()?,
    };
    let config = serde_json::to_value(&config)?;
    store.add_source(tenant, &args.name, "csv", &config).await?;
    store.append_audit(tenant, "cli", "source.add", &args.name, &config).await?;
    println!("added CSV source {}; run `tenure sync {}` to import it", args.name, args.name);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn sync_scope(args: &ScopeArgs) -> anyhow::Result<tenure_core::import::SyncScope> {
    let units = |paths: &[String]| -> anyhow::Result<Vec<OrgUnitPath>> {
        paths.iter().map(|p| OrgUnitPath::parse(p).map_err(anyhow::Error::from)).collect()
    };
    let condition = args
        .condition
        .as_deref()
        .map(|source| {
            expr::Rule::parse(source).map_err(|e| {
                eprintln!("{}", e.render(source));
                anyhow!("--scope-rule: {e}")
            })
        })
        .transpose()?;
    Ok(tenure_core::import::SyncScope {
        include_org_units: units(&args.include_org_units)?,
        exclude_org_units: units(&args.exclude_org_units)?,
        include_departments: args.include_departments.clone(),
        exclude_departments: args.exclude_departments.clone(),
        include_groups: args.include_groups.clone(),
        exclude_groups: args.exclude_groups.clone(),
        condition,
    })
}

async fn source_set(store: &Store, tenant: TenantId, args: SourceSetArgs) -> anyhow::Result<ExitCode> {
    let source = store
        .list_sources(tenant)
        .await?
        .into_iter()
        .find(|s| s.name == args.name)
        .ok_or_else(|| anyhow!("no source named {:?}", args.name))?;
    if source.kind != "csv" {
        bail!("source {} is a {} source; only CSV sources have these settings", source.name, source.kind);
    }
    let mut config: CsvSourceConfig = serde_json::from_value(source.config.clone())
        .with_context(|| format!("source {}: stored settings", source.name))?;
    if let Some(file) = &args.file {
        config.file = export_path(file, "--file")?;
    }
    if let Some(groups) = &args.groups_file {
        config.groups_file = Some(export_path(groups, "--groups-file")?);
    }
    if args.no_groups_file {
        config.groups_file = None;
    }
    config.mapping = csv_mapping(&config.mapping, &args.columns)?;
    let mut scope = if args.clear_scope { Default::default() } else { config.scope.clone() };
    let given = sync_scope(&args.scope)?;
    let replace = |old: &mut Vec<_>, new: Vec<_>| {
        if !new.is_empty() {
            *old = new;
        }
    };
    replace(&mut scope.include_org_units, given.include_org_units);
    replace(&mut scope.exclude_org_units, given.exclude_org_units);
    let replace = |old: &mut Vec<String>, new: Vec<String>| {
        if !new.is_empty() {
            *old = new;
        }
    };
    replace(&mut scope.include_departments, given.include_departments);
    replace(&mut scope.exclude_departments, given.exclude_departments);
    replace(&mut scope.include_groups, given.include_groups);
    replace(&mut scope.exclude_groups, given.exclude_groups);
    if given.condition.is_some() {
        scope.condition = given.condition;
    }
    config.scope = scope;
    if args.guard_min_share.is_some() {
        config.min_share_percent = args.guard_min_share;
    }
    if args.no_guard_min_share {
        config.min_share_percent = None;
    }
    config.format = csv_format(config.format, &args.format);
    if let Some(dir) = &args.watch_dir {
        config.watch_dir = Some(watch_dir(dir)?);
    }
    if args.no_watch_dir {
        config.watch_dir = None;
    }
    let value = serde_json::to_value(&config)?;
    if value == source.config {
        println!("source {}: nothing to change", source.name);
        return Ok(ExitCode::SUCCESS);
    }
    store.set_source_config(tenant, source.id, &value).await?;
    store
        .append_audit(tenant, "cli", "source.set", &source.name, &json!({"before": source.config, "after": value}))
        .await?;
    println!("updated source {}; the next `tenure sync {}` uses the new settings", source.name, source.name);
    Ok(ExitCode::SUCCESS)
}

async fn source_list(store: &Store, tenant: TenantId, json: bool) -> anyhow::Result<ExitCode> {
    let mut sources = store.list_sources(tenant).await?;
    if json {
        for s in &mut sources {
            redact_secrets(&mut s.config);
        }
        println!("{}", serde_json::to_string_pretty(&sources)?);
    } else {
        for s in sources {
            println!(
                "{}\t{}\tlast sync: {}",
                s.name,
                s.kind,
                s.last_count.map(|n| format!("{n} people")).unwrap_or_else(|| "never".into())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn sync(engine: &Engine, args: SyncArgs) -> anyhow::Result<ExitCode> {
    let options = tenure_engine::SyncOptions { force: args.force, full: args.full };
    // One source at a time, so the progress can say which one is being read.
    let names: Vec<String> = engine
        .store()
        .list_sources(engine.tenant())
        .await?
        .into_iter()
        .filter(|s| s.kind != "scim" && args.name.as_deref().is_none_or(|n| s.name == n))
        .map(|s| s.name)
        .collect();
    if let (Some(name), true) = (&args.name, names.is_empty()) {
        bail!("source {name} not found");
    }
    let progress = output::SyncProgress::new(names.len(), args.json);
    let mut reports = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        progress.start(i, name);
        match engine.sync_with(Some(name), options).await {
            Ok(done) => reports.extend(done),
            Err(e) => {
                progress.finish();
                return Err(source_problems(e));
            }
        }
    }
    progress.finish();
    if reports.is_empty() {
        eprintln!("no sources; add one with `tenure source add csv NAME --file PATH`");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for r in &reports {
            let s = &r.summary;
            println!(
                "{}: {} people ({} new, {} updated, {} unchanged, {} left, {} returned), {} groups",
                r.source, r.people, s.created, s.updated, s.unchanged, s.left, s.returned, s.groups
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A file with several problems gets them one per line on stderr, then a short error; one
/// problem stays a single line.
fn source_problems(e: tenure_engine::EngineError) -> anyhow::Error {
    if let tenure_engine::EngineError::Source { source_name, error: tenure_sources::SourceError::Csv(csv) } = &e {
        let problems = csv.problems();
        if problems.len() > 1 {
            for p in &problems {
                let file = p.file.as_deref().map(|f| format!("{f}: ")).unwrap_or_default();
                let line = p.line.map(|l| format!("line {l}: ")).unwrap_or_default();
                eprintln!("  {file}{line}{}", p.message);
            }
            let count = csv.problem_count();
            return anyhow!("source {source_name}: {count} problems (listed above); nothing was imported");
        }
    }
    e.into()
}

async fn app_add_scim(store: &Store, tenant: TenantId, mut args: ScimAppArgs) -> anyhow::Result<ExitCode> {
    let vendor = args.vendor.map(vendor_of);
    if let Some(account_id) = args.zoom_account_id.as_deref() {
        args.oauth_token_url = Some(zoom_token_url(args.oauth_token_url.as_deref(), account_id)?);
    }
    let (auth, oauth_secret) = crate::keys::oauth_args(&args)?;
    let token = match (&args.token, &args.token_file) {
        _ if oauth_secret.is_some() => oauth_secret.clone().unwrap_or_default(),
        (Some(t), _) => t.trim().to_owned(),
        (None, Some(path)) => {
            std::fs::read_to_string(path).with_context(|| format!("--token-file {}", path.display()))?.trim().to_owned()
        }
        (None, None) => crate::config::secret_from_file("TENURE_APP_TOKEN_FILE")?.ok_or_else(|| {
            anyhow!(
                "the app's bearer token is required: --token, --token-file, TENURE_APP_TOKEN or TENURE_APP_TOKEN_FILE"
            )
        })?,
    };
    if token.is_empty() {
        bail!("the app's bearer token is empty");
    }
    let secret = Secret::new(token);
    // Validates the URL the same way provisioning will use it.
    ScimClient::new(&args.base_url, secret.clone(), Default::default())
        .with_context(|| format!("app {}", args.name))?;
    let user_name = match args.user_name {
        Some(UserNameArg::Email) => UserNameFormat::Email,
        Some(UserNameArg::LocalPart) => UserNameFormat::EmailLocalPart { max_len: args.user_name_max_len },
        Some(UserNameArg::Handle) => UserNameFormat::Handle {
            max_len: args.user_name_max_len.unwrap_or(tenure_connectors::vendor::SLACK_HANDLE_MAX),
        },
        None => match (vendor, args.user_name_max_len) {
            (Some(v), None) => v.user_name_format(),
            (Some(v), Some(max)) => match v.user_name_format() {
                UserNameFormat::Handle { .. } => UserNameFormat::Handle { max_len: max },
                _ => UserNameFormat::EmailLocalPart { max_len: Some(max) },
            },
            // Before vendors, --user-name-max-len alone meant nothing; it still changes nothing.
            (None, _) => UserNameFormat::Email,
        },
    };
    if matches!(user_name, UserNameFormat::Handle { max_len: 0 }) {
        bail!("--user-name-max-len must be at least 1");
    }
    let deprovision = match args.deprovision {
        Some(DeprovisionArg::Deactivate) => DeprovisionPolicy::Deactivate,
        Some(DeprovisionArg::Delete) => DeprovisionPolicy::Delete,
        Some(DeprovisionArg::DeactivateThenDelete) => DeprovisionPolicy::DeactivateThenDelete {
            after_days: args.delete_after_days.ok_or_else(|| anyhow!("--delete-after-days is required"))?,
        },
        Some(DeprovisionArg::RemoveLicense) => DeprovisionPolicy::RemoveLicense,
        Some(DeprovisionArg::DoNothing) => DeprovisionPolicy::DoNothing,
        None => vendor.map_or(DeprovisionPolicy::Deactivate, |v| v.default_deprovision()),
    };
    let deletes = matches!(deprovision, DeprovisionPolicy::Delete | DeprovisionPolicy::DeactivateThenDelete { .. });
    if let Some(v) = vendor
        && deletes
        && v.delete_needs_confirmation()
        && !args.confirm_permanent_delete
    {
        bail!(
            "{}'s DELETE is permanent: a deleted account and its history cannot be brought back, and a returning \
             person gets a new account. Deactivating is the safe default; to delete anyway, add --confirm-permanent-delete",
            v.display_name()
        );
    }
    let mut settings = AppSettings { deprovision, user_name, ..AppSettings::default() };
    settings.vendor = vendor.map(|v| v.name().to_owned());
    if !args.match_keys.is_empty() {
        settings.match_keys = args
            .match_keys
            .iter()
            .map(|k| match k {
                MatchKeyArg::ExternalId => MatchKey::ExternalId,
                MatchKeyArg::UserName => MatchKey::UserName,
                MatchKeyArg::Email => MatchKey::Email,
            })
            .collect();
    }
    settings.mappings = mapping_set(&args.mappings, &args.mappings_on_create)?;
    settings.guard = guard_limits(args.guard_percent, args.guard_count, args.guard_window);
    let documented = vendor.and_then(|v| v.documented_limits());
    if args.rate_limit.is_some() || args.max_concurrency.is_some() || documented.is_some() {
        let documented = documented.unwrap_or(tenure_core::AppLimits {
            per_second: None,
            burst: None,
            concurrency: None,
            shared_key: None,
        });
        let per_second = args.rate_limit.or(documented.per_second);
        settings.limits = Some(tenure_core::AppLimits {
            per_second,
            burst: args.burst.or(if args.rate_limit.is_some() { None } else { documented.burst }),
            concurrency: args.max_concurrency.map(usize::from),
            shared_key: args.rate_group.clone(),
        });
    }
    settings.dry_run = args.dry_run;
    let app = store
        .add_app_with_auth(tenant, &args.name, AppKind::Scim, args.base_url.trim(), &auth, &secret, &settings)
        .await?;
    let detail = json!({"base_url": app.base_url, "settings": settings, "auth": auth});
    store.append_audit_for(tenant, "cli", "app.add", &app.name, None, Some(&app.name), &detail).await?;
    println!("added SCIM app {}; grant it with `tenure assign {} --group NAME`", app.name, app.name);
    if let Some(v) = vendor {
        // Says which defaults came from the profile, so nobody is surprised by them later.
        println!(
            "{} profile: DELETE {}, deprovision: {}, userName: {}{}",
            v.display_name(),
            match v.delete_meaning() {
                tenure_connectors::DeleteMeaning::Deactivates => "deactivates",
                tenure_connectors::DeleteMeaning::RemovesFromWorkspace => "removes the member from the workspace",
                tenure_connectors::DeleteMeaning::Permanent => "is permanent",
            },
            settings.deprovision,
            match settings.user_name {
                UserNameFormat::Email => "email".to_owned(),
                UserNameFormat::EmailLocalPart { max_len } => match max_len {
                    Some(n) => format!("email local part, at most {n}"),
                    None => "email local part".to_owned(),
                },
                UserNameFormat::Handle { max_len } => format!("handle, at most {max_len}"),
            },
            settings
                .limits
                .as_ref()
                .and_then(|l| l.per_second)
                .map(|r| format!(", at most {r} requests a second"))
                .unwrap_or_default(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn vendor_of(arg: crate::cli::VendorArg) -> tenure_connectors::Vendor {
    use tenure_connectors::Vendor;
    match arg {
        crate::cli::VendorArg::Slack => Vendor::Slack,
        crate::cli::VendorArg::Notion => Vendor::Notion,
        crate::cli::VendorArg::Github => Vendor::GitHub,
        crate::cli::VendorArg::Atlassian => Vendor::Atlassian,
        crate::cli::VendorArg::Zoom => Vendor::Zoom,
    }
}

/// Zoom's token endpoint for server-to-server OAuth, in the form Zoom documents
/// (<https://developers.zoom.us/docs/internal-apps/s2s-oauth/>):
/// `https://zoom.us/oauth/token?grant_type=account_credentials&account_id=…`. The connector reads
/// the grant from this URL.
fn zoom_token_url(base: Option<&str>, account_id: &str) -> anyhow::Result<String> {
    let account_id = account_id.trim();
    if account_id.is_empty() {
        bail!("--zoom-account-id is empty");
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

/// The app's guard from `--guard-percent` / `--guard-count` / `--guard-window`, each defaulting;
/// `None` when none is given (the defaults apply).
pub(crate) fn guard_limits(
    percent: Option<u8>,
    count: Option<usize>,
    window: Option<std::time::Duration>,
) -> Option<tenure_core::guard::GuardLimits> {
    if percent.is_none() && count.is_none() && window.is_none() {
        return None;
    }
    let defaults = tenure_core::guard::GuardLimits::default();
    Some(tenure_core::guard::GuardLimits {
        max_percent: percent.unwrap_or(defaults.max_percent),
        max_count: count.unwrap_or(defaults.max_count),
        window_s: window.map_or(defaults.window_s, |w| w.as_secs()),
    })
}

/// Parses `--map` / `--map-on-create` values; a bad expression is shown with a caret under the
/// offending column (on stderr, above the error line).
pub(crate) fn mapping_set(always: &[String], on_create: &[String]) -> anyhow::Result<Option<expr::MappingSet>> {
    let given =
        always.iter().map(|m| (m, expr::Apply::Always)).chain(on_create.iter().map(|m| (m, expr::Apply::OnCreate)));
    let mut mappings = Vec::new();
    for (raw, apply) in given {
        let (target, source) =
            raw.split_once('=').ok_or_else(|| anyhow!("--map {raw:?}: expected ATTRIBUTE=EXPRESSION"))?;
        let mapping = expr::Mapping::new(target.trim(), source, apply).map_err(|e| match &e {
            expr::MappingError::Expr { source: err, .. } => {
                // The error itself stays one line; the caret needs two of its own.
                eprintln!("{}", err.render(source));
                anyhow!("--map {}: {err}", target.trim())
            }
            _ => anyhow!("--map {}: {e}", target.trim()),
        })?;
        mappings.push(mapping);
    }
    if mappings.is_empty() {
        return Ok(None);
    }
    Ok(Some(expr::MappingSet::new(mappings)?))
}

async fn app_list(store: &Store, tenant: TenantId, json: bool) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for record in store.list_apps(tenant).await? {
        let (linked, active) = store.account_counts(tenant, record.app.id).await?;
        let assignments = store.list_assignments(tenant, record.app.id).await?;
        rows.push(json!({
            "name": record.app.name,
            "kind": record.app.kind,
            "base_url": record.app.base_url,
            "settings": record.app.settings,
            "assignments": assignments.len(),
            "linked_accounts": linked,
            "active_accounts": active,
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in rows {
            println!(
                "{}\t{}\t{} assignments\t{} accounts ({} active)",
                r["name"].as_str().unwrap_or_default(),
                r["base_url"].as_str().unwrap_or_default(),
                r["assignments"],
                r["linked_accounts"],
                r["active_accounts"]
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn app_users(engine: &Engine, args: UsersArgs) -> anyhow::Result<ExitCode> {
    let paged = args.search.is_some() || args.count.is_some() || args.start > 1;
    let spinner = output::spinner(format!("reading {}'s users", args.app));
    let today = tenure_engine::today();
    let read = if paged {
        let query = tenure_connectors::UserQuery {
            start_index: args.start as usize,
            count: args.count.map_or(100, |c| c as usize),
            search: args.search.clone(),
        };
        engine.app_users(&args.app, &query, today).await.map(|page| (page.accounts, page.total))
    } else {
        // Every account: one full read and one plan, as the report makes them.
        engine.account_report(Some(&args.app), today).await.map(|rows| {
            let total = rows.len();
            (rows, Some(total))
        })
    };
    spinner.finish_and_clear();
    let (rows, total) = read?;
    let format = if args.json { ReportFormat::Json } else { args.format };
    match format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        ReportFormat::Csv => tenure_engine::write_report_csv(std::io::stdout().lock(), &rows)?,
        ReportFormat::Table => output::users_table(&args.app, &rows, args.start as usize, total),
    }
    Ok(ExitCode::SUCCESS)
}

async fn app_external(engine: &Engine, app: &str, account: &str, note: &str, clear: bool) -> anyhow::Result<ExitCode> {
    if clear {
        if engine.mark_account(app, account, None, "cli").await? {
            println!("{app} account {account} is no longer marked as external");
        } else {
            println!("{app} account {account} was not marked");
        }
    } else {
        engine.mark_account(app, account, Some(note), "cli").await?;
        println!("{app} account {account} is marked as a known external account");
    }
    Ok(ExitCode::SUCCESS)
}

async fn assign(store: &Store, tenant: TenantId, args: AssignArgs, grant: bool) -> anyhow::Result<ExitCode> {
    let app = store.app_by_name(tenant, &args.app).await?.app;
    let (target, described) = if let Some(email) = &args.person {
        let person =
            store.person_by_email(tenant, email).await?.ok_or_else(|| anyhow!("no person with email {email}"))?;
        (AssignmentTarget::Person(person.id), format!("person {}", person.email))
    } else if let Some(name) = &args.group {
        let id = store.group_by_name(tenant, name).await?.ok_or_else(|| anyhow!("no group named {name:?}"))?;
        (AssignmentTarget::Group(id), format!("group {name}"))
    } else if let Some(path) = &args.org_unit {
        let path = OrgUnitPath::parse(path)?;
        let described = format!("org unit {path}");
        (AssignmentTarget::OrgUnit(path), described)
    } else if let Some(source) = &args.rule {
        let rule = expr::Rule::parse(source).map_err(|e| {
            eprintln!("{}", e.render(source));
            anyhow!("--rule: {e}")
        })?;
        let described = format!("everyone matching {rule}");
        (AssignmentTarget::Rule(rule), described)
    } else {
        bail!("name a --person, --group, --org-unit or --rule");
    };
    let params =
        AssignmentParams { role: args.role.clone(), license: args.license.clone(), groups: args.app_groups.clone() };
    if args.preview {
        let engine = Engine::new(store.clone(), tenant);
        let (exclude, new_params, new_target) = (args.exclude, params.clone(), target.clone());
        let change = move |assignments: &mut Vec<Assignment>| {
            assignments.retain(|a| a.target != new_target);
            if grant {
                let mut a = Assignment::grant(app.id, new_target);
                a.exclude = exclude;
                a.params = new_params;
                assignments.push(a);
            }
        };
        let spinner = output::spinner(format!("reading {}'s accounts", args.app));
        let previewed = engine.preview_assignments(&args.app, change, tenure_engine::today()).await;
        spinner.finish_and_clear();
        let (now, then) = previewed?;
        let diff = now.diff(&then);
        let verb = match (grant, args.exclude) {
            (true, false) => "assigning",
            (true, true) => "excluding",
            (false, _) => "removing the assignment of",
        };
        println!("Preview, nothing saved: {verb} {} for {described} would", args.app);
        if diff.added.is_empty() && diff.removed.is_empty() && now.group_ops == then.group_ops {
            println!("  change nothing in the plan");
        }
        if !diff.added.is_empty() {
            println!("  add to the plan ({}):", diff.added.len());
            output::ops_by_kind(&diff.added, "    ");
        }
        if !diff.removed.is_empty() {
            println!("  take out of the plan ({}):", diff.removed.len());
            output::ops_by_kind(&diff.removed, "    ");
        }
        if now.group_ops != then.group_ops {
            println!(
                "  change app group memberships: {} group operations instead of {}",
                then.group_ops.len(),
                now.group_ops.len()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let detail = json!({"app": app.name, "target": target, "exclude": args.exclude, "params": params});
    if grant {
        let (_, new) = store.assign(tenant, app.id, &target, args.exclude, &params).await?;
        store.append_audit(tenant, "cli", "assignment.set", &app.name, &detail).await?;
        let verb = if args.exclude { "excluded" } else { "assigned" };
        let prefix = if new { "" } else { "updated: " };
        let (to, effect) = if args.exclude { ("from", "who loses access") } else { ("to", "the effect") };
        println!("{prefix}{verb} {} {to} {described}; `tenure plan` shows {effect}", app.name);
    } else if store.unassign(tenant, app.id, &target).await? {
        store.append_audit(tenant, "cli", "assignment.remove", &app.name, &detail).await?;
        println!("removed {}'s assignment of {described}; `tenure plan` shows the effect", app.name);
    } else {
        bail!("{} has no assignment of {described}", app.name);
    }
    Ok(ExitCode::SUCCESS)
}

async fn adopt(engine: &Engine, args: AdoptArgs) -> anyhow::Result<ExitCode> {
    let adopted = engine.adopt_account(&args.app, &args.account, &args.person, "cli").await?;
    println!(
        "{} account {} ({}) now belongs to {}; Tenure manages it, deletion included",
        adopted.app, adopted.remote_id, adopted.user_name, adopted.person
    );
    Ok(ExitCode::SUCCESS)
}

async fn unlink(store: &Store, tenant: TenantId, args: UnlinkArgs) -> anyhow::Result<ExitCode> {
    let record = store.app_by_name(tenant, &args.app).await?;
    let stored = store.list_accounts(tenant, record.app.id).await?;
    let Some(linked) = stored.iter().find(|a| a.link.remote_id == args.account) else {
        bail!("account {} of {} is not linked", args.account, args.app);
    };
    store.remove_account(tenant, record.app.id, &args.account).await?;
    let detail = json!({"app": args.app, "account": args.account, "person_id": linked.link.person_id});
    store.append_audit(tenant, "cli", "account.unlink", &args.account, &detail).await?;
    println!("unlinked {} account {}; the account itself is unchanged", args.app, args.account);
    Ok(ExitCode::SUCCESS)
}

async fn explain(engine: &Engine, args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let spinner = output::spinner(format!("reading {}'s accounts", args.app));
    let explanation = engine.explain(&args.person, &args.app, tenure_engine::today()).await;
    spinner.finish_and_clear();
    let explanation = explanation?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
    } else {
        print!("{explanation}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn plan(engine: &Engine, args: PlanArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(PlanCommand::Show { id, json }) => return plan_show(engine, &id, json).await,
        Some(PlanCommand::Diff { id, json }) => return plan_diff(engine, &id, json).await,
        Some(PlanCommand::List { limit, json }) => return plan_list(engine, limit, json).await,
        Some(PlanCommand::Approve { id }) => return plan_decide(engine, &id, true).await,
        Some(PlanCommand::Reject { id }) => return plan_decide(engine, &id, false).await,
        None => {}
    }
    let spinner = output::spinner("reading the apps' accounts".to_owned());
    let plans = engine.plan(args.app.as_deref(), tenure_engine::today()).await;
    spinner.finish_and_clear();
    let plans = plans?;
    let holds: Vec<tenure_engine::HoldView> = engine
        .holds(100)
        .await?
        .into_iter()
        .filter(|h| h.status == "held" || h.status == "approved" || (h.status == "rejected" && h.losses > 0))
        .collect();
    if args.json {
        let mut doc = output::plan_json(&plans);
        doc["holds"] = json!(holds);
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        output::plan_table(&plans);
        if !holds.is_empty() {
            println!("The deprovisioning guard (its decisions stand, whatever the plan above says):");
            output::holds(&holds);
        }
    }
    if args.save {
        let ops: Vec<PlannedOp> = plans.iter().flat_map(|p| p.plan.ops.iter().cloned()).collect();
        let summary = json!({
            "app_filter": args.app,
            "apps": plans.iter().map(|p| json!({"app": p.app.name, "ops": p.plan.ops.len()})).collect::<Vec<_>>(),
        });
        let id = engine.store().save_preview(engine.tenant(), &ops, &summary).await?;
        engine.store().append_audit(engine.tenant(), "cli", "plan.save", &id.to_string(), &summary).await?;
        eprintln!("saved as plan {id}; `tenure plan diff {id}` later shows what changed");
    }
    Ok(ExitCode::SUCCESS)
}

/// A stored plan's operations (for a held plan: the losses it holds now) and the app filter it
/// was computed with.
async fn stored_plan(engine: &Engine, id: &str) -> anyhow::Result<(tenure_store::PlanRecord, Plan)> {
    let id: PlanId = id.parse().map_err(|e| anyhow!("plan id {id:?}: {e}"))?;
    let record = engine.store().plan_record(engine.tenant(), id).await?;
    let mut ops: Vec<PlannedOp> =
        engine.store().plan_operations(engine.tenant(), id).await?.into_iter().map(|r| r.op).collect();
    ops.extend(engine.store().held_losses_of(engine.tenant(), id).await?.into_iter().map(|r| r.op));
    Ok((record, Plan { ops, ..Plan::default() }))
}

async fn plan_decide(engine: &Engine, id: &str, approve: bool) -> anyhow::Result<ExitCode> {
    let plan: PlanId = id.parse().map_err(|e| anyhow!("plan id {id:?}: {e}"))?;
    engine.decide_held(plan, approve, "cli").await?;
    if approve {
        println!(
            "approved plan {plan}: the losses it holds that are still due are carried out when their people are next \
             planned (at once under `tenure serve`, or by the next `tenure apply`); nobody else's"
        );
    } else {
        println!(
            "rejected plan {plan}: the accounts stay, and those losses are not due again until their people change in \
             the source; fix what caused them (a source, an assignment)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn plan_show(engine: &Engine, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (record, plan) = stored_plan(engine, id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&json!({"plan": record, "ops": plan.ops}))?);
    } else {
        println!("plan {} ({}, {} operations)", record.id, record.status, plan.ops.len());
        if let Some(reason) = engine.holds(1000).await?.into_iter().find(|h| h.plan_id == record.id).map(|h| h.reason) {
            println!("  held because {reason}");
        }
        output::ops_by_kind(&plan.ops, "  ");
        for event in record.summary["history"].as_array().into_iter().flatten() {
            println!(
                "  {} {} {}{}",
                output::time_ms(event["at_ms"].as_i64().unwrap_or_default()),
                event["event"].as_str().unwrap_or_default(),
                event["count"],
                event["by"].as_str().map(|by| format!(" by {by}")).unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn plan_diff(engine: &Engine, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (record, stored) = stored_plan(engine, id).await?;
    let app_filter = record.summary.get("app_filter").and_then(|v| v.as_str()).map(str::to_owned);
    let spinner = output::spinner("reading the apps' accounts".to_owned());
    let plans = engine.plan(app_filter.as_deref(), tenure_engine::today()).await;
    spinner.finish_and_clear();
    let now = Plan { ops: plans?.into_iter().flat_map(|p| p.plan.ops).collect(), ..Plan::default() };
    let diff = stored.diff(&now);
    if json {
        println!("{}", serde_json::to_string_pretty(&diff)?);
    } else if diff.added.is_empty() && diff.removed.is_empty() {
        println!("No change since plan {}: the same {} operations.", record.id, now.ops.len());
    } else {
        println!("Since plan {}:", record.id);
        if !diff.added.is_empty() {
            println!("  new ({}):", diff.added.len());
            output::ops_by_kind(&diff.added, "    ");
        }
        if !diff.removed.is_empty() {
            println!("  no longer planned ({}):", diff.removed.len());
            output::ops_by_kind(&diff.removed, "    ");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn plan_list(engine: &Engine, limit: i64, json: bool) -> anyhow::Result<ExitCode> {
    let plans = engine.store().list_plans(engine.tenant(), limit).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&plans)?);
        return Ok(ExitCode::SUCCESS);
    }
    for p in plans {
        let when = time::OffsetDateTime::from_unix_timestamp(p.created_ms / 1000)
            .map(|t| t.date().to_string() + " " + &t.time().to_string())
            .unwrap_or_default();
        println!(
            "{}  {when}  {}  {}",
            p.id,
            p.status,
            p.summary.get("apps").map(|a| a.to_string()).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn apply(engine: &Engine, args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let spinner = output::spinner("reading the apps' accounts".to_owned());
    let plans = engine.plan(args.app.as_deref(), tenure_engine::today()).await;
    spinner.finish_and_clear();
    let plans = plans?;
    let total: usize = plans.iter().map(|p| p.plan.ops.len() + p.plan.group_ops.len()).sum();
    if total == 0 {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&tenure_engine::ApplyReport::default())?);
        } else {
            println!("Nothing to do: every app is in step with the directory.");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        output::plan_table(&plans);
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!("refusing to apply {total} operations without confirmation: pass --yes");
        }
        eprint!("Apply these {total} operations? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("Nothing applied.");
            return Ok(ExitCode::FAILURE);
        }
    }
    let spinner = output::spinner(format!("applying {total} operations"));
    let report = engine.apply(plans).await;
    spinner.finish_and_clear();
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        output::apply_summary(&report);
        if report.held_losses > 0 {
            println!(
                "Held by the deprovisioning guard: {} loss(es) of access wait for an admin; everything else was applied.",
                report.held_losses
            );
            for (trip, id) in report.held.iter().zip(&report.held_plans) {
                println!("  plan {id}: {trip}");
            }
            if let Some(id) = report.held_plans.first() {
                println!(
                    "Review with `tenure plan show {id}`, then `tenure plan approve {id}` (the losses still due are"
                );
                println!("carried out) or `tenure plan reject {id}` (the accounts stay) and fix the cause.");
            }
        }
    }
    Ok(if report.failed() == 0 && report.held_losses == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn source_add_ldap(store: &Store, tenant: TenantId, args: LdapSourceArgs) -> anyhow::Result<ExitCode> {
    use tenure_sources::ldap::{DisabledRule, Flavor, LdapConfig};
    let password = match (&args.password_env, &args.password_file) {
        (Some(var), _) => std::env::var(var).with_context(|| format!("--password-env {var}: not set"))?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("--password-file {}", path.display()))?
            .trim_end_matches(['\r', '\n'])
            .to_owned(),
        (None, None) => bail!("the bind password is required: --password-env VAR or --password-file PATH"),
    };
    let mut ldap = LdapConfig::new(&args.url, &args.bind_dn, Secret::new(password), "");
    ldap.user_bases = args.user_bases.clone();
    ldap.starttls = args.starttls;
    ldap.insecure_plaintext = args.insecure_plaintext;
    ldap.ca_file = args
        .ca_file
        .as_ref()
        .map(|p| std::fs::canonicalize(p).with_context(|| format!("--ca-file {}", p.display())))
        .transpose()?;
    ldap.user_filter = args.user_filter.clone();
    ldap.group_bases = args.group_bases.clone();
    ldap.group_filter = args.group_filter.clone();
    ldap.page_size = args.page_size;
    ldap.flavor = match args.flavor {
        LdapFlavorArg::Openldap => Flavor::Openldap,
        LdapFlavorArg::ActiveDirectory => Flavor::ActiveDirectory,
    };
    ldap.disabled = args.disabled.as_deref().map(|raw| match raw.split_once('=') {
        Some((attribute, value)) => {
            DisabledRule { attribute: attribute.trim().to_owned(), value: Some(value.trim().to_owned()) }
        }
        None => DisabledRule { attribute: raw.trim().to_owned(), value: None },
    });
    let mut map = serde_json::Map::new();
    for raw in &args.attributes {
        let (field, attribute) =
            raw.split_once('=').ok_or_else(|| anyhow!("--attribute {raw:?}: expected FIELD=ATTRIBUTE"))?;
        map.insert(field.trim().to_owned(), json!(attribute.trim()));
    }
    ldap.attributes = serde_json::from_value(serde_json::Value::Object(map)).context("--attribute")?;
    ldap.validate()?;
    let config = tenure_engine::LdapSourceConfig {
        ldap,
        scope: sync_scope(&args.scope)?,
        min_share_percent: args.guard_min_share,
    };
    let stored = serde_json::to_value(&config)?;
    store.add_source(tenant, &args.name, "ldap", &stored).await?;
    // The audit record keeps the settings, never the password.
    let mut audited = stored.clone();
    redact_secrets(&mut audited);
    store.append_audit(tenant, "cli", "source.add", &args.name, &audited).await?;
    println!("added LDAP source {}; run `tenure sync {}` to import it", args.name, args.name);
    Ok(ExitCode::SUCCESS)
}

/// Replaces credentials in a stored source config (an LDAP bind password, a client secret)
/// before it is shown.
fn redact_secrets(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if matches!(key.as_str(), "password" | "client_secret" | "private_key" | "token") && v.is_string() {
                    *v = json!("***");
                } else {
                    redact_secrets(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}
