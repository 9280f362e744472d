//! `tenure offboard EMAIL --successor EMAIL2` through the binary, against the independent
//! `scim2-server` (tiers as SCIM entitlements), once per backend: the preview says "seat pro goes
//! to" the successor; `--yes` deactivates the leaver and gives the successor, who has no account,
//! the seat before it returns (a person-level assignment with the license, first in the pool's
//! line ahead of whoever waited); an unknown successor, or the leaver, is refused and changes
//! nothing. `tenure license pools --json` shows each pool's `freed_to`.

mod common;

use common::Cli;
use serde_json::Value;
use tenure_testkit::{Scim2Server, TestBackend, TestDb};

const PEOPLE: &str = "\
employee_id,email,given_name,family_name,department
E1,ann@example.com,Ann,Lee,Sales
E2,bob@example.com,Bob,Stay,Sales
E3,cy@example.com,Cy,Wait,Eng
E4,di@example.com,Di,Next,Sales
";

async fn peer_users(peer: &Scim2Server) -> anyhow::Result<Vec<Value>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let list: Value = reqwest::Client::new()
        .get(format!("{}/Users", peer.base_url()))
        .bearer_auth(peer.token())
        .send()
        .await?
        .json()
        .await?;
    Ok(list["Resources"].as_array().cloned().unwrap_or_default())
}

fn tier_of(users: &[Value], user_name: &str) -> Option<(bool, String)> {
    let u = users.iter().find(|u| u["userName"] == user_name)?;
    let tier = u["entitlements"][0]["value"].as_str().unwrap_or_default().to_owned();
    Some((u["active"].as_bool().unwrap_or(true), tier))
}

async fn successor(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let dir = tempfile::tempdir()?;
    let peer = Scim2Server::start().await?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap()]).await;
    cli.ok(&["sync"]).await;
    cli.ok(&[
        "app",
        "add",
        "scim",
        "peer",
        "--base-url",
        peer.base_url(),
        "--token",
        peer.token(),
        "--guard-percent",
        "100",
    ])
    .await;
    cli.ok(&[
        "license",
        "set",
        "peer",
        "--tier",
        "pro",
        "--seats",
        "2",
        "--cost-per-seat",
        "12",
        "--freed-to",
        "department",
    ])
    .await;
    let pools = cli.json(&["license", "pools", "--json"]).await;
    assert_eq!(pools[0]["freed_to"], "department", "{pools}");
    let bad = cli
        .fails(&[
            "license",
            "set",
            "peer",
            "--tier",
            "pro",
            "--seats",
            "2",
            "--cost-per-seat",
            "12",
            "--freed-to",
            "floor",
        ])
        .await;
    assert!(bad.contains("freed_to") && bad.contains("line, department or team"), "{bad}");
    for who in ["ann@example.com", "bob@example.com", "cy@example.com"] {
        cli.ok(&["assign", "peer", "--person", who, "--license", "pro"]).await;
    }
    cli.ok(&["apply", "--yes"]).await;
    let line = cli.json(&["license", "waiting", "--json"]).await;
    assert_eq!(line[0]["person"], "cy@example.com", "{line}");

    for (bad, says) in
        [("nobody@example.com", "nobody with the email"), ("ann@example.com", "is the person offboarded")]
    {
        let err = cli.fails(&["offboard", "ann@example.com", "--yes", "--successor", bad]).await;
        assert!(err.contains("successor") && err.contains(says), "{err}");
    }
    let users = peer_users(&peer).await?;
    assert_eq!(tier_of(&users, "ann@example.com"), Some((true, "pro".into())), "nothing done: {users:?}");

    let preview = cli.ok(&["offboard", "ann@example.com", "--preview", "--successor", "di@example.com"]).await;
    assert!(preview.contains("seat pro goes to di@example.com"), "{preview}");
    assert!(preview.contains("successor: di@example.com"), "{preview}");

    let done = cli.json(&["offboard", "ann@example.com", "--yes", "--successor", "di@example.com", "--json"]).await;
    assert_eq!(done["successor"], "di@example.com", "{done}");
    let step = done["apps"].as_array().unwrap().iter().find(|s| s["action"] == "successor").expect("successor step");
    assert_eq!(step["outcome"], "done", "{done}");
    let users = peer_users(&peer).await?;
    assert_eq!(tier_of(&users, "di@example.com"), Some((true, "pro".into())), "{users:?}");
    assert!(tier_of(&users, "ann@example.com").is_none_or(|(active, _)| !active), "{users:?}");
    let line = cli.json(&["license", "waiting", "--json"]).await;
    assert_eq!(line.as_array().map(Vec::len), Some(1), "{line}");
    assert_eq!(line[0]["person"], "cy@example.com", "Cy still waits: {line}");
    let audit = cli.ok(&["audit", "--action", "license.successor"]).await;
    assert!(audit.contains("di@example.com"), "{audit}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_offboard_with_a_successor() -> anyhow::Result<()> {
    successor(TestBackend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_offboard_with_a_successor() -> anyhow::Result<()> {
    successor(TestBackend::Postgres).await
}
