//! Issue 22's acceptance scenario through the binary: a SCIM app that answers the first 20 users
//! whatever `startIndex` asks, holding 45 users Tenure provisioned. `tenure app users APP --json`
//! lists all 45 (read by userName partitions, where the app filters) or fails with an error
//! naming the app's fault (where it does not), never 20; `tenure plan --json` proposes no create
//! for them either way; `app check` finds the fault without writing, and `ops status` and the
//! report say why the app is not planned.

mod common;

use common::Cli;
use serde_json::Value;
use tenure_sandbox::{Misbehaviour, Profile, SandboxApp, SandboxOptions};
use tenure_testkit::{TestBackend, TestDb};

const TOKEN: &str = "untrusted-app-token";
const FIRST: [&str; 9] = ["ann", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"];
const LAST: [&str; 5] = ["smith", "jones", "okafor", "muller", "tanaka"];

fn people_csv() -> String {
    let mut csv = String::from("employee_id,email,given_name,family_name,groups\n");
    let mut n = 0;
    for first in FIRST {
        for last in LAST {
            n += 1;
            csv.push_str(&format!("E{n:03},{first}.{last}@example.com,{first},{last},staff\n"));
        }
    }
    csv
}

fn creates(plan: &Value) -> usize {
    plan["apps"].as_array().map_or(0, |apps| {
        apps.iter()
            .flat_map(|a| a["ops"].as_array().cloned().unwrap_or_default())
            .filter(|o| o["op"] == "create")
            .count()
    })
}

#[tokio::test]
async fn an_app_that_ignores_start_index_is_never_read_as_20_users() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let app =
        SandboxApp::spawn(SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, TOKEN) })
            .await?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, people_csv())?;
    let token = dir.path().join("app.token");
    std::fs::write(&token, TOKEN)?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap()]).await;
    cli.ok(&["sync"]).await;
    let base = app.base_url();
    cli.ok(&["app", "add", "scim", "flaky", "--base-url", &base, "--token-file", token.to_str().unwrap()]).await;
    cli.ok(&["assign", "flaky", "--group", "staff"]).await;
    let applied = cli.json(&["apply", "--yes", "--json"]).await;
    assert_eq!(applied["apps"][0]["succeeded"]["create"], 45, "{applied}");
    assert_eq!(app.user_count(), 45);

    // From now on: the first 20 users whatever startIndex asks.
    app.set_misbehaviour(Misbehaviour { ignore_start_index: true, silent_count_cap: Some(20), ..Default::default() });

    // The app filters: its list is read by userName prefixes, each partition adding up.
    let users = cli.json(&["app", "users", "flaky", "--json"]).await;
    assert_eq!(users.as_array().map(Vec::len), Some(45), "{users}");
    let plan = cli.json(&["plan", "--json"]).await;
    assert_eq!(creates(&plan), 0, "{plan}");
    assert!(plan["apps"][0]["refused"].is_null(), "{plan}");

    // It stops filtering too: no way to read it whole, so an error, and a plan that refuses it.
    app.set_misbehaviour(Misbehaviour {
        ignore_start_index: true,
        silent_count_cap: Some(20),
        ignore_filters: true,
        ..Default::default()
    });
    let error = cli.fails(&["app", "users", "flaky", "--json"]).await;
    assert!(error.contains("ignores startIndex"), "{error}");
    let plan = cli.json(&["plan", "--json"]).await;
    assert_eq!(creates(&plan), 0, "{plan}");
    let refused = plan["apps"][0]["refused"].as_str().unwrap_or_default();
    assert!(refused.contains("ignores startIndex"), "{plan}");
    let status = cli.json(&["ops", "status", "--json"]).await;
    let failing = status["failing_apps"][0]["last_error"].as_str().unwrap_or_default();
    assert!(failing.contains("ignores startIndex"), "{status}");

    // app check finds it without writing, and the stored profile refuses the app from then on.
    // (Its one PATCH goes to an id no app holds, to tell "no PATCH" from "no such user".)
    let before = format!("{:?}", app.users());
    let check = cli.json(&["app", "check", "flaky", "--json"]).await;
    assert_eq!(format!("{:?}", app.users()), before, "app check changed the app");
    let found = check["incompatibilities"].to_string();
    assert!(found.contains("paging broken") && found.contains("refuses to plan"), "{check}");
    assert_eq!(check["capabilities"]["paging"]["checked"], "no", "{check}");
    let status = cli.json(&["ops", "status", "--json"]).await;
    assert_eq!(status["refused_apps"][0]["app"], "flaky", "{status}");
    let text = cli.ok(&["ops", "status"]).await;
    assert!(text.contains("flaky: not planned"), "{text}");
    let report = cli.json(&["report", "--format", "json"]).await;
    let rows = report.as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 45, "{report}");
    assert!(rows.iter().all(|r| r["class"] == "unread"), "{report}");
    let plan = cli.json(&["plan", "--json"]).await;
    assert_eq!(creates(&plan), 0, "{plan}");

    // Fixed app, checked again: planned as before, in step.
    app.set_misbehaviour(Misbehaviour::default());
    let check = cli.json(&["app", "check", "flaky", "--json"]).await;
    assert_eq!(check["capabilities"]["paging"]["checked"], "yes", "{check}");
    let plan = cli.json(&["plan", "--json"]).await;
    assert_eq!(plan["apps"][0]["observed_accounts"], 45, "{plan}");
    assert_eq!(creates(&plan), 0, "{plan}");
    app.shutdown().await;
    Ok(())
}
