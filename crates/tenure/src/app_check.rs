//! `tenure app check APP`: probes the app, prints its capability profile and every
//! incompatibility found, and stores the profile so provisioning adapts to it.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use tenure_connectors::ProbeReport;
use tenure_connectors::capabilities::{Probed, incompatibilities};
use tenure_engine::admin::AppCheck;
use tenure_engine::{Actor, Engine};

use crate::output;

pub async fn run(engine: &Engine, app: &str, json: bool, write_probe: bool) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let spinner = output::spinner(format!("probing {app}"));
    let checked = engine.admin(&actor).check_app(app, write_probe).await;
    spinner.finish_and_clear();
    let check = checked.with_context(|| format!("app {app}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&as_json(&check))?);
    } else if let Some(report) = &check.probe {
        print_text(app, report);
        let vendor = check
            .vendor
            .as_ref()
            .and_then(|v| v["name"].as_str())
            .and_then(|n| n.parse::<tenure_connectors::Vendor>().ok());
        if let Some(v) = vendor {
            println!(
                "vendor profile {}: {}; deprovisioning here: {}",
                v.display_name(),
                v.delete_meaning(),
                check.deprovision
            );
            if let Some(flow) = v.joiner_flow() {
                println!("joiners: {flow}");
            }
        }
        if let Some(c) = &check.catalog {
            print_comparison(vendor.map_or("the catalog", |v| v.display_name()), "the probe", c);
        }
    } else if check.kind == tenure_core::AppKind::GithubOrg {
        match (&check.problem, &check.found) {
            (Some(p), _) => println!("{app} cannot be provisioned:\n  ✗ {p}"),
            (None, found) => println!("{app}: GitHub organization, {}", found.as_deref().unwrap_or("read")),
        }
    } else if check.kind == tenure_core::AppKind::M365 {
        crate::m365_app::print_check(&check);
    } else if matches!(check.kind, tenure_core::AppKind::Box | tenure_core::AppKind::Dropbox) {
        crate::rest_app::print_check(&check);
    } else {
        crate::google_app::print_check(&check);
    }
    if check.probe.is_none()
        && let Some(joiners) = &check.joiners
    {
        println!("joiners: {joiners}");
    }
    Ok(if check.provisionable { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The JSON `--json` prints: a SCIM app's probe, or a Google Workspace app's check.
fn as_json(check: &AppCheck) -> serde_json::Value {
    match &check.probe {
        Some(report) => json!({
            "app": check.app,
            "provisionable": report.provisionable(),
            "blockers": report.blockers,
            "capabilities": report.capabilities,
            "incompatibilities": check.incompatibilities,
            "observations": report.observations,
            "vendor": check.vendor,
            "catalog": check.catalog,
            "deprovision": check.deprovision,
            "joiners": check.joiners,
        }),
        None => json!({
            "app": check.app,
            "kind": check.descriptor.as_ref().map(|d| d.kind),
            "provisionable": check.provisionable,
            "operations": check.descriptor.as_ref().map(|d| d.operations.clone()),
            "deactivate": check.descriptor.as_ref().map(|d| d.deactivate),
            "delete": check.descriptor.as_ref().map(|d| d.delete),
            "problem": check.problem,
            "blockers": check.problem.iter().collect::<Vec<_>>(),
            "joiners": check.joiners,
            "found": check.found,
            "vendor": check.vendor,
            "catalog": check.catalog,
        }),
    }
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

/// The probe against the catalog entry: what it confirmed, where the app differs, and what a
/// read-only probe cannot test.
/// A connector app's catalog entry against what its connector and settings do (Box, Dropbox,
/// Microsoft 365).
pub(crate) fn print_entry_comparison(check: &AppCheck) {
    let Some(c) = &check.catalog else { return };
    let name = check.vendor.as_ref().and_then(|v| v["display_name"].as_str()).unwrap_or("the catalog");
    print_comparison(name, "the connector", c);
}

fn print_comparison(profile: &str, against: &str, c: &tenure_connectors::catalog::Comparison) {
    println!(
        "{profile} profile against {against}: {} confirmed, {} difference{}",
        c.confirmed.len(),
        c.differences.len(),
        if c.differences.len() == 1 { "" } else { "s" }
    );
    for line in &c.confirmed {
        println!("  ✓ {line}");
    }
    for line in &c.differences {
        println!("  ≠ {line}");
    }
    for line in &c.untested {
        println!("  ? {line}");
    }
}
