//! `tenure app check APP`: probes the app, prints its capability profile and every
//! incompatibility found, and stores the profile so provisioning adapts to it.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use tenure_connectors::capabilities::{Probed, incompatibilities};
use tenure_connectors::{ProbeOptions, ProbeReport};
use tenure_core::TenantId;
use tenure_store::Store;

use crate::output;

pub async fn run(
    store: &Store,
    tenant: TenantId,
    app: &str,
    json: bool,
    write_probe: bool,
) -> anyhow::Result<ExitCode> {
    let record = store.app_by_name(tenant, app).await?;
    if record.app.kind == tenure_core::AppKind::GoogleWorkspace {
        return crate::google_app::check(store, tenant, &record, json).await;
    }
    // Authenticated the way the app is configured: an OAuth app's client secret is no bearer token.
    let client = tenure_engine::app_auth::scim_client(store, tenant, &record, Default::default())
        .with_context(|| format!("app {app}"))?;
    let spinner = output::spinner(format!("probing {app}"));
    let report = client.probe(ProbeOptions { write: write_probe }).await;
    spinner.finish_and_clear();
    // A profile of an app that refused us says nothing; keep the previous one.
    if report.provisionable() {
        let mut settings = record.app.settings.clone();
        settings.capabilities = Some(report.capabilities.clone());
        store.set_app_settings(tenant, record.app.id, &settings).await.context("storing the capability profile")?;
    }
    let vendor = tenure_engine::app_auth::vendor_of(&record);
    if json {
        let mut out = as_json(app, &report);
        out["vendor"] = json!(vendor.map(|v| json!({
            "name": v.name(),
            "delete": v.delete_meaning().as_str(),
            "deprovision_default": v.default_deprovision().to_string(),
        })));
        out["deprovision"] = json!(record.app.settings.deprovision.to_string());
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_text(app, &report);
        if let Some(v) = vendor {
            println!(
                "vendor profile {}: {}; deprovisioning here: {}",
                v.display_name(),
                v.delete_meaning(),
                record.app.settings.deprovision
            );
        }
    }
    Ok(if report.provisionable() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn as_json(app: &str, report: &ProbeReport) -> serde_json::Value {
    json!({
        "app": app,
        "provisionable": report.provisionable(),
        "blockers": report.blockers,
        "capabilities": report.capabilities,
        "incompatibilities": if report.provisionable() { incompatibilities(&report.capabilities) } else { Vec::new() },
        "observations": report.observations,
    })
}

fn probed(p: Probed) -> &'static str {
    match p {
        Probed::Yes => "yes",
        Probed::No => "no",
        Probed::Unknown => "unknown",
    }
}

fn print_text(app: &str, report: &ProbeReport) {
    if !report.provisionable() {
        println!("{app} cannot be provisioned:");
        for b in &report.blockers {
            println!("  ✗ {b}");
        }
        return;
    }
    let c = &report.capabilities;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    println!("{app}: capability profile (probed {})", c.probed_at);
    println!(
        "  discovery     ServiceProviderConfig {}, ResourceTypes {}, Schemas {}",
        yes_no(c.discovery.service_provider_config),
        yes_no(c.discovery.resource_types),
        yes_no(c.discovery.schemas)
    );
    let by: Vec<String> = c.filter_by.iter().map(|(k, v)| format!("{k} {}", probed(*v))).collect();
    println!(
        "  filter        {:?}{}",
        c.filter,
        if by.is_empty() { String::new() } else { format!(" ({})", by.join(", ")) }
    );
    println!(
        "  PATCH         {} (advertised {}; value-filter path {}, no-path value map {})",
        probed(c.patch.supported),
        c.patch.advertised.map_or("not said", |a| yes_no(a)),
        probed(c.patch.value_filter_path),
        probed(c.patch.no_path_value_map)
    );
    println!("  page size     {}", c.max_page_size.map_or("no cap found".to_owned(), |m| format!("at most {m}")));
    println!("  ETags         {}", probed(c.etag));
    if c.cursor_pagination {
        println!("  paging        by cursor (RFC 9865)");
    }
    if let Some(ops) = c.bulk_max_operations {
        println!("  bulk          up to {ops} operations");
    }
    let found = incompatibilities(c);
    if found.is_empty() {
        println!("no incompatibilities found");
    } else {
        println!("incompatibilities:");
        for line in found {
            println!("  ! {line}");
        }
    }
    for line in &report.observations {
        println!("  · {line}");
    }
    println!("profile stored: provisioning {app} adapts to it");
}
