//! `tenure audit` end to end through the binary, once per backend: after token creation, apps
//! added with credentials, an apply that succeeds, one whose operation the app refuses and one
//! the app refuses outright (wrong token), the exported log holds every operation, queryable by
//! person, app and action, and none of the secrets involved.

use serde_json::Value;
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_testkit::{TestBackend, TestDb};

mod common;
use common::Cli;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Postgres).await })*
        }
    };
}

on_both_backends!(the_audit_log_answers_by_person_app_and_action_and_holds_no_secret);

const PEOPLE: &str = "\
employee_id,email,given_name,family_name,department,status,groups
E1,ada@example.com,Ada,Lovelace,Engineering,active,eng
E2,bob.the.builder.the.second@example.com,Bob,Builder,Engineering,active,eng
E3,cy@example.com,Cy,Young,Sales,active,sales
";

async fn jsonl(cli: &Cli<'_>, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "--format", "jsonl"];
    all.extend_from_slice(args);
    cli.ok(&all)
        .await
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{all:?}: not JSON ({e}): {l}")))
        .collect()
}

fn actions(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{} {}", r["action"].as_str().unwrap_or("?"), r["subject"].as_str().unwrap_or("?")))
        .collect()
}

async fn the_audit_log_answers_by_person_app_and_action_and_holds_no_secret(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let dir = tempfile::tempdir()?;
    let cli = Cli::new(db.url(), dir.path());
    let app_token = format!("notion-secret-{}", tenure_server::tokens::generate());
    let slack_token = format!("xoxp-secret-{}", tenure_server::tokens::generate());
    let wrong_token = format!("wrong-secret-{}", tenure_server::tokens::generate());
    let unthrottled =
        |profile, token: &str| SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(profile, token) };
    let notion = SandboxApp::spawn(unthrottled(Profile::Notion, &app_token)).await?;
    let slack = SandboxApp::spawn(unthrottled(Profile::Slack, &slack_token)).await?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let wrong_token_file = dir.path().join("wrong-token");
    std::fs::write(&wrong_token_file, &wrong_token)?;

    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap()]).await;
    cli.ok(&["sync"]).await;
    let admin_token = cli.ok(&["token", "create", "--scope", "admin", "--label", "ops"]).await.trim().to_owned();
    assert!(admin_token.len() > 20, "{admin_token}");
    cli.ok(&["app", "add", "scim", "notion", "--base-url", &notion.base_url(), "--token", &app_token]).await;
    let slack_url = slack.base_url();
    cli.ok(&[
        "app",
        "add",
        "scim",
        "slack",
        "--base-url",
        &slack_url,
        "--token",
        &slack_token,
        "--user-name",
        "local-part",
    ])
    .await;
    let wrong_file = wrong_token_file.to_str().unwrap();
    cli.ok(&["app", "add", "scim", "broken", "--base-url", &notion.base_url(), "--token-file", wrong_file]).await;
    for app in ["notion", "slack", "broken"] {
        cli.ok(&["assign", app, "--group", "eng"]).await;
    }
    cli.ok(&["apply", "--app", "notion", "--yes"]).await;
    // Slack refuses a userName over 21 characters (Bob's local part, as no --user-name-max-len
    // shortens it): that operation fails with Slack's answer.
    let _ = cli.run(&["apply", "--app", "slack", "--yes"]).await;
    // The app refuses the token itself.
    let refused = cli.fails(&["apply", "--app", "broken", "--yes"]).await;
    assert!(refused.contains("401"), "{refused}");
    assert_eq!(notion.users().len(), 2, "the apply ran in notion");
    assert_eq!(slack.users().len(), 1, "and in slack, for one of the two");

    // Every row of the log, in both formats, carries none of the secrets.
    let everything = jsonl(&cli, &[]).await;
    let raw_jsonl = cli.ok(&["audit", "--format", "jsonl"]).await;
    let csv_path = dir.path().join("audit.csv");
    cli.ok(&["audit", "--format", "csv", "--output", csv_path.to_str().unwrap()]).await;
    let raw_csv = std::fs::read_to_string(&csv_path)?;
    let table = cli.ok(&["audit", "--limit", "1000"]).await;
    for secret in [&app_token, &slack_token, &wrong_token, &admin_token] {
        for (form, text) in [("jsonl", &raw_jsonl), ("csv", &raw_csv), ("table", &table)] {
            assert!(!text.contains(secret.as_str()), "a secret is in the {form} audit export:\n{text}");
        }
    }
    // ...and that is not because the log is empty: it holds the admin actions and every
    // operation, the failed ones with the app's refusal.
    let all_actions = actions(&everything);
    for expected in
        ["token.create admin", "app.add notion", "app.add broken", "assignment.set notion", "source.sync hr"]
    {
        assert!(all_actions.iter().any(|a| a == expected), "{expected} missing from {all_actions:?}");
    }
    let failed: Vec<&Value> = everything.iter().filter(|r| r["detail"]["error"].is_string()).collect();
    assert_eq!(failed.len(), 1, "{all_actions:?}");
    assert_eq!((&failed[0]["app"], &failed[0]["action"]), (&"slack".into(), &"account.create".into()));
    assert!(failed[0]["detail"]["error"].as_str().is_some_and(|e| e.contains("long_username")), "{}", failed[0]);
    let mut reader = csv::Reader::from_reader(raw_csv.as_bytes());
    assert_eq!(reader.records().count(), everything.len(), "CSV and JSON lines hold the same rows");

    // Queries: by app and action family, by person (either case), by time.
    let created = jsonl(&cli, &["--app", "notion", "--action", "account"]).await;
    let mut who: Vec<&str> = created.iter().filter_map(|r| r["subject"].as_str()).collect();
    who.sort_unstable();
    assert_eq!(who, ["ada@example.com", "bob.the.builder.the.second@example.com"], "{:?}", actions(&created));
    let ada = jsonl(&cli, &["--person", "ADA@example.com"]).await;
    let mut ada_apps: Vec<&str> = ada.iter().filter_map(|r| r["app"].as_str()).collect();
    ada_apps.sort_unstable();
    assert_eq!(ada_apps, ["notion", "slack"], "{:?}", actions(&ada));
    assert_eq!(jsonl(&cli, &["--since", "1h"]).await.len(), everything.len());
    assert!(jsonl(&cli, &["--until", "1h"]).await.is_empty());
    assert_eq!(jsonl(&cli, &["--actor", "cli", "--action", "app.add", "--limit", "1"]).await.len(), 1);
    assert_eq!(actions(&jsonl(&cli, &["--action", "token.create"]).await), ["token.create admin"]);

    // Bad input: a precise error, and no file where a complete one was expected.
    let err = cli.fails(&["audit", "--since", "last week"]).await;
    assert!(err.contains("since=\"last week\": not an RFC 3339 time"), "{err}");
    let err = cli.fails(&["audit", "--cursor", "nope"]).await;
    assert!(err.contains("invalid audit cursor \"nope\""), "{err}");
    let missing_dir = dir.path().join("no-such-dir").join("audit.jsonl");
    let err = cli.fails(&["audit", "--format", "jsonl", "--output", missing_dir.to_str().unwrap()]).await;
    assert!(err.contains("--output"), "{err}");
    assert!(!missing_dir.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    notion.shutdown().await;
    slack.shutdown().await;
    Ok(())
}
