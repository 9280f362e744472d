//! The admin verbs that act on the database `--database-url` names.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use serde_json::json;
use tenure_core::*;
use tenure_engine::admin::{AssignmentSpec, NewSource, Origin, SourceEdit, Unassign};
use tenure_engine::{Actor, CsvSourceConfig, Engine};
use tenure_sources::{CsvFormat, CsvMapping};

use crate::cli::*;
use crate::output;

pub async fn run(command: Command, engine: &Engine) -> anyhow::Result<ExitCode> {
    let store = engine.store();
    let actor = Actor::cli();
    match command {
        Command::Token(command) => crate::access::token(engine, command).await,
        Command::Admin(command) => crate::access::admin(engine, command).await,
        Command::Tenant(crate::access::TenantCommand::Set { timezone, json }) => {
            crate::workflows::tenant_settings(engine, Some(timezone), json).await
        }
        Command::Tenant(crate::access::TenantCommand::Show { json }) => {
            crate::workflows::tenant_settings(engine, None, json).await
        }
        Command::Tenant(command) => crate::access::tenant(store, command).await,
        Command::Workflow(command) => crate::workflows::run(engine, command).await,
        Command::Backup(args) => crate::backup::backup(store, args).await,
        Command::Restore(args) => crate::backup::restore(store, args).await,
        Command::Db(crate::backup::DbCommand::Copy(args)) => crate::backup::copy(store, args).await,
        Command::Source(SourceCommand::Add(SourceAdd::Csv(args))) => source_add_csv(engine, args).await,
        Command::Source(SourceCommand::Add(SourceAdd::Ldap(args))) => source_add_ldap(engine, args).await,
        Command::Source(SourceCommand::Add(SourceAdd::Google(args))) => {
            crate::cloud_sources::add_google(engine, args).await
        }
        Command::Source(SourceCommand::Add(SourceAdd::Graph(args))) => {
            crate::cloud_sources::add_graph(engine, args).await
        }
        Command::Source(SourceCommand::Set(args)) => source_set(engine, args).await,
        Command::Source(SourceCommand::List { json }) => source_list(engine, json).await,
        Command::Source(SourceCommand::Remove { name, force }) => {
            let removed = engine.admin(&actor).remove_source(&name, force).await?;
            println!("removed source {}; {} people left the directory with it", removed.source, removed.people_left);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync(args) => sync(engine, args).await,
        Command::App(AppCommand::Add(AppAdd::Scim(args))) => crate::apps::add_scim(engine, *args).await,
        Command::App(AppCommand::Add(AppAdd::Google(args))) => crate::apps::add_google(engine, args).await,
        Command::App(AppCommand::Add(AppAdd::GithubOrg(args))) => crate::github_app::add(engine, args).await,
        Command::App(AppCommand::Add(AppAdd::Box(args))) => {
            crate::rest_app::add(engine, tenure_engine::admin::NewAppKind::Box, args).await
        }
        Command::App(AppCommand::Add(AppAdd::Dropbox(args))) => {
            crate::rest_app::add(engine, tenure_engine::admin::NewAppKind::Dropbox, args).await
        }
        Command::App(AppCommand::Add(AppAdd::M365(args))) => crate::m365_app::add(engine, args).await,
        Command::App(AppCommand::List { json }) => crate::apps::list(engine, json).await,
        Command::App(AppCommand::Catalog { json }) => crate::app_catalog::run(json),
        Command::App(AppCommand::Show { app, json }) => crate::apps::show(engine, &app, json).await,
        Command::App(AppCommand::Edit(args)) => crate::apps::edit(engine, args).await,
        Command::App(AppCommand::Rotate(args)) => crate::apps::rotate(engine, args).await,
        Command::App(AppCommand::Disable { app }) => crate::apps::set_disabled(engine, &app, true).await,
        Command::App(AppCommand::Enable { app }) => crate::apps::set_disabled(engine, &app, false).await,
        Command::App(AppCommand::Remove { app, preview, yes, json }) => {
            crate::apps::remove(engine, &app, preview, yes, json).await
        }
        Command::App(AppCommand::Users(args)) => app_users(engine, args).await,
        Command::App(AppCommand::External { app, account, note, clear }) => {
            app_external(engine, &app, &account, &note, clear).await
        }
        Command::App(AppCommand::Check { app, json, write_probe }) => {
            crate::app_check::run(engine, &app, json, write_probe).await
        }
        Command::App(AppCommand::Authorize { app, public_url, json }) => {
            crate::app_oauth::authorize(engine, &app, &public_url, json).await
        }
        Command::App(AppCommand::Verify { app, json }) => crate::app_oauth::verify(engine, &app, json).await,
        Command::Assign(args) => assign(engine, args, true).await,
        Command::Unassign(args) => assign(engine, args, false).await,
        Command::Assignments { app, json } => assignments(engine, &app, json).await,
        Command::Plan(args) => plan(engine, args).await,
        Command::Apply(args) => apply(engine, args).await,
        Command::Guard(command) => crate::guard::run(engine, command).await,
        Command::Offboard(args) => crate::lifecycle::offboard(engine, args).await,
        Command::Person(command) => crate::people::run(engine, command).await,
        Command::Notify(command) => crate::lifecycle::notify(engine, command).await,
        Command::Task(command) => crate::lifecycle::task(engine, command).await,
        Command::App(AppCommand::Add(AppAdd::Manual(args))) => crate::lifecycle::add_manual(engine, args).await,
        Command::Explain(args) => explain(engine, args).await,
        Command::Adopt(args) => adopt(engine, args).await,
        Command::Unlink(args) => unlink(engine, args).await,
        Command::Audit(args) => crate::audit::run(engine, args).await,
        Command::Ops(command) => crate::ops::run(engine, command).await,
        Command::Report(args) => crate::report::run(engine, args).await,
        Command::License(command) => crate::licenses::run(engine, command).await,
        Command::Keys(command) => crate::keys::run(engine, command).await,
        Command::Serve(_) | Command::Demo(_) | Command::Bench(_) => {
            Err(anyhow!("serve, demo and bench run their own set-up; they are not admin verbs"))
        }
    }
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

async fn source_add_csv(engine: &Engine, args: CsvSourceArgs) -> anyhow::Result<ExitCode> {
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
    add_source(engine, &args.name, "csv", serde_json::to_value(&config)?).await
}

/// Adds a source through the engine, as the operator (whose settings may name local files).
pub(crate) async fn add_source(
    engine: &Engine,
    name: &str,
    kind: &str,
    config: serde_json::Value,
) -> anyhow::Result<ExitCode> {
    let spec = NewSource { name: name.to_owned(), kind: kind.to_owned(), config };
    let actor = Actor::cli();
    engine.admin(&actor).create_source(spec, Origin::Local).await?;
    let what = match kind {
        "csv" => "CSV",
        "ldap" => "LDAP",
        other => other,
    };
    println!("added {what} source {name}; run `tenure sync {name}` to import it");
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

async fn source_set(engine: &Engine, args: SourceSetArgs) -> anyhow::Result<ExitCode> {
    let source = engine
        .store()
        .list_sources(engine.tenant())
        .await?
        .into_iter()
        .find(|s| s.name == args.name)
        .ok_or_else(|| anyhow!("no source named {:?}", args.name))?;
    if source.kind != "csv" {
        let Some(every) = args.sync_every.clone() else {
            bail!(
                "source {} is a {} source: `source set` changes only its --sync-every; its other settings are CSV \
                 sources'",
                source.name,
                source.kind
            );
        };
        if csv_settings_given(&args) {
            bail!("source {} is a {} source: only --sync-every applies to it", source.name, source.kind);
        }
        let edit = SourceEdit { config: None, sync_every: Some(every) };
        return finish_source_set(engine, &source, edit).await;
    }
    let mut config: CsvSourceConfig = serde_json::from_value(tenure_engine::kind_settings(&source.config))
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
    if value == tenure_engine::kind_settings(&source.config) && args.sync_every.is_none() {
        println!("source {}: nothing to change", source.name);
        return Ok(ExitCode::SUCCESS);
    }
    let edit = SourceEdit { config: Some(value), sync_every: args.sync_every.clone() };
    finish_source_set(engine, &source, edit).await
}

/// Whether any flag of `source set` that only CSV sources have was given.
fn csv_settings_given(args: &SourceSetArgs) -> bool {
    args.file.is_some()
        || args.groups_file.is_some()
        || args.no_groups_file
        || !args.columns.is_empty()
        || args.clear_scope
        || args.guard_min_share.is_some()
        || args.no_guard_min_share
        || args.watch_dir.is_some()
        || args.no_watch_dir
}

async fn finish_source_set(
    engine: &Engine,
    source: &tenure_store::SourceRecord,
    edit: SourceEdit,
) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let edited =
        engine.admin(&actor).edit_source(&source.name, edit, Some(source.version), false, Origin::Local).await?;
    if !edited.saved {
        println!("source {}: nothing to change", source.name);
        return Ok(ExitCode::SUCCESS);
    }
    let every = tenure_engine::sync_interval(&edited.source.config);
    println!(
        "updated source {}; the next `tenure sync {}` uses the new settings; `tenure serve` syncs it every {}s",
        source.name,
        source.name,
        every.as_secs()
    );
    if !edited.leaving.is_empty() {
        println!("  its new scope leaves out {} people, who leave at the next sync:", edited.leaving.len());
        for l in &edited.leaving {
            println!(
                "    {}{}",
                l.person,
                if l.accounts.is_empty() { String::new() } else { format!(" ({})", l.accounts.join(", ")) }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn source_list(engine: &Engine, json: bool) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let sources = engine.admin(&actor).sources().await?;
    if json {
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
        match engine.admin(&Actor::cli()).sync(Some(name), options).await {
            Ok(done) => reports.extend(done),
            Err(e) => {
                progress.finish();
                if matches!(e, tenure_engine::EngineError::SourceGuard { .. }) {
                    // Without `serve` running, nobody else would send the refusal's notice.
                    if let Err(drain) = engine.drain_notifications(std::time::Duration::from_secs(5)).await {
                        tracing::warn!(error = %drain, "could not send the refusal's notice now; `serve` will");
                    }
                }
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

async fn app_users(engine: &Engine, args: UsersArgs) -> anyhow::Result<ExitCode> {
    let paged = args.search.is_some() || args.count.is_some() || args.start > 1;
    let spinner = output::spinner(format!("reading {}'s users", args.app));
    let read = if paged {
        let query = tenure_connectors::UserQuery {
            start_index: args.start as usize,
            count: args.count.map_or(100, |c| c as usize),
            search: args.search.clone(),
        };
        engine.admin(&Actor::cli()).app_users(&args.app, &query).await.map(|page| {
            // What the page cannot show: accounts the vendor's list leaves out, and people whose
            // create the plan refuses.
            let said = page.unseen.into_iter().chain(page.problems.into_iter().map(|p| p.message)).collect();
            (page.accounts, page.total, said)
        })
    } else {
        // Every account: one full read and one plan, as the report makes them.
        engine.admin(&Actor::cli()).report(Some(&args.app)).await.map(|rows| {
            let total = rows.len();
            (rows, Some(total), Vec::new())
        })
    };
    spinner.finish_and_clear();
    let (rows, total, said) = read?;
    let format = if args.json { ReportFormat::Json } else { args.format };
    match format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        ReportFormat::Csv => tenure_engine::write_report_csv(std::io::stdout().lock(), &rows)?,
        ReportFormat::Table => {
            output::users_table(&args.app, &rows, args.start as usize, total);
            for line in said {
                println!("! {line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn app_external(engine: &Engine, app: &str, account: &str, note: &str, clear: bool) -> anyhow::Result<ExitCode> {
    if clear {
        if engine.admin(&Actor::cli()).mark_external(app, account, None).await? {
            println!("{app} account {account} is no longer marked as external");
        } else {
            println!("{app} account {account} was not marked");
        }
    } else {
        engine.admin(&Actor::cli()).mark_external(app, account, Some(note)).await?;
        println!("{app} account {account} is marked as a known external account");
    }
    Ok(ExitCode::SUCCESS)
}

async fn assign(engine: &Engine, args: AssignArgs, grant: bool) -> anyhow::Result<ExitCode> {
    let spec = AssignmentSpec {
        person: args.person.clone(),
        group: args.group.clone(),
        org_unit: args.org_unit.clone(),
        rule: args.rule.clone(),
        exclude: args.exclude,
        role: args.role.clone(),
        license: args.license.clone(),
        app_groups: args.app_groups.clone(),
    };
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    let spinner = args.preview.then(|| output::spinner(format!("reading {}'s accounts", args.app)));
    let change = if grant {
        admin.assign(&args.app, &spec, args.preview).await
    } else {
        admin.unassign(&args.app, Unassign::Target(&spec), args.preview).await
    };
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let change = change.map_err(|e| match e {
        tenure_engine::EngineError::Expression { .. } => crate::apps::cli_error(e),
        tenure_engine::EngineError::BadField { field, message } if field == "rule" => anyhow!("--rule: {message}"),
        tenure_engine::EngineError::NotFound(what) if !grant => anyhow!("{} has no such assignment ({what})", args.app),
        other => other.into(),
    })?;
    let described = describe_target(&args);
    if args.preview {
        let verb = match (grant, args.exclude) {
            (true, false) => "assigning",
            (true, true) => "excluding",
            (false, _) => "removing the assignment of",
        };
        println!("Preview, nothing saved: {verb} {} for {described} would", args.app);
        print_plan_change(change.plan.as_ref());
        return Ok(ExitCode::SUCCESS);
    }
    if grant {
        let verb = if args.exclude { "excluded" } else { "assigned" };
        let prefix = if change.created { "" } else { "updated: " };
        let (to, effect) = if args.exclude { ("from", "who loses access") } else { ("to", "the effect") };
        println!("{prefix}{verb} {} {to} {described}; `tenure plan` shows {effect}", args.app);
    } else {
        println!("removed {}'s assignment of {described}; `tenure plan` shows the effect", args.app);
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_target(args: &AssignArgs) -> String {
    if let Some(p) = &args.person {
        format!("person {p}")
    } else if let Some(g) = &args.group {
        format!("group {g}")
    } else if let Some(o) = &args.org_unit {
        format!("org unit {o}")
    } else {
        format!("everyone matching {}", args.rule.as_deref().unwrap_or_default())
    }
}

/// What a change would do to the plan, as a preview prints it.
pub(crate) fn print_plan_change(change: Option<&tenure_engine::admin::views::PlanChange>) {
    let Some(change) = change else { return };
    if change.is_empty() {
        println!("  change nothing in the plan");
    }
    if !change.added.is_empty() {
        println!("  add to the plan ({}):", change.added.len());
        output::ops_by_kind(&change.added, "    ");
    }
    if !change.removed.is_empty() {
        println!("  take out of the plan ({}):", change.removed.len());
        output::ops_by_kind(&change.removed, "    ");
    }
    if change.group_ops_before != change.group_ops_after {
        println!(
            "  change app group memberships: {} group operations instead of {}",
            change.group_ops_after, change.group_ops_before
        );
    }
}

async fn assignments(engine: &Engine, app: &str, json: bool) -> anyhow::Result<ExitCode> {
    let list = engine.admin(&Actor::cli()).assignments(app).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("{app} has no assignments; add one with `tenure assign {app} --group NAME`");
    }
    for a in list {
        let mut extra = Vec::new();
        if let Some(r) = &a.role {
            extra.push(format!("role {r}"));
        }
        if let Some(l) = &a.license {
            extra.push(format!("license {l}"));
        }
        if !a.app_groups.is_empty() {
            extra.push(format!("app groups {}", a.app_groups.join(", ")));
        }
        println!(
            "{}  {}{} {}{}",
            a.id,
            if a.exclude { "exclude " } else { "" },
            a.target_kind,
            a.target,
            if extra.is_empty() { String::new() } else { format!(" ({})", extra.join("; ")) }
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn adopt(engine: &Engine, args: AdoptArgs) -> anyhow::Result<ExitCode> {
    let adopted = engine.admin(&Actor::cli()).adopt(&args.app, &args.account, &args.person).await?;
    println!(
        "{} account {} ({}) now belongs to {}; Tenure manages it, deletion included",
        adopted.app, adopted.remote_id, adopted.user_name, adopted.person
    );
    Ok(ExitCode::SUCCESS)
}

async fn unlink(engine: &Engine, args: UnlinkArgs) -> anyhow::Result<ExitCode> {
    engine.admin(&Actor::cli()).unlink(&args.app, &args.account).await.map_err(|e| match e {
        tenure_engine::EngineError::NotFound(_) => anyhow!("account {} of {} is not linked", args.account, args.app),
        other => other.into(),
    })?;
    println!("unlinked {} account {}; the account itself is unchanged", args.app, args.account);
    Ok(ExitCode::SUCCESS)
}

async fn explain(engine: &Engine, args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let spinner = output::spinner(format!("reading {}'s accounts", args.app));
    let explanation = engine.admin(&Actor::cli()).explain(&args.person, &args.app).await;
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
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    let spinner = output::spinner("reading the apps' accounts".to_owned());
    if args.save {
        let saved = admin.save_plan_shown(args.app.as_deref()).await;
        spinner.finish_and_clear();
        let (plans, document, saved) = saved?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&document)?);
        } else {
            output::plan_table(&plans);
        }
        let id = saved.plan;
        eprintln!("saved as plan {id}; `tenure plan diff {id}` later shows what changed");
        return Ok(ExitCode::SUCCESS);
    }
    let plans = admin.plan(args.app.as_deref()).await;
    spinner.finish_and_clear();
    let (plans, document) = plans?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        output::plan_table(&plans);
        if !document.holds.is_empty() {
            println!("The deprovisioning guard (its decisions stand, whatever the plan above says):");
            output::holds(&document.holds);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn plan_decide(engine: &Engine, id: &str, approve: bool) -> anyhow::Result<ExitCode> {
    let plan: PlanId = id.parse().map_err(|e| anyhow!("plan id {id:?}: {e}"))?;
    engine.admin(&Actor::cli()).decide_held(plan, approve).await?;
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
    let id: PlanId = id.parse().map_err(|e| anyhow!("plan id {id:?}: {e}"))?;
    let stored = engine.admin(&Actor::cli()).stored_plan(id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&stored)?);
    } else {
        println!("plan {} ({}, {} operations)", stored.plan.id, stored.plan.status, stored.ops.len());
        if let Some(hold) = &stored.hold {
            println!("  held because {}", hold.reason);
        }
        output::ops_by_kind(&stored.ops, "  ");
        for event in stored.plan.summary["history"].as_array().into_iter().flatten() {
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
    let id: PlanId = id.parse().map_err(|e| anyhow!("plan id {id:?}: {e}"))?;
    let spinner = output::spinner("reading the apps' accounts".to_owned());
    let diffed = engine.admin(&Actor::cli()).plan_diff(id).await;
    spinner.finish_and_clear();
    let (record, diff, now_ops) = diffed?;
    if json {
        println!("{}", serde_json::to_string_pretty(&diff)?);
    } else if diff.added.is_empty() && diff.removed.is_empty() {
        println!("No change since plan {}: the same {} operations.", record.id, now_ops);
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
    let plans = engine.admin(&Actor::cli()).plans(limit).await?;
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
    if let Some(id) = &args.plan {
        return apply_saved(engine, id, args.yes, args.json).await;
    }
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    let spinner = output::spinner("reading the apps' accounts".to_owned());
    let plans = admin.plan(args.app.as_deref()).await;
    spinner.finish_and_clear();
    let (plans, _) = plans?;
    let total: usize = plans.iter().map(|p| p.plan.ops.len() + p.plan.group_ops.len()).sum();
    // An app whose plan was refused (its list may not be read yet, say) is not "in step": say
    // why, and when it may be read again, rather than that there is nothing to do.
    let refused: Vec<(&str, &str)> =
        plans.iter().filter_map(|p| p.plan.refused.as_deref().map(|r| (p.app.name.as_str(), r))).collect();
    if total == 0 && !refused.is_empty() {
        if args.json {
            let report = tenure_engine::ApplyReport {
                refused: refused
                    .iter()
                    .map(|(app, reason)| tenure_engine::AppRefusal {
                        app: (*app).to_owned(),
                        reason: (*reason).to_owned(),
                    })
                    .collect(),
                ..tenure_engine::ApplyReport::default()
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            for (app, reason) in &refused {
                println!("{app}: not applied: {reason}");
            }
        }
        return Ok(ExitCode::FAILURE);
    }
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
    let report = admin.apply_plans(plans).await;
    spinner.finish_and_clear();
    print_apply(&report?, args.json)
}

/// `tenure apply --plan ID`: the saved plan's operations, once its apps are checked to give the
/// same plan now.
async fn apply_saved(engine: &Engine, id: &str, yes: bool, json: bool) -> anyhow::Result<ExitCode> {
    let plan: PlanId = id.parse().map_err(|e| anyhow!("plan id {id:?}: {e}"))?;
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    let stored = admin.stored_plan(plan).await?;
    if !json {
        println!("plan {} ({}, {} operations)", stored.plan.id, stored.plan.status, stored.ops.len());
        output::ops_by_kind(&stored.ops, "  ");
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!("refusing to apply plan {plan} without confirmation: pass --yes");
        }
        eprint!("Apply plan {plan} as saved ({} operations)? [y/N] ", stored.ops.len());
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("Nothing applied.");
            return Ok(ExitCode::FAILURE);
        }
    }
    let spinner = output::spinner(format!("checking plan {plan} against the apps, then applying it"));
    let report = admin.apply_saved(plan).await;
    spinner.finish_and_clear();
    print_apply(&report?, json)
}

fn print_apply(report: &tenure_engine::ApplyReport, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        if let (Some(saved), Some(queued)) = (report.saved_plan, report.plan_id) {
            println!("Plan {saved} applied as saved (queued as plan {queued}).");
        }
        output::apply_summary(report);
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
    if !json {
        for refusal in &report.refused {
            println!("{}: not applied: {}", refusal.app, refusal.reason);
        }
    }
    let clean = report.failed() == 0 && report.held_losses == 0 && report.refused.is_empty();
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn source_add_ldap(engine: &Engine, args: LdapSourceArgs) -> anyhow::Result<ExitCode> {
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
    add_source(engine, &args.name, "ldap", serde_json::to_value(&config)?).await
}
