//! Box and Dropbox through the binary, against the fakes of their APIs: `app add box|dropbox`
//! (delete needs its confirmation), `app check`, `apply` creating joiners and linking an
//! existing account by email, a leaver deactivated (Box `inactive`, Dropbox suspended), and a
//! second plan with nothing to do.

mod common;

use common::Cli;
use tenure_testkit::box_fake::BoxFake;
use tenure_testkit::dropbox_fake::DropboxFake;
use tenure_testkit::{TestBackend, TestDb};

const PEOPLE: &str =
    "employee_id,email,given_name,family_name,groups\nE1,ann@example.com,Ann,Lee,eng\nE2,bob@example.com,Bob,Ray,eng\n";
const BOB_LEFT: &str = "employee_id,email,given_name,family_name,groups,status\nE1,ann@example.com,Ann,Lee,eng,active\nE2,bob@example.com,Bob,Ray,eng,suspended\n";

async fn life_cycle(kind: &str, api_url: &str, token: &str) -> anyhow::Result<(TestDb, tempfile::TempDir)> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let token_file = dir.path().join("app.token");
    std::fs::write(&token_file, format!("{token}\n"))?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap()]).await;
    cli.ok(&["sync"]).await;
    let tf = token_file.to_str().unwrap();
    let err = cli
        .fails(&["app", "add", kind, "app", "--token-file", tf, "--api-url", api_url, "--deprovision", "delete"])
        .await;
    assert!(err.contains("--confirm-permanent-delete"), "{err}");
    cli.ok(&["app", "add", kind, "app", "--token-file", tf, "--api-url", api_url]).await;
    // Two accounts: the default 10% would hold the one leaver.
    cli.ok(&["app", "edit", "app", "--guard-percent", "100"]).await;
    let check = cli.ok(&["app", "check", "app"]).await;
    assert!(check.contains("verified:   1 users, 1 active"), "{check}");
    // Compared with its catalog entry: what the connector declares and the app's pace.
    assert!(check.contains("profile against the connector:") && check.contains(" 0 differences"), "{check}");
    cli.ok(&["assign", "app", "--group", "eng"]).await;
    let plan = cli.json(&["plan", "--json"]).await;
    let ops: Vec<(String, String)> = plan["apps"][0]["ops"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|o| (o["person"].as_str().unwrap_or("").to_owned(), o["op"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert!(ops.contains(&("ann@example.com".into(), "create".into())), "{plan}");
    assert!(ops.contains(&("bob@example.com".into(), "link".into())), "{plan}");
    cli.ok(&["apply", "--yes"]).await;
    std::fs::write(&people, BOB_LEFT)?;
    cli.ok(&["sync"]).await;
    cli.ok(&["apply", "--yes"]).await;
    let plan = cli.json(&["plan", "--json"]).await;
    assert_eq!(plan["apps"][0]["ops"].as_array().map(Vec::len), Some(0), "{plan}");
    Ok((db, dir))
}

#[tokio::test]
async fn box_users_are_created_linked_and_set_inactive() -> anyhow::Result<()> {
    let fake = BoxFake::start("box-cli").await?;
    fake.add_user("bob@example.com", "Bob Ray");
    let _kept = life_cycle("box", &fake.base_url(), "box-cli").await?;
    assert_eq!(fake.user("ann@example.com").map(|u| u.status), Some("active".into()));
    assert_eq!(fake.user("bob@example.com").map(|u| u.status), Some("inactive".into()), "Bob left");
    Ok(())
}

#[tokio::test]
async fn dropbox_members_are_added_linked_and_suspended() -> anyhow::Result<()> {
    let fake = DropboxFake::start("dbx-cli").await?;
    fake.add_member("bob@example.com", "active");
    let _kept = life_cycle("dropbox", &fake.base_url(), "dbx-cli").await?;
    assert_eq!(fake.member("ann@example.com").map(|m| m.status), Some("invited".into()), "Ann was invited");
    assert_eq!(fake.member("bob@example.com").map(|m| m.status), Some("suspended".into()), "Bob left, data kept");
    Ok(())
}

/// `tenure plan` then `tenure apply` inside the app's minimum interval between full reads
/// (Adobe's lock-out): the apply reads nothing, applies nothing, says when the list may be read
/// again and fails, instead of reporting "nothing to do".
#[tokio::test]
async fn apply_within_the_list_interval_reads_nothing_and_says_when() -> anyhow::Result<()> {
    let fake = BoxFake::start("box-paced").await?;
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let token_file = dir.path().join("app.token");
    std::fs::write(&token_file, "box-paced\n")?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap_or_default()]).await;
    cli.ok(&["sync"]).await;
    let (tf, api) = (token_file.to_str().unwrap_or_default(), fake.base_url());
    cli.ok(&["app", "add", "box", "app", "--token-file", tf, "--api-url", &api]).await;
    cli.ok(&["app", "edit", "app", "--min-list-interval", "2h"]).await;
    cli.ok(&["assign", "app", "--group", "eng"]).await;
    let plan = cli.ok(&["plan"]).await;
    assert!(plan.contains("create"), "{plan}");
    let read = fake.request_count();

    let out = cli.run(&["apply", "--yes"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("app: not applied:") && stdout.contains("the next full read is allowed at 20"), "{stdout}");
    assert!(!stdout.contains("Nothing to do"), "{stdout}");
    assert_eq!(fake.request_count(), read, "the apply sent Box nothing");
    assert!(fake.users().is_empty());
    let json = cli.run(&["apply", "--yes", "--json"]).await;
    let report: serde_json::Value = serde_json::from_slice(&json.stdout)?;
    assert_eq!(report["refused"][0]["app"], "app", "{report}");
    Ok(())
}
