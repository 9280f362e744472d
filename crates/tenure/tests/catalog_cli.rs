//! The app catalog through the binary: `tenure app catalog [--json]` lists at least 25 apps with
//! what their vendors document; `app add scim --vendor asana` applies Asana's entry against
//! scim2-server (deactivate by default, delete only confirmed since Asana never re-activates);
//! `app check` names the Asana profile and compares the probe with what the entry promises.

mod common;

use common::Cli;
use serde_json::Value;
use tenure_testkit::{Scim2Server, TestBackend, TestDb};

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn entry<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array().and_then(|apps| apps.iter().find(|a| a["name"] == name)).unwrap_or_else(|| panic!("{name} listed"))
}

#[tokio::test]
async fn the_catalog_lists_each_app_with_its_documented_facts() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let cli = Cli::new(db.url(), dir.path());
    let list = cli.json(&["app", "catalog", "--json"]).await;
    let apps = list.as_array().expect("an array");
    assert!(apps.len() >= 25, "{} apps", apps.len());
    for app in apps {
        let name = app["name"].as_str().expect("name");
        assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{name}");
        assert!(app["api"].is_string() && app["delete"].is_string(), "{app}");
        assert!(app["reactivate"].is_boolean() || app["reactivate"].is_null(), "{app}");
        assert!(app["rate_limit"].is_string() || app["rate_limit"].is_null(), "{app}");
        let docs = app["docs"].as_array().expect("docs");
        assert!(!docs.is_empty() && docs.iter().all(|d| d.as_str().is_some_and(|u| u.starts_with("http"))), "{app}");
    }
    for name in ["salesforce", "dropbox", "box", "asana", "figma", "zendesk", "adobe"] {
        entry(&list, name);
    }
    let salesforce = entry(&list, "salesforce");
    assert!(salesforce["delete"].as_str().is_some_and(|d| d.starts_with("deactivates")), "{salesforce}");
    assert_eq!(salesforce["reactivate"], true);
    assert_eq!(salesforce["base_url_parameters"], serde_json::json!(["my_domain"]));
    assert_eq!(entry(&list, "asana")["reactivate"], false);
    assert_eq!(entry(&list, "asana")["delete_needs_confirmation"], true);
    assert_eq!(entry(&list, "dropbox")["api"], "rest");
    assert_eq!(entry(&list, "dropbox")["connector"], "dropbox");
    assert_eq!(entry(&list, "box")["connector"], "box");
    assert!(entry(&list, "adobe")["connector"].is_null());
    assert_eq!(entry(&list, "canva")["page_size_max"], 10);
    assert_eq!(entry(&list, "canva")["rate_limit"], "POST /Users 1 request a second");
    assert!(entry(&list, "datadog")["rate_limit"].is_null(), "no published limit");
    // Budgets over an hour or a day, where documented.
    assert_eq!(
        (entry(&list, "docusign")["per_hour"].as_u64(), entry(&list, "docusign")["per_day"].as_u64()),
        (Some(3000), None)
    );
    assert_eq!(entry(&list, "hubspot")["per_day"], 250_000);
    assert_eq!(entry(&list, "github")["per_hour"], 1000);
    assert!(entry(&list, "slack")["per_hour"].is_null() && entry(&list, "adobe")["per_day"].is_null());
    assert!(entry(&list, "figma")["list"].as_str().is_some_and(|l| l.starts_with("leaves accounts out")));
    // Miro's group endpoints, paced apart: GET Groups and a large PATCH group 5 per 30 s.
    let per_30s = |v: &Value| v.as_f64().map(|p| (p * 30.0).round() as u64);
    assert_eq!(per_30s(&entry(&list, "miro")["group_reads_per_second"]), Some(5));
    assert_eq!(per_30s(&entry(&list, "miro")["group_writes_per_second"]), Some(5));
    assert_eq!(per_30s(&entry(&list, "miro")["deletes_per_second"]), Some(20));
    assert!(entry(&list, "slack")["group_reads_per_second"].is_null());
    // Microsoft 365 / Entra ID, through its own connector.
    let m365 = entry(&list, "m365");
    assert_eq!((m365["api"].as_str(), m365["connector"].as_str()), (Some("rest"), Some("m365")), "{m365}");
    assert_eq!(m365["reactivate"], true);
    assert!(m365["delete"].as_str().is_some_and(|d| d.contains("30 days")), "{m365}");
    assert!(
        m365["docs"]
            .as_array()
            .is_some_and(|d| d.iter().any(|u| u == "https://learn.microsoft.com/en-us/graph/throttling-limits"))
    );
    let smartsheet = entry(&list, "smartsheet");
    assert!(smartsheet["reactivate"].is_null(), "the sources conflict");
    assert!(smartsheet["entry"]["reactivate"]["note"].as_str().is_some_and(|n| n.contains("conflict")), "{smartsheet}");

    let table = cli.ok(&["app", "catalog"]).await;
    assert!(table.starts_with("APP"), "{table}");
    for line in ["asana ", "salesforce ", "dropbox "] {
        assert!(table.lines().any(|l| l.starts_with(line)), "{line}: {table}");
    }
    Ok(())
}

#[tokio::test]
async fn an_app_added_from_its_catalog_entry_is_checked_against_it() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let server = Scim2Server::start().await?;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, server.token())?;
    let token_file = token_file.display().to_string();
    let cli = Cli::new(db.url(), dir.path());
    let add = |name: &'static str, vendor: &'static str, extra: &'static [&'static str]| {
        let mut args = vec!["app", "add", "scim", name, "--vendor", vendor, "--base-url", server.base_url()];
        args.extend_from_slice(&["--token-file", &token_file]);
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };

    // Asana never re-activates a deprovisioned user: delete is refused without confirmation.
    let args = add("asana", "asana", &["--deprovision", "delete"]);
    let err = cli.fails(&strs(&args)).await;
    assert!(err.contains("Asana cannot re-activate") && err.contains("--confirm-permanent-delete"), "{err}");
    // Canva has no DELETE for users at all.
    let args = add("canva", "canva", &["--deprovision", "delete", "--confirm-permanent-delete"]);
    let err = cli.fails(&strs(&args)).await;
    assert!(err.contains("--deprovision") && err.contains("does not support deleting"), "{err}");
    // Dropbox has no SCIM API to add.
    let args = add("dropbox", "dropbox", &[]);
    let err = cli.fails(&strs(&args)).await;
    assert!(err.contains("--vendor") && err.contains("custom REST"), "{err}");
    let args = add("nope", "teams", &[]);
    let err = cli.fails(&strs(&args)).await;
    assert!(err.contains("unknown vendor \"teams\"") && err.contains("salesforce"), "{err}");

    let args = add("asana", "asana", &[]);
    let out = cli.ok(&strs(&args)).await;
    assert!(out.contains("Asana profile: DELETE is permanent, deprovision: deactivate"), "{out}");
    assert!(out.contains("Asana cannot re-activate a deprovisioned account"), "{out}");
    assert!(out.contains("leaves accounts out (GET /Users leaves guests out)"), "{out}");
    let args = add("asana-delete", "asana", &["--deprovision", "delete", "--confirm-permanent-delete"]);
    cli.ok(&strs(&args)).await;

    let list = cli.json(&["app", "list", "--json"]).await;
    let settings = &entry(&list, "asana")["settings"];
    assert_eq!(settings["vendor"], "asana");
    assert_eq!(settings["deprovision"], "deactivate");
    assert_eq!(settings["limits"]["per_second"], 25.0, "Asana's 1,500 a minute");
    assert_eq!(entry(&list, "asana-delete")["settings"]["deprovision"], "delete");

    let checked = cli.ok(&["app", "check", "asana"]).await;
    assert!(checked.contains("vendor profile Asana:"), "{checked}");
    assert!(checked.contains("Asana profile against the probe:"), "{checked}");
    assert!(checked.contains("? DELETE: deprovisions the user for good"), "{checked}");
    let checked = cli.json(&["app", "check", "asana", "--json"]).await;
    assert_eq!(checked["vendor"]["name"], "asana");
    assert_eq!(checked["vendor"]["display_name"], "Asana");
    assert_eq!(checked["vendor"]["reactivate"], false);
    // scim2-server does PATCH, as Asana documents; its filters beyond userName are differences.
    let catalog = &checked["catalog"];
    assert!(catalog["confirmed"].as_array().is_some_and(|c| c.iter().any(|l| l == "PATCH works")), "{catalog}");
    assert!(catalog["differences"].is_array(), "{catalog}");
    Ok(())
}
