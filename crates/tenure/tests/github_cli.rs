//! A GitHub organization through the binary, against the GitHub REST fake: `app add github-org`,
//! `app check` saying what happens to a joiner, `apply` inviting, `app users` and `report`
//! showing the invitation as "invited", and a second plan sending nothing.

mod common;

use common::Cli;
use tenure_testkit::github_fake::GitHubFake;
use tenure_testkit::{TestBackend, TestDb};

#[tokio::test]
async fn a_github_organization_invites_joiners_once() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let fake = GitHubFake::start("acme-corp", "ghp_cli").await?;
    fake.add_member("octocat", Some("octo@example.com"));
    let people = dir.path().join("people.csv");
    std::fs::write(
        &people,
        "employee_id,email,given_name,family_name,groups\nE1,ann@example.com,Ann,Lee,eng\nE2,octo@example.com,Octo,Cat,eng\n",
    )?;
    let token = dir.path().join("gh.token");
    std::fs::write(&token, "ghp_cli\n")?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap()]).await;
    cli.ok(&["sync"]).await;
    let api = fake.api_url();
    cli.ok(&[
        "app",
        "add",
        "github-org",
        "gh",
        "--org",
        "acme-corp",
        "--token-file",
        token.to_str().unwrap(),
        "--api-url",
        &api,
        "--rate-limit",
        "1000",
    ])
    .await;
    let check = cli.ok(&["app", "check", "gh"]).await;
    assert!(check.contains("1 members, 0 pending invitations"), "{check}");
    assert!(check.contains("email invitation to acme-corp") && check.contains("never sent twice"), "{check}");
    cli.ok(&["assign", "gh", "--group", "eng"]).await;

    let plan = cli.json(&["plan", "--json"]).await;
    let ops = plan["apps"][0]["ops"].as_array().cloned().unwrap_or_default();
    let kinds: Vec<(String, String)> = ops
        .iter()
        .map(|o| (o["person"].as_str().unwrap_or("").to_owned(), o["op"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert!(kinds.contains(&("ann@example.com".into(), "create".into())), "{plan}");
    assert!(kinds.contains(&("octo@example.com".into(), "link".into())), "the member is linked by email: {plan}");
    cli.ok(&["apply", "--yes"]).await;
    assert_eq!(fake.sent(), ["ann@example.com"]);

    let users = cli.json(&["app", "users", "gh", "--json"]).await;
    let ann = users.as_array().and_then(|u| u.iter().find(|r| r["person"] == "ann@example.com")).cloned();
    assert_eq!(ann.map(|a| a["class"].clone()), Some(serde_json::json!("invited")), "{users}");
    let plan = cli.json(&["plan", "--json"]).await;
    assert_eq!(plan["apps"][0]["ops"].as_array().map(Vec::len), Some(0), "{plan}");
    cli.ok(&["apply", "--yes"]).await;
    assert_eq!(fake.sent().len(), 1, "never invited twice");
    Ok(())
}
