//! `tenure app add m365`: a Microsoft 365 / Entra ID tenant through Microsoft Graph, added with
//! an app registration's client credentials; and what `app check` prints for it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use tenure_engine::admin::{AppCheck, NewApp, NewAppKind, OauthSpec};
use tenure_engine::{Actor, Engine};

use crate::apps::{SettingsArgs, cli_error};
use crate::cli::DeprovisionArg;

#[derive(Debug, Args)]
pub struct M365AppArgs {
    /// The app's name in Tenure.
    pub name: String,
    /// The Entra ID tenant: its id (a GUID) or its `….onmicrosoft.com` domain.
    #[arg(long)]
    pub tenant_id: String,
    /// The app registration's application (client) id.
    #[arg(long)]
    pub client_id: String,
    /// A file holding the app registration's client secret; TENURE_APP_CLIENT_SECRET_FILE
    /// otherwise.
    #[arg(long, value_name = "FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// The two-letter country (ISO 3166, e.g. US) given to users without one before a license
    /// is assigned; a mapping `usageLocation=EXPRESSION` (e.g. from the person's country) wins.
    #[arg(long, value_name = "COUNTRY")]
    pub usage_location: Option<String>,
    /// The SKUs Tenure manages, by skuPartNumber, e.g. "ENTERPRISEPACK,SPE_E5" (the tiers pools
    /// and `assign --license` name): an account's tier is the one of them it holds, a tier change
    /// leaves every other SKU (add-ons such as POWER_BI_PRO) alone, and another tier is refused.
    /// Without it, the tier is the first SKU by part number.
    #[arg(long, value_name = "SKU,...")]
    pub license_skus: Option<String>,
    /// What deprovisioning does (default deactivate: `accountEnabled: false`; `remove-license`
    /// takes the user's licenses back and leaves the account).
    #[arg(long, value_enum)]
    pub deprovision: Option<DeprovisionArg>,
    /// Confirms deleting users (a deleted user can be restored from deleted items for 30 days,
    /// then is gone with its mailbox and files).
    #[arg(long)]
    pub confirm_permanent_delete: bool,
    /// An attribute mapping (repeatable), e.g. `usageLocation=custom.country`.
    #[arg(long = "map", value_name = "ATTRIBUTE=EXPRESSION")]
    pub mappings: Vec<String>,
    /// Graph's root (default https://graph.microsoft.com/v1.0).
    #[arg(long)]
    pub api_url: Option<String>,
    /// The token endpoint (default https://login.microsoftonline.com/TENANT/oauth2/v2.0/token).
    #[arg(long)]
    pub token_url: Option<String>,
    /// Plan and log, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn add(engine: &Engine, args: M365AppArgs) -> anyhow::Result<ExitCode> {
    let secret = match &args.client_secret_file {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("--client-secret-file {}", path.display()))?
        }
        None => crate::config::secret_from_file("TENURE_APP_CLIENT_SECRET_FILE")?.ok_or_else(|| {
            anyhow!("the client secret is required: --client-secret-file or TENURE_APP_CLIENT_SECRET_FILE")
        })?,
    };
    let secret = secret.trim().to_owned();
    if secret.is_empty() {
        bail!("the client secret is empty");
    }
    let settings = SettingsArgs {
        deprovision: args.deprovision,
        confirm_permanent_delete: args.confirm_permanent_delete,
        dry_run: Some(args.dry_run),
        usage_location: args.usage_location.clone(),
        license_skus: args.license_skus.clone(),
        mappings: args.mappings.clone(),
        ..SettingsArgs::default()
    };
    let mut settings = settings.spec()?;
    settings.tenant_id = Some(args.tenant_id.clone());
    let spec = NewApp {
        name: args.name.clone(),
        kind: NewAppKind::M365,
        base_url: args.api_url.clone(),
        token: None,
        oauth: Some(OauthSpec {
            token_url: args.token_url.clone(),
            client_id: args.client_id.clone(),
            client_secret: secret,
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
    };
    let app = engine.admin(&Actor::cli()).create_app(spec).await.map_err(cli_error)?;
    println!(
        "added Microsoft 365 app {} ({}); check it with `tenure app check {}`, grant it with `tenure assign {} --group \
         NAME --license SKU` (a skuPartNumber such as SPE_E3)",
        app.name, app.base_url, app.name, app.name
    );
    if let Some(target) = app.settings.m365.as_ref().filter(|t| !t.license_skus.is_empty()) {
        println!(
            "licenses: Tenure manages {} (`--license SKU` on an assignment); other SKUs a user holds are left alone \
             by a tier change",
            target.license_skus.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn print_check(check: &AppCheck) {
    println!("{}: Microsoft 365 / Entra ID (Microsoft Graph)", check.app);
    if let Some(descriptor) = &check.descriptor {
        let ops: Vec<String> = descriptor.operations.iter().map(|o| format!("{o:?}").to_lowercase()).collect();
        println!("  operations: {}", ops.join(", "));
    }
    println!("  deactivate: accountEnabled false (sign-in blocked; mailbox, files and licenses stay)");
    println!("  delete:     to deleted items, restorable for 30 days, then gone for good");
    println!("  deprovision here: {}", check.deprovision);
    match (&check.problem, &check.found) {
        (None, found) => println!("  verified:   {}", found.as_deref().unwrap_or("read")),
        (Some(p), _) => println!("  NOT provisionable: {p}"),
    }
    crate::app_check::print_entry_comparison(check);
}
