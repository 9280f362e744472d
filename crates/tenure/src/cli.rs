//! The command line. Every setting a flag sets can also come from `TENURE_*` environment
//! variables or the config file; flags win over the environment, which wins over the file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "tenure", version, about = "Keeps every SaaS account of an organization in step with its directory")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file (TOML) with defaults for the settings below.
    #[arg(long, global = true, env = "TENURE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database: sqlite://PATH (default: tenure.db in the data directory) or postgres://USER@HOST/DB.
    /// TENURE_DATABASE_URL_FILE may name a file holding it.
    #[arg(long, global = true, env = "TENURE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Where the embedded database lives (default: $XDG_DATA_HOME/tenure).
    #[arg(long, global = true, env = "TENURE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The tenant (organization) to act on.
    #[arg(long, global = true, env = "TENURE_TENANT")]
    pub tenant: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, env = "TENURE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once per process; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: health, metrics and the admin API.
    Serve(ServeArgs),
    /// Try Tenure: a sample organization provisioned into built-in sandbox apps.
    Demo(DemoArgs),
    /// API tokens: each acts as an admin (with the admin's role), or is an IdP's SCIM token.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The tenant's admins and their roles.
    #[command(subcommand)]
    Admin(crate::access::AdminCommand),
    /// Tenants (organizations) of this deployment.
    #[command(subcommand)]
    Tenant(crate::access::TenantCommand),
    /// Directory sources.
    #[command(subcommand)]
    Source(SourceCommand),
    /// Read sources into the directory (all of them, or the one named).
    Sync(SyncArgs),
    /// Apps Tenure provisions into.
    #[command(subcommand)]
    App(AppCommand),
    /// Grant an app to a person, a group (nested groups included), an org unit (its subtree
    /// included) or everyone matching a rule; or, with --exclude, keep it from them.
    Assign(AssignArgs),
    /// Remove an assignment; accounts it granted are deprovisioned on the next apply.
    Unassign(AssignArgs),
    /// An app's assignments.
    Assignments {
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Show what would change in the apps, and why.
    Plan(PlanArgs),
    /// Compute the plan and carry it out.
    Apply(ApplyArgs),
    /// The tenant-wide deprovisioning guard: how many people may lose access across every app
    /// within its window before the losses wait for an admin.
    #[command(subcommand)]
    Guard(GuardCommand),
    /// Offboard a person: every app account of theirs Tenure knows of, at once or from a date,
    /// with the people who must know told; --preview to look first, --undo for a re-hire.
    Offboard(crate::lifecycle::OffboardArgs),
    /// Person-level switches: the legal hold ("never deprovision").
    #[command(subcommand)]
    Person(crate::people::PersonCommand),
    /// Notification channels: email (SMTP), Slack, Teams, a signed generic webhook.
    #[command(subcommand)]
    Notify(crate::lifecycle::NotifyCommand),
    /// Tasks of manual apps (apps without a connector, worked by hand).
    #[command(subcommand)]
    Task(crate::lifecycle::TaskCommand),
    /// Lifecycle workflows: on a date (in the tenant's timezone) or an event, ordered steps for
    /// a person (notify, deprovision, task, wait, approval), each run recorded.
    #[command(subcommand)]
    Workflow(crate::workflows::WorkflowCommand),
    /// Why a person has, lacks or will lose an account in an app, in words.
    Explain(ExplainArgs),
    /// Link an existing app account to a person and make it Tenure's to manage, deletion
    /// included (settles a correlation case or an unmanaged account).
    Adopt(AdoptArgs),
    /// Forget the link between an app account and its person; the account is left as it is.
    Unlink(UnlinkArgs),
    /// The audit log: who did what, when and why, by person, app, action or time; as a table,
    /// JSON lines or CSV.
    Audit(crate::audit::AuditArgs),
    /// Master keys of the credentials stored for apps: status and rotation.
    #[command(subcommand)]
    Keys(crate::keys::KeysCommand),
    /// Write a consistent snapshot of the whole database (every tenant) to FILE, while `serve`
    /// may be running; credentials stay encrypted (keep the master key with the backup).
    Backup(crate::backup::BackupArgs),
    /// Restore a backup FILE into a new, empty database (SQLite or PostgreSQL).
    Restore(crate::backup::RestoreArgs),
    /// The database as a whole: copy it to PostgreSQL.
    #[command(subcommand)]
    Db(crate::backup::DbCommand),
    /// The provisioning queue: its state, failed operations, retry and dismiss.
    #[command(subcommand)]
    Ops(OpsCommand),
    /// Every app account, read live and classified: managed, unassigned but active, left but
    /// active, inactive but licensed, matched, ambiguous, unmanaged.
    Report(ReportArgs),
    /// License pools per app and tier: seats, cost, waste and the money view.
    #[command(subcommand)]
    License(crate::licenses::LicenseCommand),
    /// Benchmarks (figures as one JSON line on stdout).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// One app (default: every app).
    #[arg(long)]
    pub app: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UsersArgs {
    pub app: String,
    /// Only accounts whose email or userName contains this (case-insensitive).
    #[arg(long)]
    pub search: Option<String>,
    /// 1-based position of the first account to show.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub start: u32,
    /// Accounts per page (at most 500); without it, every account.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub count: Option<u32>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// Same as `--format json`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// Queued, waiting, failed operations and apps that keep failing.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Operations, newest first (failed ones with --failed).
    List {
        #[arg(long)]
        failed: bool,
        /// pending, succeeded, failed or dismissed.
        #[arg(long, conflicts_with = "failed")]
        status: Option<String>,
        #[arg(long)]
        app: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Put a failed operation back in the queue (or every failed one with --all).
    Retry {
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Give up on a failed or waiting operation.
    Dismiss { id: String },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Plan a generated organization in memory: a full plan against 99%-converged apps, and an
    /// initial plan against empty apps.
    Plan(BenchPlanArgs),
    /// Load users into a fresh SQLite store and measure the SCIM endpoint over HTTP: lookups by
    /// userName, externalId and work email, and GET by id.
    Scim(BenchScimArgs),
    /// Import a generated HR export of N people through the CSV source into a fresh store
    /// (a temporary SQLite file, or a new tenant of --database-url), then the same export with
    /// 100 changed rows.
    Import(BenchImportArgs),
    /// Time from a change pushed to Tenure's SCIM endpoint until every app holding the person has
    /// it (p50/p99), with the people, apps and accounts loaded in bulk.
    Propagation(BenchPropagationArgs),
    /// Provisioning rate against an app limited to N writes a second, and the 429s it sent
    /// (`--nodes N`: N `tenure serve` processes on one fresh PostgreSQL database).
    Throughput(BenchThroughputArgs),
    /// `bench throughput` with 1, 2 and 3 `tenure serve` processes on PostgreSQL, side by side.
    Nodes(BenchNodesArgs),
    /// An app with N managed accounts and a tenth more unmanaged: the classified report, the
    /// live list's first page, and searches by email.
    Users(BenchUsersArgs),
    /// One tenant with N operations queued against a slow app, another whose joiners are timed
    /// until its app holds them, every tenant's background work running as under `serve`.
    Tenants(BenchTenantsArgs),
    /// The license report from stored state: 100,000 people x 50 apps, loaded in bulk.
    Licenses(crate::bench_licenses::BenchLicensesArgs),
    /// What one tenant's heavy SCIM requests (PATCHes of 20,000 and 1,000 operations, a group
    /// of N members losing 1,000 at a time, filters of 1,000 terms) cost `/healthz` and another
    /// tenant.
    ScimBounds(BenchBoundsArgs),
    /// One person offboarded across N sandbox apps: from the command to the last app's answer.
    Offboard(BenchOffboardArgs),
    /// The resident memory of a real `tenure serve` child on the `bench propagation` set-up:
    /// started, after its first propagation pass, after more changes and after a page of every
    /// app's live list.
    Memory(BenchMemoryArgs),
}

#[derive(Debug, Args)]
pub struct BenchMemoryArgs {
    #[arg(long, default_value_t = 100_000)]
    pub people: usize,
    /// Apps, each granted to a fifth of the people.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=500))]
    pub apps: u64,
    /// Changes pushed after the first one.
    #[arg(long, default_value_t = 20)]
    pub changes: usize,
    /// Database to use (default: a fresh SQLite file in a temporary directory).
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchOffboardArgs {
    /// Apps the person has an account in (sandbox vendors in turn: Slack, Notion, Jira, GitHub
    /// EMU).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=50))]
    pub apps: u64,
    /// People per app besides the one offboarded.
    #[arg(long, default_value_t = 50)]
    pub people: u64,
    /// Offboardings to time (each of a different person).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=40))]
    pub runs: u64,
}

#[derive(Debug, Args)]
pub struct BenchTenantsArgs {
    /// Operations queued in the busy tenant.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub backlog: u64,
    /// Joiners of the quiet tenant measured, one at a time.
    #[arg(long, default_value_t = 50)]
    pub changes: usize,
    /// Database to use (default: a fresh SQLite file in a temporary directory).
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchBoundsArgs {
    /// Members of the group that loses 1,000 per PATCH.
    #[arg(long, default_value_t = 20_000)]
    pub members: usize,
}

#[derive(Debug, Args)]
pub struct BenchUsersArgs {
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub accounts: u64,
    /// Searches measured.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub searches: u64,
    /// Pages of 100 measured, spread over the whole list.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub pages: u64,
    /// Database to use (default: a fresh SQLite file in a temporary directory).
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchImportArgs {
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub people: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Rows changed for the re-imports (a title each, spread over the export).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub changed: u64,
}

#[derive(Debug, Args)]
pub struct BenchPropagationArgs {
    #[arg(long, default_value_t = 1_000)]
    pub people: usize,
    /// Apps, each granted to a fifth of the people (four departments of twenty).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=500))]
    pub apps: u64,
    /// Changes measured, one at a time.
    #[arg(long, default_value_t = 200)]
    pub changes: usize,
    /// How often propagation looks for changes, in milliseconds (`tenure serve`: 50).
    #[arg(long, default_value_t = 50)]
    pub poll_ms: u64,
    /// Database to use (default: a fresh SQLite file in a temporary directory).
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchThroughputArgs {
    #[arg(long, default_value_t = 10_000)]
    pub people: usize,
    /// The app's limit, in writes a second (Tenure is configured with the same).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
    /// Database to use (default: a fresh SQLite file in a temporary directory). With --nodes:
    /// the PostgreSQL server on which a fresh database is made for the run (default:
    /// TENURE_BENCH_PG_URL).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Run N real `tenure serve` processes sharing the work on one fresh PostgreSQL database
    /// (instead of the queue in this process).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub nodes: Option<u32>,
}

#[derive(Debug, Args)]
pub struct BenchNodesArgs {
    #[arg(long, default_value_t = 3_000)]
    pub people: usize,
    /// The app's limit, in writes a second (Tenure is configured with the same).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
    /// Runs with 1, 2, ... up to this many nodes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub max_nodes: u32,
    /// The PostgreSQL server on which each run gets a fresh database (default:
    /// TENURE_BENCH_PG_URL).
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchScimArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub users: usize,
    /// Concurrent HTTP clients (one keep-alive connection each).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Requests per measured scenario.
    #[arg(long, default_value_t = 50_000)]
    pub requests: usize,
    /// Where the SQLite database goes (a fresh file; default: a temporary directory, removed after).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchPlanArgs {
    #[arg(long, default_value_t = 100_000)]
    pub people: usize,
    /// At least 5: the groups are nested in five levels.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(5..))]
    pub groups: u32,
    #[arg(long, default_value_t = 50)]
    pub apps: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Run one phase in this process (the bench runs each phase in a child process of its own).
    #[arg(long, value_enum, hide = true)]
    pub phase: Option<BenchPhase>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BenchPhase {
    Converged,
    Initial,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "TENURE_LISTEN")]
    pub listen: Option<String>,
    /// Operations in flight at once (each app has its own cap too).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: u16,
    /// Read every app in full and fix drift this often (e.g. 30m, 1h, 1d).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub reconcile_every: std::time::Duration,
    /// How long a claimed operation stays this process's; should it die, another process (or
    /// the next start) takes the operation over after this. Renewed while the operation runs.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub lease: std::time::Duration,
    /// Serve the API only: no propagation, no queue workers.
    #[arg(long)]
    pub no_workers: bool,
    /// The URL browsers reach this server at (behind a proxy, its external URL); OAuth
    /// redirect URIs are this + /oauth/callback. Default: http://LISTEN when listening on a
    /// loopback address.
    #[arg(long, env = "TENURE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A connection that has not sent a whole request head within this time is closed (a slow
    /// or hostile client holds no socket longer); also how long an idle keep-alive connection
    /// is kept.
    #[arg(long, env = "TENURE_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub header_read_timeout: std::time::Duration,
    /// On SIGTERM or Ctrl-C, how long requests in flight may still take before the server stops.
    #[arg(long, env = "TENURE_SHUTDOWN_DEADLINE", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_deadline: std::time::Duration,
    /// A file holding the bearer token `/metrics` asks of clients not on this machine (clients
    /// on this machine need none; without a token, only they are answered).
    #[arg(long, env = "TENURE_METRICS_TOKEN_FILE", value_name = "FILE")]
    pub metrics_token_file: Option<std::path::PathBuf>,
    /// Refuse outbound requests to loopback and private addresses too (link-local and cloud
    /// metadata addresses are always refused). A multi-tenant deployment should set it.
    #[arg(long, env = "TENURE_OUTBOUND_DENY_PRIVATE")]
    pub outbound_deny_private: bool,
    /// The largest CSV upload accepted, in MiB; a larger one is refused (413) as it arrives.
    #[arg(long, env = "TENURE_MAX_UPLOAD_MB", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_upload_mb: u64,
}

/// `90s`, `30m`, `1h`, `2d`, or plain seconds.
pub fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{raw:?} is not a duration like 90s, 30m, 1h or 2d"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        other => return Err(format!("unknown unit {other:?} in {raw:?}: use s, m, h or d")),
    };
    if seconds == 0 {
        return Err("a duration must be at least one second".into());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address for the demo's server (default 127.0.0.1:8080, or a free port if that is taken).
    #[arg(long)]
    pub listen: Option<String>,
    /// Provision, print a summary and exit (non-zero if anything failed).
    #[arg(long)]
    pub once: bool,
    /// How many people the sample organization has.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(10..=20000))]
    pub people: u32,
    /// Keep the demo's directory (sample files, and the database unless TENURE_DATABASE_URL
    /// names one) when it stops; it is removed otherwise.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it, last and alone on its line (once: only its hash is stored).
    Create {
        /// admin (the default) or scim (for an IdP pushing users).
        #[arg(long, value_enum)]
        scope: Option<ScopeArg>,
        /// The admin the token acts as, with the admin's role. Without it an admin token acts
        /// as an org admin.
        #[arg(long, value_name = "EMAIL")]
        admin: Option<String>,
        /// What the token is for, e.g. "entra-id".
        #[arg(long)]
        label: Option<String>,
        /// The token stops working after this, e.g. 90d, 12h.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires_in: Option<std::time::Duration>,
    },
    /// The tenant's tokens: scope, label, admin, expiry, last use (never the tokens).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token (by the id `token list` shows).
    Revoke { id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    Admin,
    Scim,
}

// Parsed once per process; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Add a directory source.
    #[command(subcommand)]
    Add(SourceAdd),
    /// Change an existing CSV source: only what is given changes.
    Set(SourceSetArgs),
    /// List sources.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a source: its people leave the directory. Refused while they hold accounts,
    /// unless --force.
    Remove {
        name: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SourceAdd {
    /// An HR export (CSV).
    Csv(CsvSourceArgs),
    /// Google Workspace (Admin SDK Directory API, service account with domain-wide delegation).
    Google(crate::cloud_sources::GoogleSourceArgs),
    /// Microsoft Graph (Entra ID / Microsoft 365), incremental through delta queries.
    Graph(crate::cloud_sources::GraphSourceArgs),
    /// An LDAP directory or Active Directory (LDAPS or StartTLS; incremental after the first sync).
    Ldap(LdapSourceArgs),
}

#[derive(Debug, Args)]
pub struct LdapSourceArgs {
    pub name: String,
    /// ldaps://HOST[:636], or ldap://HOST[:389] with --starttls.
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub starttls: bool,
    /// PEM file with the CA certificate(s) the server's certificate must chain to (default: the
    /// system's trust store).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Allow ldap:// without StartTLS, sending the password in clear (a test server on loopback).
    #[arg(long)]
    pub insecure_plaintext: bool,
    #[arg(long)]
    pub bind_dn: String,
    /// Environment variable holding the bind password (read now, stored with the source).
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    pub password_env: Option<String>,
    /// File holding the bind password (read now, stored with the source).
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// Subtree with people (repeatable).
    #[arg(long = "user-base", value_name = "DN", required = true)]
    pub user_bases: Vec<String>,
    /// Default: (objectClass=inetOrgPerson), or AD's (&(objectCategory=person)(objectClass=user)).
    #[arg(long)]
    pub user_filter: Option<String>,
    /// Subtree with groups (repeatable; none: no groups are read).
    #[arg(long = "group-base", value_name = "DN")]
    pub group_bases: Vec<String>,
    #[arg(long)]
    pub group_filter: Option<String>,
    /// The LDAP attribute for a field, e.g. --attribute email=userPrincipalName (repeatable;
    /// fields: key, email, user_name, given_name, family_name, display_name, department, title,
    /// employee_number, manager, group_name; an empty attribute turns an optional field off).
    #[arg(long = "attribute", value_name = "FIELD=ATTRIBUTE")]
    pub attributes: Vec<String>,
    #[arg(long, value_enum, default_value = "openldap")]
    pub flavor: LdapFlavorArg,
    /// OpenLDAP: the attribute that marks a disabled account, present (ATTR) or with a value
    /// (ATTR=VALUE). Default: pwdAccountLockedTime present.
    #[arg(long, value_name = "ATTR[=VALUE]")]
    pub disabled: Option<String>,
    #[arg(long, default_value_t = 500)]
    pub page_size: u32,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Source guard: refuse a sync that delivers fewer than this percent of the people the last
    /// one did (default: refuse only an empty one).
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=100))]
    pub guard_min_share: Option<u8>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LdapFlavorArg {
    Openldap,
    ActiveDirectory,
}

#[derive(Debug, Args)]
pub struct CsvSourceArgs {
    pub name: String,
    /// The people CSV (header row; employee_id and email required).
    #[arg(long)]
    pub file: PathBuf,
    /// Optional groups CSV with columns name,parents (parents separated by ';').
    #[arg(long)]
    pub groups_file: Option<PathBuf>,
    /// Map a field to a differently named column, e.g. --column email=work_email (repeatable).
    #[arg(long = "column", value_name = "FIELD=COLUMN")]
    pub columns: Vec<String>,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Source guard: refuse a sync that delivers fewer than this percent of the people the last
    /// one did (default: refuse only an empty one).
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=100))]
    pub guard_min_share: Option<u8>,
    #[command(flatten)]
    pub format: CsvFormatArgs,
    /// A directory where new exports are dropped: `tenure serve` (and `tenure sync`) imports the
    /// newest complete *.csv there and moves it to processed/ (or failed/, with the reason).
    #[arg(long, value_name = "DIR")]
    pub watch_dir: Option<PathBuf>,
}

/// How the files are written. `auto`: detect the delimiter, read UTF-8, accept only YYYY-MM-DD.
#[derive(Debug, Args)]
pub struct CsvFormatArgs {
    /// Field delimiter: , ; tab | (or auto: detected from the header).
    #[arg(long, value_name = "DELIMITER")]
    pub delimiter: Option<Auto<tenure_sources::hr_csv::Delimiter>>,
    /// Text encoding when the file has no byte-order mark: utf-8, windows-1252, iso-8859-1,
    /// utf-16le, utf-16be (or auto: UTF-8).
    #[arg(long, value_name = "ENCODING")]
    pub encoding: Option<Auto<tenure_sources::hr_csv::Encoding>>,
    /// A date format accepted besides YYYY-MM-DD, e.g. DD.MM.YYYY or MM/DD/YYYY (auto: none).
    #[arg(long, value_name = "FORMAT")]
    pub date_format: Option<Auto<tenure_sources::hr_csv::DateFormat>>,
}

/// A setting's value, or `auto` for its default.
#[derive(Debug, Clone)]
pub struct Auto<T>(pub Option<T>);

impl<T: std::str::FromStr<Err = String>> std::str::FromStr for Auto<T> {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("auto") { Ok(Self(None)) } else { s.parse().map(|v| Self(Some(v))) }
    }
}

#[derive(Debug, Args)]
pub struct SourceSetArgs {
    pub name: String,
    /// The people CSV.
    #[arg(long)]
    pub file: Option<PathBuf>,
    #[arg(long, conflicts_with = "no_groups_file")]
    pub groups_file: Option<PathBuf>,
    /// Stop reading a groups file.
    #[arg(long)]
    pub no_groups_file: bool,
    /// Map a field to a differently named column, on top of the current mapping (repeatable);
    /// FIELD= stops reading that field.
    #[arg(long = "column", value_name = "FIELD=COLUMN")]
    pub columns: Vec<String>,
    /// Each scope flag given replaces that list (or the rule); --clear-scope first empties all.
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[arg(long)]
    pub clear_scope: bool,
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=100), conflicts_with = "no_guard_min_share")]
    pub guard_min_share: Option<u8>,
    /// Back to the default guard: refuse only an empty sync after a non-empty one.
    #[arg(long)]
    pub no_guard_min_share: bool,
    #[command(flatten)]
    pub format: CsvFormatArgs,
    #[arg(long, value_name = "DIR", conflicts_with = "no_watch_dir")]
    pub watch_dir: Option<PathBuf>,
    /// Stop watching a directory.
    #[arg(long)]
    pub no_watch_dir: bool,
    /// How often `tenure serve` syncs the source (any kind): 30s, 5m, 1h or 1d (at least 30s);
    /// `default` for every 15 minutes.
    #[arg(long, value_name = "DURATION")]
    pub sync_every: Option<String>,
}

/// Which of a source's people enter Tenure (repeatable; an exclusion wins). Someone who leaves
/// the scope is treated as leaving the organization.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// Only people in this org unit or below.
    #[arg(long = "include-org-unit", value_name = "PATH")]
    pub include_org_units: Vec<String>,
    #[arg(long = "exclude-org-unit", value_name = "PATH")]
    pub exclude_org_units: Vec<String>,
    #[arg(long = "include-department", value_name = "NAME")]
    pub include_departments: Vec<String>,
    #[arg(long = "exclude-department", value_name = "NAME")]
    pub exclude_departments: Vec<String>,
    /// Only members of this group (nested groups count).
    #[arg(long = "include-group", value_name = "NAME")]
    pub include_groups: Vec<String>,
    #[arg(long = "exclude-group", value_name = "NAME")]
    pub exclude_groups: Vec<String>,
    /// Only people matching a rule, e.g. 'status == "active" && !(title contains "Intern")'.
    #[arg(long = "scope-rule", value_name = "EXPRESSION")]
    pub condition: Option<String>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    pub name: Option<String>,
    #[arg(long)]
    pub json: bool,
    /// Apply even what the source guard refuses (an export you know is right); audited.
    #[arg(long)]
    pub force: bool,
    /// Read everything, even from a source that could deliver only its changes since last time.
    #[arg(long)]
    pub full: bool,
}

// Parsed once per process; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Add an app.
    #[command(subcommand)]
    Add(AppAdd),
    /// One app: settings, version (its ETag), counts, health.
    Show {
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Change an app: only what is given changes. A changed --base-url needs the credentials
    /// again (--token / --token-file / --client-secret-env / --service-account-key).
    Edit(crate::apps::AppEditArgs),
    /// Replace the app's credentials; lifts a quarantine caused by refused credentials.
    Rotate(crate::apps::RotateArgs),
    /// Pause provisioning into the app: nothing planned or carried out, nobody deprovisioned.
    Disable { app: String },
    /// Resume provisioning into the app.
    Enable { app: String },
    /// Remove the app from Tenure. Nobody is deprovisioned: every account stays in the app.
    /// --preview lists what stays; --yes removes without asking.
    Remove {
        app: String,
        #[arg(long)]
        preview: bool,
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// The app catalog: each app with what its vendor documents (API, what DELETE does, whether
    /// an account can be re-activated, published limits, the documentation's addresses).
    Catalog {
        #[arg(long)]
        json: bool,
    },
    /// List apps with their assignments and linked accounts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// The app's live user list, each account classified (managed, unassigned but active, left
    /// but active, unmanaged, ...) with its person and that person's other apps.
    Users(UsersArgs),
    /// Mark an account no person owns as a known external one (contractor, partner, service
    /// account), or clear the mark: the report stops counting it as unmanaged.
    External {
        app: String,
        /// The account's id in the app.
        account: String,
        /// Why it is known (who owns it, until when).
        #[arg(long, default_value = "")]
        note: String,
        /// Remove the mark instead.
        #[arg(long, conflicts_with = "note")]
        clear: bool,
    },
    /// Probe what the app supports, print every incompatibility, store the profile. Exits
    /// non-zero when the app cannot be provisioned at all.
    Check {
        app: String,
        #[arg(long)]
        json: bool,
        /// Also create, change and delete one `tenure-probe-*` user to test PATCH forms and ETags.
        #[arg(long)]
        write_probe: bool,
    },
    /// Start the OAuth authorization of an app added with `--oauth-flow authorization-code`:
    /// prints the URL to open in a browser. The authorization server sends the browser back to
    /// the running `tenure serve` at PUBLIC_URL/oauth/callback, which finishes it (within 10
    /// minutes).
    Authorize {
        app: String,
        /// The URL browsers reach `tenure serve` at, as given to `serve --public-url`.
        #[arg(long, env = "TENURE_PUBLIC_URL")]
        public_url: String,
        #[arg(long)]
        json: bool,
    },
    /// Test the app's connection: authenticate, list one page of users, probe the SCIM
    /// endpoint (read-only). Exits non-zero when something is wrong, saying what to do.
    Verify {
        app: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppAdd {
    /// A SCIM 2.0 app.
    Scim(Box<ScimAppArgs>),
    /// Google Workspace as a target, through the Admin SDK Directory API: a service account
    /// with domain-wide delegation of the admin.directory.user and admin.directory.group scopes.
    Google(GoogleAppArgs),
    /// A GitHub organization (without Enterprise Managed Users) through the REST API: joiners
    /// are invited by email and stay "invited" until they accept.
    GithubOrg(crate::github_app::GitHubAppArgs),
    /// Box through its users API (no SCIM): managed users created, set inactive, deleted.
    Box(crate::rest_app::RestAppArgs),
    /// Dropbox teams through the team members API: members added, suspended, removed.
    Dropbox(crate::rest_app::RestAppArgs),
    /// Microsoft 365 / Entra ID through Microsoft Graph: users created, updated, disabled,
    /// deleted, and their licenses (SKUs) assigned and removed; an app registration's client
    /// credentials.
    M365(crate::m365_app::M365AppArgs),
    /// An app without a connector, worked by hand: Tenure plans it and each operation becomes a
    /// task for its owner.
    Manual(crate::lifecycle::ManualAppArgs),
}

#[derive(Debug, Args)]
pub struct GoogleAppArgs {
    /// The app's name in Tenure.
    #[arg(default_value = "google")]
    pub name: String,
    /// The primary domain (in-app groups named without a domain get their address in it).
    #[arg(long)]
    pub domain: String,
    /// The super admin the service account acts for.
    #[arg(long, value_name = "EMAIL")]
    pub admin_email: String,
    /// The service account's JSON key file; its content is stored encrypted.
    #[arg(long, value_name = "FILE")]
    pub service_account_key: PathBuf,
    /// `my_customer` (the admin's own account) or a customer id.
    #[arg(long, default_value = "my_customer")]
    pub customer: String,
    /// The Admin SDK's root URL (default https://admin.googleapis.com).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Overrides the key file's token_uri.
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// The org unit new accounts are created in (default: the top-level unit).
    #[arg(long, value_name = "PATH")]
    pub org_unit: Option<String>,
    /// New accounts must choose a password at first sign-in (their initial one is random and
    /// shown to nobody).
    #[arg(long)]
    pub change_password_at_next_login: bool,
    /// Before a departing person's account is suspended (or deleted), transfer their Drive
    /// files to `manager` (their manager in the directory) or to this address, through the
    /// Data Transfer API (the service account needs the admin.datatransfer scope delegated).
    #[arg(long, value_name = "manager|EMAIL")]
    pub transfer_drive_to: Option<String>,
    /// The License Manager SKUs Tenure manages, each with the tier name pools and `assign
    /// --license` use: "Google-Apps:1010020027=Business Starter,Google-Apps:1010020028=Business
    /// Standard". Each account's license is read from them; the service account needs the
    /// apps.licensing scope delegated.
    #[arg(long, value_name = "PRODUCT:SKU=TIER,...")]
    pub license_skus: Option<String>,
    /// What deprovisioning does: deactivate suspends the account (it keeps its data and
    /// license); delete removes it (an admin can restore it for 20 days); remove-license
    /// revokes its managed License Manager SKUs and leaves the account (needs --license-skus).
    #[arg(long, value_enum, default_value_t = DeprovisionArg::Deactivate)]
    pub deprovision: DeprovisionArg,
    /// With --deprovision deactivate-then-delete: days between suspension and deletion.
    #[arg(long, value_name = "DAYS", required_if_eq("deprovision", "deactivate-then-delete"))]
    pub delete_after_days: Option<u32>,
    /// An attribute mapping, e.g. --map 'orgUnitPath=orgUnit' (repeatable).
    #[arg(long = "map", value_name = "ATTRIBUTE=EXPRESSION")]
    pub mappings: Vec<String>,
    /// Like --map, applied only when the account is created.
    #[arg(long = "map-on-create", value_name = "ATTRIBUTE=EXPRESSION")]
    pub mappings_on_create: Vec<String>,
    /// Deprovisioning guard in percent of the app's managed accounts per window (default 10).
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub guard_percent: Option<u8>,
    /// Deprovisioning guard in accounts per window (default 25).
    #[arg(long, value_name = "COUNT")]
    pub guard_count: Option<usize>,
    /// Deprovisioning guard's window, e.g. 24h (the default).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub guard_window: Option<std::time::Duration>,
    /// Requests per second Tenure sends to the Directory API at most.
    #[arg(long, value_name = "PER_SECOND", value_parser = parse_rate)]
    pub rate_limit: Option<f64>,
    /// Requests allowed at once after a quiet spell (default 1).
    #[arg(long, requires = "rate_limit", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub burst: Option<u32>,
    /// Operations in flight at once against this app (default 8).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_concurrency: Option<u16>,
    /// Plan and log everything, write nothing to the app.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("oauth").args(["oauth_token_url", "zoom_account_id"]).multiple(true)))]
pub struct ScimAppArgs {
    pub name: String,
    /// The app's SCIM base URL, e.g. https://api.slack.com/scim/v2
    #[arg(long)]
    pub base_url: String,
    /// Bearer token for the app's SCIM API.
    #[arg(long, env = "TENURE_APP_TOKEN", hide_env_values = true, conflicts_with = "token_file")]
    pub token: Option<String>,
    /// A file holding the bearer token.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// OAuth 2.0 client credentials instead of a static token: the app's token endpoint.
    #[arg(long, value_name = "URL", requires_all = ["client_id", "client_secret_env"])]
    pub oauth_token_url: Option<String>,
    /// Zoom server-to-server OAuth: the account id of the app's credentials. Tokens are asked
    /// for with Zoom's account_credentials grant at https://zoom.us/oauth/token (or
    /// --oauth-token-url); needs --client-id and --client-secret-env.
    #[arg(long, value_name = "ACCOUNT_ID", requires_all = ["client_id", "client_secret_env"])]
    pub zoom_account_id: Option<String>,
    /// OAuth client id (with --oauth-token-url or --zoom-account-id).
    #[arg(long, requires = "oauth")]
    pub client_id: Option<String>,
    /// The environment variable holding the OAuth client secret now; it is stored encrypted.
    #[arg(long, value_name = "VAR", requires = "oauth")]
    pub client_secret_env: Option<String>,
    /// OAuth scopes to ask for, space-separated.
    #[arg(long, requires = "oauth")]
    pub scope: Option<String>,
    /// How the client authenticates to the token endpoint.
    #[arg(long, value_enum, default_value_t = crate::keys::ClientAuthArg::Basic, requires = "oauth")]
    pub client_auth: crate::keys::ClientAuthArg,
    /// The OAuth grant: client credentials (no person involved), or authorization code, where an
    /// admin consents in a browser (`tenure app authorize`, or Verify in the API).
    #[arg(long, value_enum, default_value_t = crate::keys::OauthFlowArg::ClientCredentials, requires = "oauth_token_url")]
    pub oauth_flow: crate::keys::OauthFlowArg,
    /// The authorization server's authorization endpoint (with --oauth-flow authorization-code).
    #[arg(long, value_name = "URL", requires = "oauth_token_url")]
    pub oauth_authorize_url: Option<String>,
    /// How the app's userName is derived from a person (default: the vendor's, else email;
    /// handle is Slack's: the email's local part, at most 21 characters, numbered on collision).
    #[arg(long, value_enum)]
    pub user_name: Option<UserNameArg>,
    /// Longest userName the app accepts (with --user-name local-part or handle; Slack: 21).
    #[arg(long)]
    pub user_name_max_len: Option<usize>,
    /// What deprovisioning does in this app (default: the vendor's, else deactivate).
    #[arg(long, value_enum)]
    pub deprovision: Option<DeprovisionArg>,
    /// Confirms a deprovisioning that deletes accounts in an app whose DELETE is permanent
    /// (GitHub Enterprise Managed Users, Zoom): a deleted account cannot be brought back.
    #[arg(long)]
    pub confirm_permanent_delete: bool,
    /// With --deprovision deactivate-then-delete: days between deactivation and deletion.
    #[arg(long, value_name = "DAYS", required_if_eq("deprovision", "deactivate-then-delete"))]
    pub delete_after_days: Option<u32>,
    /// Keys that match existing accounts to people, strongest first (default:
    /// external-id,user-name,email).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub match_keys: Vec<MatchKeyArg>,
    /// A person's one matching account that Tenure does not manage yet: `link` it,
    /// `link-pulled` (the default: link it unless an identity provider pushed the person over
    /// SCIM) or `case` (leave it for an admin to adopt).
    #[arg(long, value_name = "POLICY")]
    pub correlation: Option<String>,
    /// An attribute mapping, e.g. --map 'displayName=concat(givenName, " ", familyName)'
    /// (repeatable); replaces the default value of that attribute.
    #[arg(long = "map", value_name = "ATTRIBUTE=EXPRESSION")]
    pub mappings: Vec<String>,
    /// Like --map, applied when the account is created and never updated afterwards (the only
    /// place `unique(...)` is allowed).
    #[arg(long = "map-on-create", value_name = "ATTRIBUTE=EXPRESSION")]
    pub mappings_on_create: Vec<String>,
    /// Deprovisioning guard: hold losses that would take access from more than this percent of
    /// the app's managed accounts within the guard's window (default 10).
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub guard_percent: Option<u8>,
    /// Deprovisioning guard: hold losses beyond this many accounts within the guard's window
    /// (default 25).
    #[arg(long, value_name = "COUNT")]
    pub guard_count: Option<usize>,
    /// Deprovisioning guard: the window losses count together in, e.g. 24h (the default) or 7d.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub guard_window: Option<std::time::Duration>,
    /// Requests per second Tenure sends to the app at most, e.g. 100, 3 (Slack's 180 writes a
    /// minute) or 0.5.
    #[arg(long, value_name = "PER_SECOND", value_parser = parse_rate)]
    pub rate_limit: Option<f64>,
    /// Requests allowed at once after a quiet spell (default 1).
    #[arg(long, requires = "rate_limit", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub burst: Option<u32>,
    /// Apps naming the same group share one rate budget (every SCIM app of one Slack org).
    #[arg(long, value_name = "KEY")]
    pub rate_group: Option<String>,
    /// Operations in flight at once against this app (default 8).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_concurrency: Option<u16>,
    /// Plan and log everything, write nothing to the app.
    #[arg(long)]
    pub dry_run: bool,
    /// The app's catalog profile (`tenure app catalog` lists them: slack, salesforce, asana,
    /// figma, ...): its documented defaults for deprovisioning, userName, page size and request
    /// limits (each unless given explicitly), and its documented errors read as such.
    #[arg(long, value_name = "NAME")]
    pub vendor: Option<String>,
    /// A value list the vendor's attribute rules name, e.g. `verified_domains=example.com` for
    /// Airtable: a create whose email domain is not listed is refused in the plan (repeatable).
    #[arg(long = "rule-list", value_name = "NAME=VALUE,...")]
    pub rule_lists: Vec<String>,
    /// The least time between two full reads of the app's user list, e.g. 2h: plans and reports
    /// within it are refused with the time of the next allowed read (default: the vendor's
    /// documented penalty, if any).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub min_list_interval: Option<std::time::Duration>,
    /// At most this many requests in any hour, for the whole deployment (default: the vendor's
    /// documented hourly budget, if any; 0 for none): once spent, operations wait in the queue
    /// until it frees.
    #[arg(long, value_name = "REQUESTS")]
    pub rate_limit_per_hour: Option<u32>,
    /// At most this many requests in any 24 hours (default: the vendor's documented daily
    /// budget, if any; 0 for none).
    #[arg(long, value_name = "REQUESTS")]
    pub rate_limit_per_day: Option<u32>,
    /// Make a new starter's account this many days before their start date, disabled, and
    /// activate it on the day (default 0: on the day).
    #[arg(long, value_name = "DAYS")]
    pub pre_start_days: Option<u32>,
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0 => Ok(rate),
        _ => Err(format!("{raw:?} is not a rate: a number of requests per second above 0, like 100 or 0.5")),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MatchKeyArg {
    ExternalId,
    UserName,
    Email,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UserNameArg {
    Email,
    LocalPart,
    Handle,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeprovisionArg {
    Deactivate,
    Delete,
    DeactivateThenDelete,
    RemoveLicense,
    DoNothing,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["person", "group", "org_unit", "rule"])))]
pub struct AssignArgs {
    pub app: String,
    /// A person, by email.
    #[arg(long)]
    pub person: Option<String>,
    /// A group, by name; members of nested groups count.
    #[arg(long)]
    pub group: Option<String>,
    /// An org unit path such as /Sales/EMEA; its subtree counts.
    #[arg(long)]
    pub org_unit: Option<String>,
    /// Everyone matching a rule, e.g. 'department == "Sales" && title starts_with "Account"'.
    #[arg(long)]
    pub rule: Option<String>,
    /// Exclude the target instead: they never get the app, whatever else grants it.
    #[arg(long)]
    pub exclude: bool,
    /// The role the app gives these people.
    #[arg(long, conflicts_with = "exclude")]
    pub role: Option<String>,
    /// The license tier the app gives these people.
    #[arg(long, conflicts_with = "exclude")]
    pub license: Option<String>,
    /// A group in the app these people's accounts belong to (repeatable); Tenure keeps its
    /// membership in step and creates it if the app lacks it.
    #[arg(long = "app-group", value_name = "NAME", conflicts_with = "exclude")]
    pub app_groups: Vec<String>,
    /// Show what the change would do to the plan, and save nothing.
    #[arg(long)]
    pub preview: bool,
}

#[derive(Debug, Args)]
pub struct AdoptArgs {
    pub app: String,
    /// The account's id in the app (`tenure app users APP` lists them).
    pub account: String,
    /// The person, by email.
    #[arg(long)]
    pub person: String,
}

#[derive(Debug, Args)]
pub struct UnlinkArgs {
    pub app: String,
    pub account: String,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The person, by email.
    pub person: String,
    pub app: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PlanArgs {
    #[command(subcommand)]
    pub command: Option<PlanCommand>,
    #[arg(long)]
    pub app: Option<String>,
    /// Machine-readable output (stable).
    #[arg(long)]
    pub json: bool,
    /// Store the plan for review (never executed), to show or compare it later.
    #[arg(long)]
    pub save: bool,
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Print a stored plan (saved with --save, or applied).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// What the plan computed now does differently from a stored one.
    Diff {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve a plan the deprovisioning guard held; the next apply may then carry out the
    /// losses it listed (and no others).
    Approve { id: String },
    /// Reject a held plan.
    Reject { id: String },
    /// The most recent stored plans.
    List {
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// The limits in force, and the holds waiting for a decision.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Change the limits; what is not given keeps its current value.
    Set {
        /// Percent of the people with a managed account anywhere (from 5 people up).
        #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
        percent: Option<u8>,
        /// People.
        #[arg(long, value_name = "COUNT")]
        count: Option<usize>,
        /// The window losses count together in, e.g. 24h.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        window: Option<std::time::Duration>,
        /// Back to the defaults (10%, 25 people, a day).
        #[arg(long, conflicts_with_all = ["percent", "count", "window"])]
        default: bool,
    },
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[arg(long, conflicts_with = "plan")]
    pub app: Option<String>,
    /// Apply a plan saved with `tenure plan --save`, exactly as saved: refused, naming the
    /// differences, if its apps would now be planned differently.
    #[arg(long, value_name = "ID")]
    pub plan: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    #[arg(long)]
    pub json: bool,
}
