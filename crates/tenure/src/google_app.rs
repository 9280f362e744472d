//! `tenure app add google`: Google Workspace as a provisioning target, and its `app check`.

use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use serde_json::json;
use tenure_connectors::GoogleWorkspace;
use tenure_connectors::google_workspace::DEFAULT_API_URL;
use tenure_core::*;
use tenure_store::{AppAuth, AppRecord, Store};

use crate::cli::{DeprovisionArg, GoogleAppArgs};

pub async fn add(store: &Store, tenant: TenantId, args: GoogleAppArgs) -> anyhow::Result<ExitCode> {
    let path = &args.service_account_key;
    let key = std::fs::read_to_string(path).with_context(|| format!("--service-account-key {}", path.display()))?;
    if key.trim().is_empty() {
        bail!("--service-account-key {}: the file is empty", path.display());
    }
    let secret = Secret::new(key);
    let target = GoogleWorkspaceTarget {
        domain: args.domain.trim().to_lowercase(),
        customer: args.customer.trim().to_owned(),
        admin: args.admin_email.trim().to_owned(),
        token_url: args.token_url.clone(),
        org_unit_path: args.org_unit.clone(),
        change_password_at_next_login: args.change_password_at_next_login,
    };
    let api_url = args.api_url.as_deref().unwrap_or(DEFAULT_API_URL).trim().to_owned();
    // Parses the key and checks the URLs and the domain the way provisioning will.
    GoogleWorkspace::new(&api_url, &target, &secret, Default::default())
        .with_context(|| format!("app {}", args.name))?;
    let deprovision = match args.deprovision {
        DeprovisionArg::Deactivate => DeprovisionPolicy::Deactivate,
        DeprovisionArg::Delete => DeprovisionPolicy::Delete,
        DeprovisionArg::DeactivateThenDelete => DeprovisionPolicy::DeactivateThenDelete {
            after_days: args.delete_after_days.ok_or_else(|| anyhow!("--delete-after-days is required"))?,
        },
        // Tenure does not manage Google Workspace licenses (the License Manager API).
        DeprovisionArg::RemoveLicense => bail!("--deprovision remove-license is not supported for Google Workspace"),
        DeprovisionArg::DoNothing => DeprovisionPolicy::DoNothing,
    };
    let mut settings = AppSettings {
        deprovision,
        // A Google account's userName is its primary email address.
        user_name: UserNameFormat::Email,
        google_workspace: Some(target),
        dry_run: args.dry_run,
        ..AppSettings::default()
    };
    settings.mappings = crate::commands::mapping_set(&args.mappings, &args.mappings_on_create)?;
    settings.guard = crate::commands::guard_limits(args.guard_percent, args.guard_count, args.guard_window);
    // Google's documented default quota is 2,400 Directory API queries a minute per user per
    // Cloud project (https://developers.google.com/workspace/admin/directory/v1/limits), the
    // user being the impersonated admin: 40 a second, shared by every app acting as that admin.
    let (per_second, burst) = match args.rate_limit {
        Some(rate) => (rate, args.burst),
        None => (GOOGLE_QUERIES_PER_SECOND, Some(GOOGLE_BURST)),
    };
    settings.limits = Some(AppLimits {
        per_second: Some(per_second),
        burst,
        concurrency: args.max_concurrency.map(usize::from),
        shared_key: Some(format!("google:{}", args.admin_email.trim().to_lowercase())),
    });
    let app = store
        .add_app_with_auth(tenant, &args.name, AppKind::GoogleWorkspace, &api_url, &AppAuth::Bearer, &secret, &settings)
        .await?;
    // The key stays out of the audit log; the settings say where and as whom.
    let detail = json!({"base_url": app.base_url, "settings": settings});
    store.append_audit_for(tenant, "cli", "app.add", &app.name, None, Some(&app.name), &detail).await?;
    println!(
        "added Google Workspace app {} ({} as {}); check it with `tenure app check {}`, grant it with `tenure assign {} --group NAME`",
        app.name, args.domain, args.admin_email, app.name, app.name
    );
    Ok(ExitCode::SUCCESS)
}

/// Google's default Directory API quota, 2,400 queries a minute per user per project.
const GOOGLE_QUERIES_PER_SECOND: f64 = 40.0;
const GOOGLE_BURST: u32 = 40;

/// `tenure app check` for Google Workspace: the connector's declared operations and meanings,
/// and one real request (the impersonated admin's own user) proving the key, the delegation and
/// the scopes.
pub async fn check(store: &Store, tenant: TenantId, record: &AppRecord, json_out: bool) -> anyhow::Result<ExitCode> {
    let name = &record.app.name;
    let connector = tenure_engine::app_auth::connector(store, tenant, record, Default::default(), None)?;
    let descriptor = connector.describe();
    let admin = record.app.settings.google_workspace.as_ref().map(|t| t.admin.clone()).unwrap_or_default();
    let verified = connector.find_user(tenure_core::attributes::USER_NAME, &admin).await;
    let problem = match &verified {
        Ok(Some(_)) => None,
        Ok(None) => Some(format!("the admin {admin} was not found in the directory")),
        Err(e) => Some(e.to_string()),
    };
    if json_out {
        let report = json!({
            "app": name,
            "kind": descriptor.kind,
            "provisionable": problem.is_none(),
            "operations": descriptor.operations,
            "deactivate": descriptor.deactivate,
            "delete": descriptor.delete,
            "problem": problem,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{name}: Google Workspace (Admin SDK Directory API)");
        let ops: Vec<String> = descriptor.operations.iter().map(|o| format!("{o:?}").to_lowercase()).collect();
        println!("  operations: {}", ops.join(", "));
        println!("  deactivate: suspends the user (data and license kept)");
        println!("  delete:     permanent (an admin can restore the user for 20 days)");
        match &problem {
            None => println!("  verified:   acting as {admin}"),
            Some(p) => println!("  NOT provisionable: {p}"),
        }
    }
    Ok(if problem.is_none() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
