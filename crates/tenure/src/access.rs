//! `tenure admin`, `tenure token` and `tenure tenant`: who administers a tenant, the tokens
//! that act as them, and the tenants of the deployment. Thin: each verb parses, calls the
//! engine's admin command and prints its answer.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::Subcommand;
use tenure_core::{Role, Secret};
use tenure_engine::admin::views::AdminView;
use tenure_engine::admin::{AdminChange, NewAdmin, NewToken};
use tenure_engine::{Actor, Engine};

use crate::cli::{ScopeArg, TokenCommand};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    OrgAdmin,
    AppAdmin,
    LicenseAdmin,
    Auditor,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::OrgAdmin => Role::OrgAdmin,
            RoleArg::AppAdmin => Role::AppAdmin,
            RoleArg::LicenseAdmin => Role::LicenseAdmin,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Add an admin: org-admin (everything), app-admin (the apps named with --app),
    /// license-admin (licenses and reports, apps read-only), auditor (reads everything).
    Add {
        email: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// An app admin's app (repeatable).
        #[arg(long = "app", value_name = "APP")]
        apps: Vec<String>,
        /// A file holding the admin's password (hashed with argon2id; at least 12 characters).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// The tenant's admins.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change an admin's role, apps or password (never the last org admin's role).
    Change {
        email: String,
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// Replaces the admin's apps (repeatable).
        #[arg(long = "app", value_name = "APP")]
        apps: Vec<String>,
        #[arg(long, value_name = "FILE", conflicts_with = "clear_password")]
        password_file: Option<PathBuf>,
        #[arg(long)]
        clear_password: bool,
    },
    /// Remove an admin and their tokens (never the last org admin).
    Remove { email: String },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (an organization with its own directory, apps, admins and tokens).
    Create { name: String },
    /// The deployment's tenants.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change the --tenant tenant's settings.
    Set {
        /// The IANA timezone dates act in (leave and start dates, workflows): e.g. Europe/Berlin.
        #[arg(long)]
        timezone: String,
        #[arg(long)]
        json: bool,
    },
    /// The --tenant tenant's settings.
    Show {
        #[arg(long)]
        json: bool,
    },
}

impl TenantCommand {
    /// Whether it acts on the --tenant tenant (not on the deployment's list of tenants).
    pub fn scoped(&self) -> bool {
        matches!(self, Self::Set { .. } | Self::Show { .. })
    }
}

fn read_password(path: &std::path::Path) -> anyhow::Result<Secret> {
    let raw = std::fs::read_to_string(path).with_context(|| format!("--password-file {}", path.display()))?;
    Ok(Secret::new(raw.trim_end_matches(['\r', '\n']).to_owned()))
}

fn print_admin(a: &AdminView) {
    let apps = if a.apps.is_empty() { String::new() } else { format!(" ({})", a.apps.join(", ")) };
    let password = if a.has_password { "password" } else { "tokens only" };
    println!("{}\t{}{apps}\t{password}", a.email, a.role);
}

pub async fn admin(engine: &Engine, command: AdminCommand) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    match command {
        AdminCommand::Add { email, role, apps, password_file } => {
            let password = password_file.as_deref().map(read_password).transpose()?;
            let added = admin.add_admin(NewAdmin { email, role: role.into(), apps, password }).await?;
            print!("added admin ");
            print_admin(&added);
        }
        AdminCommand::List { json } => {
            let admins = admin.admins().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&admins)?);
            } else if admins.is_empty() {
                println!("No admins; add one with `tenure admin add EMAIL --role org-admin`.");
            } else {
                admins.iter().for_each(print_admin);
            }
        }
        AdminCommand::Change { email, role, apps, password_file, clear_password } => {
            let password = password_file.as_deref().map(read_password).transpose()?;
            let change = AdminChange {
                role: role.map(Role::from),
                apps: (!apps.is_empty()).then_some(apps),
                password,
                clear_password,
            };
            let changed = admin.change_admin(&email, change).await?;
            print!("changed admin ");
            print_admin(&changed);
        }
        AdminCommand::Remove { email } => {
            let removed = admin.remove_admin(&email).await?;
            println!("removed admin {} and their tokens", removed.email);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn token(engine: &Engine, command: TokenCommand) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    match command {
        TokenCommand::Create { scope, admin: owner, label, expires_in } => {
            let scope = match scope {
                None | Some(ScopeArg::Admin) => "admin",
                Some(ScopeArg::Scim) => "scim",
            };
            let spec = NewToken {
                scope: Some(scope.to_owned()),
                admin: owner,
                label,
                expires_in_s: expires_in.map(|d| d.as_secs()),
            };
            let created = admin.create_token(spec).await?;
            let acts_as = match &created.info.admin {
                Some(email) => format!("acts as {email}"),
                None if scope == "admin" => "acts as an org admin".to_owned(),
                None => "pushes users over SCIM".to_owned(),
            };
            let expiry = created
                .info
                .expires_ms
                .map(|ms| format!(", expires {}", crate::output::time_ms(ms)))
                .unwrap_or_default();
            eprintln!(
                "{scope} token {} ({acts_as}{expiry}) is shown once; Tenure stores only its hash:",
                created.info.id
            );
            // The token is the last line, alone, so a script can take it with `tail -n1`.
            println!("{}", created.token);
        }
        TokenCommand::List { json } => {
            let tokens = admin.tokens().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
                return Ok(ExitCode::SUCCESS);
            }
            if tokens.is_empty() {
                println!("No tokens.");
            }
            for t in tokens {
                let who =
                    t.admin.clone().unwrap_or_else(|| if t.scope == "admin" { "org admin".into() } else { "-".into() });
                println!(
                    "{}  {:5}  {:20}  {who}  created {}{}{}",
                    t.id,
                    t.scope,
                    t.label.as_deref().unwrap_or("-"),
                    crate::output::time_ms(t.created_ms),
                    t.expires_ms.map(|ms| format!(", expires {}", crate::output::time_ms(ms))).unwrap_or_default(),
                    t.last_used_ms
                        .map(|ms| format!(", last used {}", crate::output::time_ms(ms)))
                        .unwrap_or_else(|| ", never used".into()),
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let id = id.trim().parse().map_err(|_| anyhow!("{id:?} is not a token id (see `tenure token list`)"))?;
            let revoked = admin.revoke_token(id).await?;
            println!("revoked {} token {}", revoked.scope, revoked.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn tenant(store: &tenure_store::Store, command: TenantCommand) -> anyhow::Result<ExitCode> {
    match command {
        TenantCommand::Set { .. } | TenantCommand::Show { .. } => {
            anyhow::bail!("tenant set and show act on one tenant: run them with --tenant")
        }
        TenantCommand::Create { name } => {
            let created = tenure_engine::admin::create_tenant(store, &name, &Actor::cli()).await?;
            println!(
                "created tenant {}; act in it with --tenant {} (or TENURE_TENANT), starting with `tenure admin add EMAIL \
                 --role org-admin`",
                created.name, created.name
            );
        }
        TenantCommand::List { json } => {
            let tenants = tenure_engine::admin::list_tenants(store).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tenants)?);
            } else {
                for t in tenants {
                    println!("{}\tcreated {}", t.name, crate::output::time_ms(t.created_ms));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
