//! `tenure app add github-org`: a GitHub organization (without Enterprise Managed Users) as a
//! provisioning target, joiners invited by email. An adapter of the engine's `create_app`.

use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use tenure_engine::admin::{GITHUB_API_URL, GithubSpec, NewApp, NewAppKind, SettingsSpec};
use tenure_engine::{Actor, Engine};

#[derive(Debug, Args)]
pub struct GitHubAppArgs {
    /// The app's name in Tenure.
    #[arg(default_value = "github")]
    pub name: String,
    /// The organization's login (`acme-corp`).
    #[arg(long)]
    pub org: String,
    /// A file holding an access token with the `admin:org` scope (or a GitHub App installation
    /// token with organization members write); TENURE_APP_TOKEN_FILE otherwise.
    #[arg(long)]
    pub token_file: Option<std::path::PathBuf>,
    /// The REST API (GitHub Enterprise Server: `https://HOST/api/v3`).
    #[arg(long, default_value = GITHUB_API_URL)]
    pub api_url: String,
    /// Days after which a pending invitation is cancelled and sent again (GitHub's expire after 7).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub reinvite_after_days: u32,
    /// Requests per second Tenure sends (GitHub allows 5,000 an hour to a token: 1.3 a second).
    #[arg(long)]
    pub rate_limit: Option<f64>,
    /// Plan and log, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn add(engine: &Engine, args: GitHubAppArgs) -> anyhow::Result<ExitCode> {
    let token = match &args.token_file {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("--token-file {}", path.display()))?,
        None => crate::config::secret_from_file("TENURE_APP_TOKEN_FILE")?.ok_or_else(|| {
            anyhow!("the organization's access token is required: --token-file or TENURE_APP_TOKEN_FILE")
        })?,
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("the access token is empty");
    }
    let spec = NewApp {
        name: args.name.clone(),
        kind: NewAppKind::GithubOrg,
        base_url: Some(args.api_url.trim().to_owned()),
        token: Some(token),
        oauth: None,
        google: None,
        github: Some(GithubSpec { org: args.org.clone(), reinvite_after_days: Some(args.reinvite_after_days) }),
        owner: None,
        settings: SettingsSpec { rate_limit: args.rate_limit, dry_run: Some(args.dry_run), ..SettingsSpec::default() },
        disabled: false,
    };
    let actor = Actor::cli();
    let app = engine.admin(&actor).create_app(spec).await?;
    println!(
        "added GitHub organization {} as app {}: joiners are invited by email; check it with `tenure app check {}`",
        args.org, app.name, app.name
    );
    Ok(ExitCode::SUCCESS)
}
