//! A catalog entry's attribute rules through the binary, against the independent scim2-server:
//! a Salesforce-profiled app without a profile entitlement (the `license`) refuses each create in
//! the plan with Salesforce's reason (`tenure plan`, `explain`, the live list), and nothing is
//! sent; given the license by the assignment, the accounts are created with it. An Airtable app
//! refuses addresses outside its `verified_domains` until an admin lists the domain. Once per
//! backend.

mod common;

use common::Cli;
use serde_json::Value;
use tenure_testkit::{Scim2Server, TestBackend, TestDb};

const PEOPLE: &str = "\
employee_id,email,given_name,family_name,org_unit
E1,ann@example.com,Ann,Lee,/Eng
E2,bob@example.com,Bob,Ray,/Eng
";

const PROFILE_ID: &str = "00e5e000000Abcd";

async fn peer_users(peer: &Scim2Server) -> anyhow::Result<Vec<Value>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let list: Value = reqwest::Client::new()
        .get(format!("{}/Users", peer.base_url()))
        .bearer_auth(peer.token())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(list["Resources"].as_array().cloned().unwrap_or_default())
}

fn creates(applied: &Value, app: &str) -> Value {
    applied["apps"]
        .as_array()
        .and_then(|apps| apps.iter().find(|a| a["app"] == app))
        .map_or(Value::Null, |a| a["succeeded"]["create"].clone())
}

async fn salesforce_needs_a_profile(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let dir = tempfile::tempdir()?;
    let peer = Scim2Server::start().await?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().expect("utf-8 path")]).await;
    cli.ok(&["sync"]).await;
    let add = ["app", "add", "scim", "sf", "--vendor", "salesforce", "--base-url", peer.base_url()];
    cli.ok(&[&add[..], &["--token", peer.token()]].concat()).await;
    let list = cli.json(&["app", "list", "--json"]).await;
    let rules = &list[0]["settings"]["rules"];
    assert!(rules.as_array().is_some_and(|r| r.iter().any(|r| r["attribute"] == "license")), "{list}");
    cli.ok(&["assign", "sf", "--org-unit", "/Eng"]).await;

    // No profile: every create is refused in the plan, with Salesforce's reason.
    let reason = "the app would refuse it: license is not set: Salesforce creates a user only with exactly one \
                  entitlement that is a profile";
    let plan = cli.ok(&["plan", "--app", "sf"]).await;
    assert!(plan.contains(&format!("problem: cannot create ann@example.com's account: {reason}")), "{plan}");
    assert!(plan.contains("Total: nothing to do"), "{plan}");
    let explained = cli.ok(&["explain", "ann@example.com", "sf"]).await;
    assert!(explained.contains(reason), "{explained}");
    let explained = cli.json(&["explain", "ann@example.com", "sf", "--json"]).await;
    assert_eq!(explained["standing"], "blocked", "{explained}");
    // People without an account are in the lists still, refused with the reason.
    let page = cli.ok(&["app", "users", "sf", "--count", "10"]).await;
    assert!(page.contains(&format!("! cannot create bob@example.com's account: {reason}")), "{page}");
    let report = cli.json(&["report", "--app", "sf", "--format", "json"]).await;
    let refused: Vec<&Value> = report.as_array().into_iter().flatten().filter(|r| r["class"] == "refused").collect();
    assert_eq!(refused.len(), 2, "{report}");
    assert!(refused.iter().all(|r| r["note"].as_str().is_some_and(|n| n.contains(reason))), "{report}");
    let applied = cli.json(&["apply", "--yes", "--json"]).await;
    assert!(creates(&applied, "sf").is_null() || creates(&applied, "sf") == 0, "{applied}");
    assert!(peer_users(&peer).await?.is_empty(), "nothing was sent to Salesforce");

    // With the profile as the assignment's license: created, the profile as the entitlement.
    cli.ok(&["assign", "sf", "--org-unit", "/Eng", "--license", PROFILE_ID]).await;
    let plan = cli.ok(&["plan", "--app", "sf"]).await;
    assert!(!plan.contains("problem:"), "{plan}");
    let applied = cli.json(&["apply", "--yes", "--json"]).await;
    assert_eq!(creates(&applied, "sf"), 2, "{applied}");
    let users = peer_users(&peer).await?;
    assert_eq!(users.len(), 2, "{users:?}");
    for user in &users {
        assert_eq!(user["entitlements"][0]["value"], PROFILE_ID, "{user}");
    }
    Ok(())
}

#[tokio::test]
async fn a_create_salesforce_would_refuse_is_refused_in_the_plan() -> anyhow::Result<()> {
    for backend in [TestBackend::Sqlite, TestBackend::Postgres] {
        salesforce_needs_a_profile(backend).await?;
    }
    Ok(())
}

#[tokio::test]
async fn airtable_creates_only_in_the_enterprise_domains() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let peer = Scim2Server::start().await?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().expect("utf-8 path")]).await;
    cli.ok(&["sync"]).await;
    let add = ["app", "add", "scim", "at", "--vendor", "airtable", "--base-url", peer.base_url(), "--token"];
    // A list no rule of the app names is refused, precisely, and nothing is added.
    let err = cli.fails(&[&add[..], &[peer.token(), "--rule-list", "domains=example.com"]].concat()).await;
    assert!(err.contains("--rule-list domains: no rule of this app uses it; its rules use verified_domains"), "{err}");
    let err = cli.fails(&[&add[..], &[peer.token(), "--rule-list", "verified_domains=ann@example.com"]].concat()).await;
    assert!(
        err.contains("--rule-list verified_domains: \"ann@example.com\": a plain value such as example.com"),
        "{err}"
    );
    assert_eq!(cli.json(&["app", "list", "--json"]).await, serde_json::json!([]));
    cli.ok(&[&add[..], &[peer.token(), "--rule-list", "verified_domains=example.org"]].concat()).await;
    cli.ok(&["assign", "at", "--org-unit", "/Eng"]).await;

    let plan = cli.ok(&["plan", "--app", "at"]).await;
    assert!(
        plan.contains(
            "cannot create ann@example.com's account: the app would refuse it: userName \"ann@example.com\": domain \
             example.com is not in verified_domains (example.org): Airtable refuses"
        ),
        "{plan}"
    );
    cli.ok(&["apply", "--yes"]).await;
    assert!(peer_users(&peer).await?.is_empty());

    cli.ok(&["app", "edit", "at", "--rule-list", "verified_domains=example.org,Example.com"]).await;
    let applied = cli.json(&["apply", "--yes", "--json"]).await;
    assert_eq!(creates(&applied, "at"), 2, "{applied}");
    assert_eq!(peer_users(&peer).await?.len(), 2);
    Ok(())
}
