//! Choosing a channel's events through the binary, end to end with a real SMTP server
//! (`aiosmtpd`): `tenure notify add ... --events` sends only those, an unknown name is refused
//! with the known ones, `tenure notify set NAME --all-events` widens a channel; a source guard's
//! refusal reaches the channels that send it, once per refused file.

mod common;

use std::time::Duration;

use common::Cli;
use tenure_testkit::{SmtpServer, TestBackend, TestDb, eventually};

const PEOPLE: &str = "\
employee_id,email,given_name,family_name
E1,ann@example.com,Ann,Lee
E2,mia@example.com,Mia,Boss
E3,bob@example.com,Bob,Stay
E4,eve@example.com,Eve,Long
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_sends_the_events_it_was_given() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let smtp = SmtpServer::start().await?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap(), "--guard-min-share", "50"]).await;
    cli.ok(&["sync"]).await;

    let smtp_url = smtp.url();
    let email = |name: &'static str, to: &'static str, events: Option<&'static str>| {
        let mut args = vec!["notify", "add", "email", name, "--smtp-url", &smtp_url, "--from", "tenure@example.com"];
        args.extend(["--to", to]);
        if let Some(events) = events {
            args.extend(["--events", events]);
        }
        args.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let cli_ref = &cli;
    let run =
        |args: Vec<String>| async move { cli_ref.run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await };

    let refused = run(email("bad", "it@example.com", Some("source.guard_refused,offboarding.finished"))).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("offboarding.finished") && stderr.contains("offboarding.done, onboarding.ready"),
        "{stderr}"
    );

    let added = run(email("guard", "it@example.com", Some("source.guard_refused"))).await;
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    assert!(String::from_utf8_lossy(&added.stdout).contains("sends source.guard_refused"));
    assert!(run(email("tasks", "owner@example.com", Some("task.*"))).await.status.success());
    let list = cli.ok(&["notify", "list"]).await;
    assert!(list.contains("sends source.guard_refused") && list.contains("sends task.*"), "{list}");
    assert!(!list.contains("bad"), "{list}");
    assert!(cli.ok(&["notify", "events"]).await.contains("task.escalated"));

    // A broken export (one person of four): refused, told through `guard` only.
    std::fs::write(&people, "employee_id,email\nE1,ann@example.com\n")?;
    let stderr = cli.fails(&["sync", "hr"]).await;
    assert!(stderr.contains("guard") || stderr.contains("force"), "{stderr}");
    let told = eventually(Duration::from_secs(10), || async {
        smtp.messages().into_iter().find(|m| m.text.contains("Subject: Sync of hr refused"))
    })
    .await?;
    eprintln!("----- received by aiosmtpd -----\n{}\n-----", told.text);
    assert_eq!(told.rcpt_to, ["it@example.com"]);
    let body = told.text.replace("=\r\n", "").replace("=\n", "");
    assert!(body.contains("tenure sync hr --force"), "{}", told.text);
    let channels = cli.json(&["notify", "list", "--json"]).await;
    let sent = |name: &str| {
        channels
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| (c["sent"].clone(), c["pending"].clone()))
    };
    assert_eq!(sent("guard"), Some((1.into(), 0.into())), "{channels}");
    assert_eq!(sent("tasks"), Some((0.into(), 0.into())), "the task channel does not carry it: {channels}");

    // Widened to every event: the same file again is not told again; another bad file is, to both.
    let set = cli.ok(&["notify", "set", "tasks", "--all-events"]).await;
    assert!(set.contains("sends every event"), "{set}");
    cli.fails(&["notify", "set", "tasks", "--events", "nope"]).await;
    cli.fails(&["sync", "hr"]).await;
    std::fs::write(&people, "employee_id,email\nE2,mia@example.com\n")?;
    cli.fails(&["sync", "hr"]).await;
    let messages = eventually(Duration::from_secs(10), || async {
        let m: Vec<_> =
            smtp.messages().into_iter().filter(|m| m.text.contains("Subject: Sync of hr refused")).collect();
        (m.len() == 3).then_some(m)
    })
    .await?;
    let mut to: Vec<String> = messages.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    assert_eq!(to, ["it@example.com", "it@example.com", "owner@example.com"]);
    Ok(())
}
