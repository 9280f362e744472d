//! `tenure source add google` and `tenure source add graph`: what they take and what they store.
//! The stored configuration names where the credentials are (a key file, an environment variable,
//! certificate and key files), never the credentials themselves.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tenure_engine::{Engine, GoogleSourceConfig, GraphSourceConfig};
use tenure_sources::google::GoogleConfig;
use tenure_sources::graph::{GraphConfig, GraphCredential};

use crate::cli::ScopeArgs;

#[derive(Debug, Args)]
pub struct GoogleSourceArgs {
    pub name: String,
    /// The service account's JSON key file (domain-wide delegation granted to its client id).
    #[arg(long)]
    pub key_file: PathBuf,
    /// The Workspace admin the service account acts for.
    #[arg(long)]
    pub admin: String,
    /// A customer id; default: the admin's own account (`my_customer`).
    #[arg(long, default_value = "my_customer")]
    pub customer: String,
    /// The Admin SDK root (default https://admin.googleapis.com).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Overrides the key file's token_uri.
    #[arg(long)]
    pub token_url: Option<String>,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Source guard: refuse a sync that delivers fewer than this percent of the people the last
    /// one did (default: refuse only an empty one).
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=100))]
    pub guard_min_share: Option<u8>,
}

#[derive(Debug, Args)]
pub struct GraphSourceArgs {
    pub name: String,
    /// The Entra ID tenant (directory) id.
    #[arg(long)]
    pub tenant_id: String,
    /// The app registration's application (client) id.
    #[arg(long)]
    pub client_id: String,
    /// The environment variable holding the client secret at sync time.
    #[arg(long, value_name = "VAR", conflicts_with_all = ["certificate", "private_key"], required_unless_present = "certificate")]
    pub client_secret_env: Option<String>,
    /// The certificate registered on the app (PEM); with --private-key.
    #[arg(long, requires = "private_key")]
    pub certificate: Option<PathBuf>,
    /// The certificate's private key (PEM, PKCS#8 or PKCS#1 RSA).
    #[arg(long, requires = "certificate")]
    pub private_key: Option<PathBuf>,
    /// The Graph root (default https://graph.microsoft.com/v1.0).
    #[arg(long)]
    pub base_url: Option<String>,
    /// The token endpoint (default: the tenant's v2.0 endpoint at login.microsoftonline.com).
    #[arg(long)]
    pub token_url: Option<String>,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Source guard: refuse a sync that delivers fewer than this percent of the people the last
    /// one did (default: refuse only an empty one).
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=100))]
    pub guard_min_share: Option<u8>,
}

/// Absolute, so a later `tenure sync` from another directory reads the same file.
fn absolute(path: &Path, flag: &str) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("{flag} {}", path.display()))
}

pub async fn add_google(engine: &Engine, args: GoogleSourceArgs) -> anyhow::Result<ExitCode> {
    let google = GoogleConfig {
        key_file: absolute(&args.key_file, "--key-file")?,
        admin: args.admin,
        customer: args.customer,
        base_url: args.base_url,
        token_url: args.token_url,
    };
    // Reads the key now, so a wrong file is reported at `add` rather than at the first sync.
    tenure_sources::google::ServiceAccount::from_key_file(
        &google.key_file,
        &google.admin,
        google.token_url.as_deref(),
    )?;
    let config = GoogleSourceConfig {
        google,
        scope: crate::commands::sync_scope(&args.scope)?,
        min_share_percent: args.guard_min_share,
    };
    crate::commands::add_source(engine, &args.name, "google", serde_json::to_value(&config)?).await
}

pub async fn add_graph(engine: &Engine, args: GraphSourceArgs) -> anyhow::Result<ExitCode> {
    let credential = match (args.client_secret_env, args.certificate, args.private_key) {
        (Some(var), None, None) => {
            // Read at each sync, maybe in another environment (a service): only a warning here.
            if std::env::var_os(&var).is_none_or(|v| v.is_empty()) {
                eprintln!("warning: {var} is not set here; it must hold the client secret when `tenure sync` runs");
            }
            GraphCredential::ClientSecretEnv(var)
        }
        (None, Some(certificate), Some(private_key)) => GraphCredential::Certificate {
            certificate: absolute(&certificate, "--certificate")?,
            private_key: absolute(&private_key, "--private-key")?,
        },
        _ => anyhow::bail!("give either --client-secret-env VAR, or --certificate PEM with --private-key PEM"),
    };
    let graph = GraphConfig {
        tenant_id: args.tenant_id,
        client_id: args.client_id,
        credential,
        base_url: args.base_url,
        token_url: args.token_url,
    };
    let config = GraphSourceConfig {
        graph,
        scope: crate::commands::sync_scope(&args.scope)?,
        min_share_percent: args.guard_min_share,
    };
    crate::commands::add_source(engine, &args.name, "graph", serde_json::to_value(&config)?).await
}
