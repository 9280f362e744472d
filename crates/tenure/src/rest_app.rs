//! `tenure app add box|dropbox`: the catalog's custom-REST apps with connectors, added with an
//! access token; and what `app check` prints for them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use tenure_engine::admin::{AppCheck, NewApp, NewAppKind};
use tenure_engine::{Actor, Engine};

use crate::apps::{SettingsArgs, cli_error};
use crate::cli::DeprovisionArg;

#[derive(Debug, Args)]
pub struct RestAppArgs {
    /// The app's name in Tenure.
    pub name: String,
    /// A file holding the API's access token; TENURE_APP_TOKEN_FILE otherwise.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// The API root (default: the vendor's, https://api.box.com/2.0 or https://api.dropboxapi.com/2).
    #[arg(long)]
    pub api_url: Option<String>,
    /// What deprovisioning does (default deactivate: Box `status: inactive`, Dropbox suspend).
    #[arg(long, value_enum)]
    pub deprovision: Option<DeprovisionArg>,
    /// Confirms deleting accounts (Box deletes the user; Dropbox removes the member, keeping
    /// their files in a Basic account); neither comes back.
    #[arg(long)]
    pub confirm_permanent_delete: bool,
    /// Plan and log, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn add(engine: &Engine, kind: NewAppKind, args: RestAppArgs) -> anyhow::Result<ExitCode> {
    let token = match &args.token_file {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("--token-file {}", path.display()))?,
        None => crate::config::secret_from_file("TENURE_APP_TOKEN_FILE")?
            .ok_or_else(|| anyhow!("the API's access token is required: --token-file or TENURE_APP_TOKEN_FILE"))?,
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("the access token is empty");
    }
    let settings = SettingsArgs {
        deprovision: args.deprovision,
        confirm_permanent_delete: args.confirm_permanent_delete,
        dry_run: Some(args.dry_run),
        ..SettingsArgs::default()
    };
    let spec = NewApp {
        name: args.name.clone(),
        kind,
        base_url: args.api_url.clone(),
        token: Some(token),
        oauth: None,
        google: None,
        github: None,
        owner: None,
        settings: settings.spec()?,
        disabled: false,
    };
    let app = engine.admin(&Actor::cli()).create_app(spec).await.map_err(cli_error)?;
    println!(
        "added {} app {} ({}); check it with `tenure app check {}`, grant it with `tenure assign {} --group NAME`",
        if kind == NewAppKind::Box { "Box" } else { "Dropbox" },
        app.name,
        app.base_url,
        app.name,
        app.name
    );
    Ok(ExitCode::SUCCESS)
}

pub fn print_check(check: &AppCheck) {
    let name = &check.app;
    let (vendor, deactivate, delete) = match check.kind {
        tenure_core::AppKind::Box => (
            "Box (users API)",
            "status inactive (the user and their content stay)",
            "deletes the user; refused while they own content (Tenure never forces it)",
        ),
        _ => (
            "Dropbox (team members API)",
            "suspends the member (their data stays)",
            "removes the member, keeping their files in a Basic account",
        ),
    };
    println!("{name}: {vendor}");
    if let Some(descriptor) = &check.descriptor {
        let ops: Vec<String> = descriptor.operations.iter().map(|o| format!("{o:?}").to_lowercase()).collect();
        println!("  operations: {}", ops.join(", "));
    }
    println!("  deactivate: {deactivate}");
    println!("  delete:     {delete}");
    match (&check.problem, &check.found) {
        (None, found) => println!("  verified:   {}", found.as_deref().unwrap_or("read")),
        (Some(p), _) => println!("  NOT provisionable: {p}"),
    }
}
