//! `tenure license` through the binary against the independent `scim2-server`: pools of seats,
//! the report's used and wasted seats as the app really holds them (10 people provisioned, 2
//! leave but stay active, 1 account made directly in the app, 15 seats bought), tiers from the
//! accounts' entitlements, uploaded last activity, the stored report, bad input. Once per backend.

use serde_json::{Value, json};
use tenure_testkit::{Scim2Server, TestBackend, TestDb};

mod common;
use common::Cli;

fn people(leavers: &[&str]) -> String {
    let mut csv = String::from("employee_id,email,given_name,family_name,status,groups\n");
    let names = ["ada", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ivy", "jo", "kim", "lou", "max", "ned"];
    for (i, name) in names.iter().enumerate() {
        if leavers.contains(name) {
            continue;
        }
        let groups = match i {
            0..10 => "staff",
            10..12 => "eng",
            _ => "sales",
        };
        csv.push_str(&format!("E{i},{name}@example.com,{name},Test,active,{groups}\n"));
    }
    csv
}

fn app<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["apps"].as_array().and_then(|a| a.iter().find(|x| x["app"] == name)).unwrap_or_else(|| panic!("{report}"))
}

fn tier<'a>(app: &'a Value, name: &str) -> &'a Value {
    app["tiers"].as_array().and_then(|t| t.iter().find(|x| x["tier"] == name)).unwrap_or_else(|| panic!("{app}"))
}

async fn licenses(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let peer = Scim2Server::start().await?;
    let tiered = Scim2Server::start().await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("people.csv");
    std::fs::write(&file, people(&[]))?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", file.to_str().unwrap()]).await;
    cli.ok(&["sync"]).await;
    cli.ok(&["app", "add", "scim", "peer", "--base-url", peer.base_url(), "--token", peer.token()]).await;
    cli.ok(&["app", "add", "scim", "tiered", "--base-url", tiered.base_url(), "--token", tiered.token()]).await;
    cli.ok(&["assign", "peer", "--group", "staff"]).await;
    cli.ok(&["assign", "tiered", "--group", "eng", "--license", "business"]).await;
    cli.ok(&["assign", "tiered", "--group", "sales", "--license", "enterprise"]).await;
    cli.ok(&["apply", "--yes"]).await;

    // Two people leave (the apps are not told yet), and someone makes an account in the app.
    std::fs::write(&file, people(&["ada", "bob"]))?;
    cli.ok(&["sync"]).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let made = reqwest::Client::new()
        .post(format!("{}/Users", peer.base_url()))
        .bearer_auth(peer.token())
        .header("content-type", "application/scim+json")
        .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "shadow@elsewhere.test", "active": true}))
        .send()
        .await?;
    assert!(made.status().is_success(), "{}", made.text().await?);

    cli.ok(&["license", "set", "peer", "--seats", "15", "--cost-per-seat", "4"]).await;
    let report = cli.json(&["license", "report", "--format", "json"]).await;
    let p = app(&report, "peer");
    assert_eq!((p["seats"].as_u64(), p["used"].as_u64(), p["free"].as_u64()), (Some(15), Some(11), Some(4)), "{p}");
    assert_eq!(p["wasted"], 7, "2 left, 1 unmanaged, 4 bought and unused: {p}");
    assert_eq!(p["monthly_cost"], 60.0);
    assert_eq!(p["reclaimable_monthly"], 28.0);
    assert_eq!(p["wasted_by_reason"]["left_but_active"], json!({"seats": 2, "monthly_cost": 8.0}));
    assert_eq!(p["wasted_by_reason"]["unmanaged"]["seats"], 1);
    assert_eq!(p["wasted_by_reason"]["unused_seats"]["seats"], 4);
    assert_eq!(p["over_allocated"], false);
    assert_eq!(p["currency"], "EUR");
    assert_eq!(report["read"], "live");
    assert!(report["apps"].as_array().unwrap().iter().all(|a| a["app"] != "tiered"), "no pool, not reported");

    // Tiers come from the accounts' entitlements; a yearly price is divided by 12; fewer seats
    // than used is allowed and reported.
    cli.ok(&["license", "set", "tiered", "--tier", "business", "--seats", "1", "--cost-per-seat", "10.5"]).await;
    let args = ["license", "set", "tiered", "--tier", "enterprise", "--seats", "5", "--cost-per-seat", "100"];
    cli.ok(&[&args[..], &["--period", "year", "--renews", "2027-03-01", "--currency", "eur"]].concat()).await;
    let t = app(&cli.json(&["license", "report", "--app", "tiered", "--format", "json"]).await, "tiered").clone();
    let business = tier(&t, "business");
    assert_eq!((business["used"].as_u64(), business["over_allocated"].as_bool()), (Some(2), Some(true)), "{t}");
    assert_eq!(business["monthly_cost"], 10.5);
    let enterprise = tier(&t, "enterprise");
    assert_eq!((enterprise["seats"].as_u64(), enterprise["used"].as_u64()), (Some(5), Some(2)), "{t}");
    assert_eq!((enterprise["wasted"].as_u64(), enterprise["monthly_cost"].as_f64()), (Some(3), Some(41.67)));
    assert_eq!(enterprise["renews"], "2027-03-01");
    assert_eq!((t["seats"].as_u64(), t["used"].as_u64(), t["monthly_cost"].as_f64()), (Some(6), Some(4), Some(52.17)));
    let err = cli
        .fails(&[
            "license",
            "set",
            "tiered",
            "--tier",
            "x",
            "--seats",
            "1",
            "--cost-per-seat",
            "1",
            "--currency",
            "USD",
        ])
        .await;
    assert!(err.contains("one currency per app"), "{err}");

    // Last activity from a file: unused for more than 90 days is waste.
    let today = time::OffsetDateTime::now_utc().date();
    let ago = |d: i64| (today - time::Duration::days(d)).to_string();
    let activity = dir.path().join("activity.csv");
    std::fs::write(
        &activity,
        format!(
            "user,last_active\nCY@example.com,{}\ndee@example.com,{}\neve@example.com,{}\n",
            ago(100),
            ago(45),
            ago(3)
        ),
    )?;
    assert!(
        cli.ok(&["license", "activity", "peer", "--file", activity.to_str().unwrap()]).await.contains("3 accounts")
    );
    let report = cli.json(&["license", "report", "--format", "json"]).await;
    let p = app(&report, "peer");
    assert_eq!(p["unused_for_days"], json!({"30": 2, "60": 1, "90": 1}), "{p}");
    assert_eq!((p["wasted"].as_u64(), p["activity_known"].as_u64()), (Some(8), Some(3)));
    assert_eq!(report["totals"][0]["seats"], 21);
    assert_eq!(report["totals"][0]["monthly_cost"], 112.17, "60 + 10.50 + 41.67");

    // Without an email channel nobody could answer a question: nobody would be asked.
    let preview = cli.json(&["license", "reclaim", "peer", "--preview", "--json"]).await;
    assert_eq!(preview["asked"], json!([]), "{preview}");
    assert!(preview["skipped"][0]["why"].as_str().unwrap_or("").contains("no email channel"), "{preview}");
    cli.ok(&[
        "notify",
        "add",
        "email",
        "mail",
        "--smtp-url",
        "smtp://127.0.0.1:9",
        "--from",
        "tenure@example.com",
        "--to",
        "person",
    ])
    .await;
    // A reclaim's preview names the managed account unused for the pool's 90 days (cy), writes
    // nothing; a bad deadline is refused.
    let preview = cli.json(&["license", "reclaim", "peer", "--preview", "--json"]).await;
    let asked: Vec<&str> = preview["asked"]
        .as_array()
        .map(|a| a.iter().filter_map(|q| q["person"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(asked, ["cy@example.com"], "{preview}");
    assert_eq!(preview["preview"], true);
    assert!(cli.ok(&["license", "reclaims"]).await.contains("No reclaim questions"));
    let err = cli.fails(&["license", "reclaim", "peer", "--deadline", "soon"]).await;
    assert!(err.contains("--deadline"), "{err}");
    let err = cli.fails(&["license", "reclaim", "peer", "--deadline", "365d"]).await;
    assert!(err.contains("deadline: 1 to 90 days"), "{err}");

    // The stored report counts what the live one read, without reading the apps.
    let stored = cli.json(&["license", "report", "--stored", "--format", "json"]).await;
    assert_eq!(stored["read"], "stored");
    assert_eq!(stored["apps"], report["apps"]);
    let table = cli.ok(&["license", "report", "--stored"]).await;
    assert!(table.contains("over-allocated") && table.contains("2 left_but_active (8.00 EUR)"), "{table}");
    let csv = cli.ok(&["license", "report", "--format", "csv"]).await;
    assert!(csv.lines().any(|l| l.starts_with("peer,,EUR,15,11,4,8,false,60.00,32.00,2,0,0,1,1,4")), "{csv}");

    // Bad input is refused precisely, and nothing is written.
    for (extra, says) in [
        (&["--cost-per-seat=-1"][..], "not an amount"),
        (&["--cost-per-seat", "1.23456"], "at most 4 decimals"),
        (&["--cost-per-seat", "1", "--period", "week"], "month or year"),
        (&["--cost-per-seat", "1", "--renews", "soon"], "YYYY-MM-DD"),
        (&["--cost-per-seat", "1", "--unused-days", "45"], "30, 60 or 90"),
        (&["--cost-per-seat", "1", "--owner", "nobody@example.com"], "not an admin"),
        (&["--cost-per-seat", "1", "--currency", "euro"], "ISO 4217"),
    ] {
        let err = cli.fails(&[&["license", "set", "peer", "--seats", "3"][..], extra].concat()).await;
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    let err = cli.fails(&["license", "set", "nope", "--seats", "3", "--cost-per-seat", "1"]).await;
    assert!(err.contains("nope"), "{err}");
    let pools = cli.json(&["license", "list", "--json"]).await;
    assert_eq!(pools.as_array().map(Vec::len), Some(3), "{pools}");
    assert_eq!(pools[0]["seats"], 15);

    cli.ok(&["admin", "add", "lic@example.com", "--role", "license-admin"]).await;
    cli.ok(&["license", "set", "peer", "--seats", "12", "--cost-per-seat", "4.25", "--owner", "lic@example.com"]).await;
    let listed = cli.ok(&["license", "list"]).await;
    assert!(listed.contains("peer: 12 seats at 4.25 EUR a month, owned by lic@example.com"), "{listed}");
    let err = cli.fails(&["license", "remove", "peer", "--tier", "gold"]).await;
    assert!(err.contains("no pool for tier"), "{err}");
    cli.ok(&["license", "remove", "tiered", "--tier", "business"]).await;
    let audit = cli.ok(&["audit", "--app", "peer", "--format", "csv"]).await;
    assert!(audit.contains("license.set") && audit.contains("license.activity"), "{audit}");
    Ok(())
}

#[tokio::test]
async fn sqlite_license_pools_and_the_money_view() -> anyhow::Result<()> {
    licenses(TestBackend::Sqlite).await
}

#[tokio::test]
async fn postgres_license_pools_and_the_money_view() -> anyhow::Result<()> {
    licenses(TestBackend::Postgres).await
}
