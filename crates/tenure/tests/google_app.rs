//! `tenure app add google` through the binary against the Directory API fake: the app is checked,
//! provisioned, listed and reported like any other, and its service account key is stored only
//! encrypted (never in settings, listings or the audit log). With `--license-skus`, licenses go
//! through the License Manager fake on both backends: assigned by an assignment's `--license`,
//! counted per tier by `license report`, and taken back from a leaver by `remove-license`.

use serde_json::{Value, json};
use tenure_testkit::cloud_fake::{TEST_KEY, fixture};
use tenure_testkit::google_fake::{ADMIN, GoogleFake};
use tenure_testkit::google_licensing_fake::{PRODUCT, STANDARD, STARTER};
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

fn people(left: &[&str]) -> String {
    let mut csv = String::from("employee_id,email,given_name,family_name,department,title,org_unit,status\n");
    for (i, name) in ["ada", "bob", "cy"].iter().enumerate() {
        let status = if left.contains(name) { "suspended" } else { "active" };
        csv.push_str(&format!("E{i},{name}@example.com,{name},Test,Engineering,Engineer,/Engineering,{status}\n"));
    }
    csv
}

fn tier<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["apps"][0]["tiers"]
        .as_array()
        .and_then(|t| t.iter().find(|x| x["tier"] == name))
        .unwrap_or_else(|| panic!("no tier {name}: {report}"))
}

async fn licenses(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let dir = tempfile::tempdir()?;
    let fake = GoogleFake::start().await?;
    {
        let mut d = fake.dir();
        d.users.push(json!({"id": "1", "primaryEmail": ADMIN, "isAdmin": true,
            "name": {"givenName": "Ad", "familyName": "Min"}}));
        // The admin holds a Standard seat nobody assigned through Tenure.
        d.assign_license(ADMIN, PRODUCT, STANDARD);
    }
    let key_path = dir.path().join("sa.json");
    std::fs::write(&key_path, fake.key_file_json(&std::fs::read_to_string(fixture(TEST_KEY))?))?;
    let file = dir.path().join("people.csv");
    std::fs::write(&file, people(&[]))?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", file.to_str().unwrap()]).await;
    cli.ok(&["sync"]).await;
    let (base, token) = (fake.base_url(), fake.token_url());
    let add = [
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
        "--deprovision",
        "remove-license",
        "--guard-percent",
        "100",
    ];
    let err = cli.fails(&add).await;
    assert!(err.contains("--license-skus"), "{err}");
    let skus = "Google-Apps:1010020027=Business Starter,Google-Apps:1010020028=Business Standard";
    let out = cli.ok(&[&add[..], &["--license-skus", skus]].concat()).await;
    assert!(out.contains("apps.licensing"), "{out}");
    let shown = cli.json(&["app", "show", "google", "--json"]).await;
    assert_eq!(
        shown["settings"]["google_workspace"]["license_skus"][1],
        json!({"product_id": "Google-Apps", "sku_id": "1010020028", "tier": "Business Standard"}),
        "{shown}"
    );
    let check = cli.ok(&["app", "check", "google"]).await;
    assert!(check.contains("licenses held: Business Starter 0, Business Standard 1"), "{check}");

    cli.ok(&["assign", "google", "--org-unit", "/Engineering", "--license", "Business Starter"]).await;
    cli.ok(&["apply", "--yes"]).await;
    for name in ["ada", "bob", "cy"] {
        assert_eq!(fake.dir().licenses_of(&format!("{name}@example.com")), [STARTER], "{name}");
    }
    let plan = cli.json(&["plan", "--json"]).await;
    assert_eq!(plan["apps"][0]["ops"].as_array().map(Vec::len), Some(0), "settled: {plan}");

    cli.ok(&["license", "set", "google", "--tier", "Business Starter", "--seats", "5", "--cost-per-seat", "7.20"])
        .await;
    cli.ok(&["license", "set", "google", "--tier", "Business Standard", "--seats", "1", "--cost-per-seat", "14.40"])
        .await;
    let report = cli.json(&["license", "report", "--format", "json"]).await;
    let starter = tier(&report, "Business Starter");
    assert_eq!((starter["seats"].as_u64(), starter["used"].as_u64()), (Some(5), Some(3)), "{starter}");
    assert_eq!(tier(&report, "Business Standard")["used"], 1, "the admin's seat: {report}");

    // Bob leaves: remove-license takes his Starter back; his account stays, not suspended.
    std::fs::write(&file, people(&["bob"]))?;
    cli.ok(&["sync"]).await;
    let plan = cli.json(&["plan", "--json"]).await;
    let ops = plan["apps"][0]["ops"].as_array().cloned().unwrap_or_default();
    assert_eq!(ops.len(), 1, "{plan}");
    assert_eq!((ops[0]["person"].as_str(), ops[0]["op"].as_str()), (Some("bob@example.com"), Some("change_license")));
    cli.ok(&["apply", "--yes"]).await;
    assert!(fake.dir().licenses_of("bob@example.com").is_empty());
    assert_eq!(fake.dir().user("bob@example.com").map(|u| u["suspended"].clone()), Some(json!(false)));
    let report = cli.json(&["license", "report", "--format", "json"]).await;
    assert_eq!(tier(&report, "Business Starter")["used"], 2, "{report}");
    Ok(())
}

#[tokio::test]
async fn sqlite_google_licenses_through_license_manager() -> anyhow::Result<()> {
    licenses(TestBackend::Sqlite).await
}

#[tokio::test]
async fn postgres_google_licenses_through_license_manager() -> anyhow::Result<()> {
    licenses(TestBackend::Postgres).await
}
