//! `tenure apply --plan ID`: a saved plan is applied exactly as saved, or not at all. Against
//! scim2-server on both backends: a plan whose apps moved since it was saved is refused, naming
//! the difference, and nothing is queued; once they give the same plan again it is applied (the
//! leaver's deactivation through the guard), audited with its id, and only once. Against the
//! Box fake with a minimum interval between full reads (Adobe's lock-out): the saved plan is
//! checked against the read it kept, and applied without reading the list again.

mod common;

use common::Cli;
use serde_json::Value;
use tenure_testkit::box_fake::BoxFake;
use tenure_testkit::{Scim2Server, TestBackend, TestDb};

const THREE: &str = "employee_id,email,given_name,family_name,groups,status\n\
E1,ann@example.com,Ann,Lee,eng,active\nE2,bob@example.com,Bob,Ray,eng,active\nE3,cy@example.com,Cy,Young,eng,active\n";
const BOB_LEFT: &str = "employee_id,email,given_name,family_name,groups,status\n\
E1,ann@example.com,Ann,Lee,eng,active\nE2,bob@example.com,Bob,Ray,eng,suspended\nE3,cy@example.com,Cy,Young,eng,active\n";
const BOB_AND_CY_LEFT: &str = "employee_id,email,given_name,family_name,groups,status\n\
E1,ann@example.com,Ann,Lee,eng,active\nE2,bob@example.com,Bob,Ray,eng,suspended\nE3,cy@example.com,Cy,Young,eng,suspended\n";

/// Saves a plan; its id, from what `plan --save` prints.
async fn save(cli: &Cli<'_>, app: &str) -> String {
    let out = cli.run(&["plan", "--save", "--app", app]).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
        .split("saved as plan ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no plan id in {stderr}"))
}

fn active(users: &Value, email: &str) -> Option<bool> {
    users.as_array()?.iter().find(|u| u["user_name"] == email)?["active"].as_bool()
}

async fn applied_exactly_or_refused(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let server = Scim2Server::start().await?;
    let dir = tempfile::tempdir()?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, THREE)?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap_or_default()]).await;
    cli.ok(&["sync"]).await;
    cli.ok(&["app", "add", "scim", "peer", "--base-url", server.base_url(), "--token", server.token()]).await;
    cli.ok(&["app", "edit", "peer", "--guard-percent", "100"]).await;
    cli.ok(&["assign", "peer", "--group", "eng"]).await;
    cli.ok(&["apply", "--yes"]).await;

    std::fs::write(&people, BOB_LEFT)?;
    cli.ok(&["sync"]).await;
    let id = save(&cli, "peer").await;
    let shown = cli.json(&["plan", "show", &id, "--json"]).await;
    assert_eq!(shown["ops"].as_array().map(Vec::len), Some(1), "only Bob's deactivation: {shown}");

    // Cy leaves too after the review: the plan now differs, so nothing is applied.
    std::fs::write(&people, BOB_AND_CY_LEFT)?;
    cli.ok(&["sync"]).await;
    let err = cli.fails(&["apply", "--plan", &id, "--yes"]).await;
    assert!(err.contains(&format!("plan {id} was not applied")), "{err}");
    assert!(err.contains("peer: deactivate of cy@example.com is planned now, not in the saved plan"), "{err}");
    let users = cli.json(&["app", "users", "peer", "--json"]).await;
    assert_eq!(active(&users, "bob@example.com"), Some(true), "nothing was queued: {users}");
    let shown = cli.json(&["plan", "show", &id, "--json"]).await;
    assert_eq!(shown["plan"]["status"], "preview", "still applicable: {shown}");

    // Cy is back: the apps give the saved plan again, and exactly it is applied.
    std::fs::write(&people, BOB_LEFT)?;
    cli.ok(&["sync"]).await;
    let report = cli.json(&["apply", "--plan", &id, "--yes", "--json"]).await;
    assert_eq!(report["saved_plan"], id.as_str(), "{report}");
    assert_eq!(report["apps"][0]["succeeded"]["deactivate"], 1, "{report}");
    let queued = report["plan_id"].as_str().expect("queued plan").to_owned();
    assert_ne!(queued, id);
    let users = cli.json(&["app", "users", "peer", "--json"]).await;
    assert_eq!(active(&users, "bob@example.com"), Some(false), "{users}");
    assert_eq!(active(&users, "cy@example.com"), Some(true), "{users}");
    let shown = cli.json(&["plan", "show", &id, "--json"]).await;
    assert_eq!(shown["plan"]["status"], "applied_saved", "{shown}");
    let audit = cli.ok(&["audit", "--action", "plan.apply_saved", "--format", "jsonl"]).await;
    assert!(audit.contains(&id) && audit.contains(&queued), "{audit}");

    // Once only.
    let err = cli.fails(&["apply", "--plan", &id, "--yes"]).await;
    assert!(err.contains("only a plan saved with `tenure plan --save` and not yet applied"), "{err}");
    let err = cli.fails(&["apply", "--plan", "not-a-plan", "--yes"]).await;
    assert!(err.contains("plan id \"not-a-plan\""), "{err}");

    // An app whose list may be read only so often is checked against the read kept with its
    // saved plan, and Tenure's own writes to it since that read are differences: the read
    // cannot show them.
    cli.ok(&["app", "edit", "peer", "--min-list-interval", "2h"]).await;
    let kept = save(&cli, "peer").await;
    cli.ok(&["offboard", "ann@example.com", "--yes"]).await;
    let err = cli.fails(&["apply", "--plan", &kept, "--yes"]).await;
    assert!(err.contains(&format!("peer: deactivate of ann@example.com is succeeded since plan {kept} read")), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_saved_plan_is_applied_exactly_or_refused_on_sqlite() -> anyhow::Result<()> {
    applied_exactly_or_refused(TestBackend::Sqlite).await
}

#[tokio::test]
async fn a_saved_plan_is_applied_exactly_or_refused_on_postgres() -> anyhow::Result<()> {
    applied_exactly_or_refused(TestBackend::Postgres).await
}

const TWO: &str =
    "employee_id,email,given_name,family_name,groups\nE1,ann@example.com,Ann,Lee,eng\nE2,bob@example.com,Bob,Ray,eng\n";
const TWO_AND_CY: &str = "employee_id,email,given_name,family_name,groups\nE1,ann@example.com,Ann,Lee,eng\nE2,bob@example.com,Bob,Ray,eng\nE3,cy@example.com,Cy,Young,eng\n";

/// Inside the app's minimum interval between full reads, a plain apply is refused (it would
/// have to read the list again); the saved plan is checked against the read it kept, refused
/// while the directory differs, and applied without reading the list.
async fn applied_from_its_read(backend: TestBackend) -> anyhow::Result<()> {
    let fake = BoxFake::start("box-saved").await?;
    fake.add_user("bob@example.com", "Bob Ray");
    let db = TestDb::new(backend).await?;
    let dir = tempfile::tempdir()?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, TWO)?;
    let token_file = dir.path().join("app.token");
    std::fs::write(&token_file, "box-saved\n")?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap_or_default()]).await;
    cli.ok(&["sync"]).await;
    let (tf, api) = (token_file.to_str().unwrap_or_default(), fake.base_url());
    cli.ok(&["app", "add", "box", "app", "--token-file", tf, "--api-url", &api]).await;
    cli.ok(&["app", "edit", "app", "--min-list-interval", "2h"]).await;
    cli.ok(&["assign", "app", "--group", "eng"]).await;
    let id = save(&cli, "app").await;

    let out = cli.run(&["apply", "--yes"]).await;
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stdout).contains("the next full read is allowed"));

    std::fs::write(&people, TWO_AND_CY)?;
    cli.ok(&["sync"]).await;
    let err = cli.fails(&["apply", "--plan", &id, "--yes"]).await;
    assert!(err.contains("app: create of cy@example.com is planned now, not in the saved plan"), "{err}");
    // `plan diff` compares against the same kept read.
    let diff = cli.json(&["plan", "diff", &id, "--json"]).await;
    assert_eq!(diff["added"].as_array().map(Vec::len), Some(1), "{diff}");
    assert_eq!(diff["added"][0]["person"], "cy@example.com", "{diff}");

    std::fs::write(&people, TWO)?;
    cli.ok(&["sync"]).await;
    let before = fake.request_count();
    let report = cli.json(&["apply", "--plan", &id, "--yes", "--json"]).await;
    assert_eq!(report["apps"][0]["succeeded"]["create"], 1, "{report}");
    assert_eq!(report["apps"][0]["succeeded"]["link"], 1, "{report}");
    assert!(fake.user("ann@example.com").is_some());
    // Ann's create, after the worker's lookup of her login (`filter_term`), and no read of the
    // full list.
    assert_eq!(fake.request_count() - before, 2, "{report}");
    Ok(())
}

#[tokio::test]
async fn a_saved_plan_is_checked_against_its_read_inside_the_list_interval_on_sqlite() -> anyhow::Result<()> {
    applied_from_its_read(TestBackend::Sqlite).await
}

#[tokio::test]
async fn a_saved_plan_is_checked_against_its_read_inside_the_list_interval_on_postgres() -> anyhow::Result<()> {
    applied_from_its_read(TestBackend::Postgres).await
}
