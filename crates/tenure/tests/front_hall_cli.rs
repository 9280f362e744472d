//! The front hall through the binary: tenants made and listed explicitly (a mistyped
//! `--tenant` is an error naming the known ones), admins with roles (never without an org
//! admin), tokens that act as an admin, printed last and alone; and a running `tenure serve`
//! answering those tokens by role.

mod common;

use std::process::Stdio;

use common::Cli;
use serde_json::{Value, json};
use tenure_testkit::{TestBackend, TestDb};
use tokio::io::AsyncBufReadExt;

async fn in_acme(cli: &Cli<'_>, args: &[&str]) -> std::process::Output {
    let all: Vec<&str> = ["--tenant", "acme"].into_iter().chain(args.iter().copied()).collect();
    cli.run(&all).await
}

/// A token of the admin, as the last line `token create` prints.
async fn token_of(cli: &Cli<'_>, email: &str) -> String {
    let out = cli.ok(&["token", "create", "--admin", email]).await;
    out.lines().last().unwrap_or_default().trim().to_owned()
}

#[tokio::test]
async fn tenants_admins_and_tokens_from_the_command_line() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let home = tempfile::tempdir()?;
    let cli = Cli::new(db.url(), home.path());
    // The default tenant needs no set-up; any other must exist.
    cli.ok(&["admin", "list"]).await;
    let err = cli.fails(&["--tenant", "acne", "admin", "list"]).await;
    assert!(err.contains("tenant \"acne\"") && err.contains("default"), "{err}");
    cli.ok(&["tenant", "create", "acme"]).await;
    let err = cli.fails(&["tenant", "create", "acme"]).await;
    assert!(err.contains("already exists"), "{err}");
    let tenants = cli.json(&["tenant", "list", "--json"]).await;
    let names: Vec<&str> = tenants.as_array().expect("list").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["acme", "default"]);
    let err = cli.fails(&["--tenant", "acne", "sync"]).await;
    assert!(err.contains("acme, default"), "{err}");

    let out = in_acme(&cli, &["admin", "add", "ann@acme.example", "--role", "auditor"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let password = home.path().join("pw");
    std::fs::write(&password, "correct horse battery staple\n")?;
    let pw = password.to_str().unwrap_or_default();
    let out = in_acme(&cli, &["admin", "add", "boss@acme.example", "--role", "org-admin", "--password-file", pw]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = in_acme(&cli, &["admin", "add", "apps@acme.example", "--role", "app-admin"]).await;
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("at least one app"));
    let out = in_acme(&cli, &["admin", "remove", "boss@acme.example"]).await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("last org admin"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = in_acme(&cli, &["admin", "list", "--json"]).await;
    let admins: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(admins.as_array().map(Vec::len), Some(2), "{admins}");
    assert!(!admins.to_string().contains("horse"), "no password is shown");

    // A token of an admin: printed last, alone on its line.
    let out = in_acme(&cli, &["token", "create", "--admin", "ann@acme.example", "--expires-in", "90d"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token = stdout.lines().last().unwrap_or_default().trim().to_owned();
    assert!(token.starts_with("tnr_") && token.len() == 68, "{stdout}");
    let out = in_acme(&cli, &["token", "list", "--json"]).await;
    let tokens: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(tokens[0]["admin"], "ann@acme.example", "{tokens}");
    assert!(tokens[0]["expires_ms"].as_i64().is_some(), "{tokens}");
    assert!(!tokens.to_string().contains(&token), "listing never shows a token");
    let out = in_acme(&cli, &["audit", "--format", "jsonl"]).await;
    let audit = String::from_utf8_lossy(&out.stdout);
    assert!(
        audit.contains("\"admin.add\"") && audit.contains("\"token.create\"") && audit.contains("\"tenant.create\""),
        "{audit}"
    );
    let id = tokens[0]["id"].as_str().unwrap_or_default().to_owned();
    let out = in_acme(&cli, &["token", "revoke", &id]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

#[tokio::test]
async fn serve_answers_tokens_by_their_admins_role() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let home = tempfile::tempdir()?;
    let cli = Cli::new(db.url(), home.path());
    cli.ok(&["admin", "add", "auditor@x.example", "--role", "auditor"]).await;
    cli.ok(&["admin", "add", "boss@x.example", "--role", "org-admin"]).await;
    let auditor = token_of(&cli, "auditor@x.example").await;
    let boss = token_of(&cli, "boss@x.example").await;
    let app = tenure_sandbox::SandboxApp::spawn(tenure_sandbox::SandboxOptions {
        rate_limit_per_sec: None,
        ..tenure_sandbox::SandboxOptions::new(tenure_sandbox::Profile::Notion, "app-token")
    })
    .await?;

    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TENURE_DATABASE_URL", db.url())
        .env("TENURE_MASTER_KEYS", tenure_testkit::TEST_MASTER_KEYS)
        .env("XDG_DATA_HOME", home.path())
        .env_remove("TENURE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = serve.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line()).await??.unwrap_or_default();
    let base = first.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_default().to_owned();
    anyhow::ensure!(!base.is_empty(), "no address in {first:?}");

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let apps = format!("{base}/api/v1/apps");
    let body = json!({"name": "notion", "kind": "scim", "base_url": app.base_url(), "token": "app-token"});
    assert_eq!(http.post(&apps).bearer_auth(&auditor).json(&body).send().await?.status(), 403);
    assert_eq!(http.post(&apps).bearer_auth(&boss).json(&body).send().await?.status(), 201);
    let listed = http.get(&apps).bearer_auth(&auditor).send().await?;
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.json::<Value>().await?[0]["name"], "notion");
    let doc: Value = http.get(format!("{base}/api/v1/openapi.json")).send().await?.json().await?;
    assert!(doc["paths"]["/api/v1/apps"]["post"].is_object(), "{doc}");
    serve.kill().await?;
    Ok(())
}
