//! `tenure app add google` through the binary against the Directory API fake: the app is checked,
//! provisioned, listed and reported like any other, and its service account key is stored only
//! encrypted (never in settings, listings or the audit log).

use serde_json::{Value, json};
use tenure_testkit::cloud_fake::{TEST_KEY, fixture};
use tenure_testkit::google_fake::{ADMIN, GoogleFake};
use tenure_testkit::{TestBackend, TestDb};

mod common;
use common::Cli;

const PEOPLE: &str = "\
employee_id,email,given_name,family_name,department,title,org_unit,status
E1,ada@example.com,Ada,Lovelace,Engineering,Engineer,/Engineering,active
E2,bob@example.com,Bob,Builder,Engineering,Engineer,/Engineering,active
";

#[tokio::test]
async fn google_workspace_is_added_checked_and_provisioned_through_the_cli() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let fake = GoogleFake::start().await?;
    fake.dir().users.push(json!({"id": "1", "primaryEmail": ADMIN, "isAdmin": true,
        "name": {"givenName": "Ad", "familyName": "Min"}}));
    let key_path = dir.path().join("sa.json");
    std::fs::write(&key_path, fake.key_file_json(&std::fs::read_to_string(fixture(TEST_KEY))?))?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let cli = Cli::new(db.url(), dir.path());

    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap()]).await;
    cli.ok(&["sync"]).await;
    let (base, token) = (fake.base_url(), fake.token_url());
    cli.ok(&[
        "app",
        "add",
        "google",
        "--domain",
        "example.com",
        "--admin-email",
        ADMIN,
        "--service-account-key",
        key_path.to_str().unwrap(),
        "--api-url",
        &base,
        "--token-url",
        &token,
    ])
    .await;
    let check = cli.json(&["app", "check", "google", "--json"]).await;
    assert_eq!(check["provisionable"], true, "{check}");
    assert_eq!(check["delete"], "permanent");
    assert_eq!(check["deactivate"], "suspend");

    cli.ok(&["assign", "google", "--org-unit", "/Engineering"]).await;
    cli.ok(&["apply", "--yes"]).await;
    assert!(fake.dir().user("ada@example.com").is_some() && fake.dir().user("bob@example.com").is_some());

    let users = cli.json(&["app", "users", "google", "--json"]).await;
    let linked: Vec<&str> = users.as_array().expect("rows").iter().filter_map(|r| r["person"].as_str()).collect();
    assert_eq!(linked.len(), 2, "{users}");
    let report = cli.ok(&["report", "--app", "google", "--format", "json"]).await;
    assert!(report.contains("ada@example.com"), "{report}");

    // The key went into the database encrypted; nothing the CLI shows carries it.
    let apps: Value = cli.json(&["app", "list", "--json"]).await;
    assert_eq!(apps[0]["kind"], "google_workspace");
    let limits = &apps[0]["settings"]["limits"];
    assert_eq!(limits["per_second"], 40.0, "Google's 2,400 queries a minute per admin: {limits}");
    assert_eq!(limits["shared_key"], format!("google:{ADMIN}"), "{limits}");
    let audit = cli.ok(&["audit", "--format", "jsonl"]).await;
    for shown in [apps.to_string(), audit] {
        assert!(!shown.contains("PRIVATE KEY") && !shown.contains("private_key"), "{shown}");
    }
    Ok(())
}
