//! `tenure app add box|dropbox`: the catalog's custom-REST apps with connectors, added with an
//! access token; and what `app check` prints for them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use tenure_engine::admin::{AppCheck, NewApp, NewAppKind, OauthSpec};
use tenure_engine::{Actor, Engine};

use crate::apps::{SettingsArgs, cli_error};
use crate::cli::DeprovisionArg;

#[derive(Debug, Args)]
pub struct RestAppArgs {
    /// The app's name in Tenure.
    pub name: String,
    /// A file holding the API's access token; TENURE_APP_TOKEN_FILE otherwise. Box's and
    /// Dropbox's tokens expire (an hour, four hours): prefer OAuth (--client-id).
    #[arg(long, conflicts_with = "client_id")]
    pub token_file: Option<PathBuf>,
    /// OAuth instead of a static token: the app's client id (Dropbox: the app key). Box:
    /// client credentials with --box-enterprise-id, or --oauth-flow authorization-code;
    /// Dropbox: authorization code (a team admin consents with `tenure app authorize`).
    #[arg(long, requires = "client_secret_env")]
    pub client_id: Option<String>,
    /// The environment variable holding the OAuth client secret (Dropbox: the app secret) now;
    /// it is stored encrypted.
    #[arg(long, value_name = "VAR", requires = "client_id")]
    pub client_secret_env: Option<String>,
    /// Box's client credentials grant as the app's service account: the enterprise id.
    #[arg(long, value_name = "ID", requires = "client_id")]
    pub box_enterprise_id: Option<String>,
    /// The OAuth grant (default: Box client-credentials, Dropbox authorization-code).
    #[arg(long, value_enum, requires = "client_id")]
    pub oauth_flow: Option<crate::keys::OauthFlowArg>,
    /// The token endpoint (default: https://api.box.com/oauth2/token or
    /// https://api.dropboxapi.com/oauth2/token).
    #[arg(long, value_name = "URL", requires = "client_id")]
    pub oauth_token_url: Option<String>,
    /// The authorization endpoint (default: https://account.box.com/api/oauth2/authorize or
    /// https://www.dropbox.com/oauth2/authorize?token_access_type=offline).
    #[arg(long, value_name = "URL", requires = "client_id")]
    pub oauth_authorize_url: Option<String>,
    /// How the client authenticates to the token endpoint (default: Box body, Dropbox basic).
    #[arg(long, value_enum, requires = "client_id")]
    pub client_auth: Option<crate::keys::ClientAuthArg>,
    /// OAuth scopes to ask for, space-separated (Dropbox: e.g. "members.read members.write
    /// members.delete"; default: the app's configured scopes).
    #[arg(long, requires = "client_id")]
    pub scope: Option<String>,
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
    let oauth = match (&args.client_id, &args.client_secret_env) {
        (Some(client_id), Some(var)) => {
            let secret = std::env::var(var)
                .map_err(|_| anyhow!("--client-secret-env {var}: the variable is not set (or not UTF-8)"))?;
            Some(OauthSpec {
                token_url: args.oauth_token_url.clone(),
                client_id: client_id.clone(),
                client_secret: secret,
                scope: args.scope.clone(),
                client_auth: args.client_auth.map(|a| match a {
                    crate::keys::ClientAuthArg::Basic => "basic".into(),
                    crate::keys::ClientAuthArg::Body => "body".into(),
                }),
                flow: args.oauth_flow.map(|f| match f {
                    crate::keys::OauthFlowArg::ClientCredentials => "client_credentials".into(),
                    crate::keys::OauthFlowArg::AuthorizationCode => "authorization_code".into(),
                }),
                authorize_url: args.oauth_authorize_url.clone(),
                zoom_account_id: None,
                box_enterprise_id: args.box_enterprise_id.clone(),
            })
        }
        _ => None,
    };
    let token = match (&oauth, &args.token_file) {
        (Some(_), _) => None,
        (None, Some(path)) => {
            Some(std::fs::read_to_string(path).with_context(|| format!("--token-file {}", path.display()))?)
        }
        (None, None) => Some(crate::config::secret_from_file("TENURE_APP_TOKEN_FILE")?.ok_or_else(|| {
            anyhow!("the API's access token is required: --token-file or TENURE_APP_TOKEN_FILE (or OAuth: --client-id)")
        })?),
    };
    let token = token.map(|t| t.trim().to_owned());
    if token.as_deref().is_some_and(str::is_empty) {
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
        token,
        oauth,
        google: None,
        github: None,
        owner: None,
        settings: settings.spec()?,
        disabled: false,
    };
    let app = engine.admin(&Actor::cli()).create_app(spec).await.map_err(cli_error)?;
    println!(
        "added {} app {} ({}, auth {}); check it with `tenure app check {}`, grant it with `tenure assign {} --group NAME`",
        if kind == NewAppKind::Box { "Box" } else { "Dropbox" },
        app.name,
        app.base_url,
        app.auth.kind(),
        app.name,
        app.name
    );
    if matches!(app.auth, tenure_store::AppAuth::OauthAuthorizationCode { .. }) {
        println!(
            "an admin must consent first: `tenure app authorize {} --public-url URL` answers the URL to open",
            app.name
        );
    }
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
    crate::app_check::print_entry_comparison(check);
}
