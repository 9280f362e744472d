//! `tenure keys` through the binary, once per backend: credentials stored in plain text without a
//! key (and said so), sealed once a key is configured, rotated from plain to k1 and from k1 to k2
//! (a key file this time), unreadable with a precise error when their key is gone; no credential
//! and no key ever appears in what the commands print.

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use tenure_testkit::{TestBackend, TestDb};

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

on_both_backends!(
    keys_status_and_rotate_never_print_a_secret,
    an_oauth_app_is_reached_with_tokens_from_its_authorization_server
);

// Test-only keys: 32 bytes of 0x01 and 0x02.
const K1: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const K2: &str = "k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

enum Keys<'a> {
    None,
    Inline(&'a str),
    File(&'a Path),
}

struct Cli<'a> {
    database_url: &'a str,
    home: &'a Path,
    /// Everything printed, checked for secrets at the end.
    seen: std::cell::RefCell<String>,
}

impl Cli<'_> {
    async fn run(&self, keys: &Keys<'_>, args: &[&str], token: Option<(&str, &str)>) -> Output {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenure"));
        cmd.args(args)
            .env("TENURE_DATABASE_URL", self.database_url)
            .env("XDG_DATA_HOME", self.home)
            .env_remove("TENURE_CONFIG")
            .env_remove("TENURE_APP_TOKEN")
            .env_remove("TENURE_MASTER_KEYS")
            .env_remove("TENURE_MASTER_KEY_FILE")
            .stdin(std::process::Stdio::null());
        if let Some((var, value)) = token {
            cmd.env(var, value);
        }
        match keys {
            Keys::None => {}
            Keys::Inline(list) => {
                cmd.env("TENURE_MASTER_KEYS", list);
            }
            Keys::File(path) => {
                cmd.env("TENURE_MASTER_KEY_FILE", path);
            }
        }
        let out = cmd.output().await.expect("run tenure");
        let mut seen = self.seen.borrow_mut();
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    async fn ok(&self, keys: &Keys<'_>, args: &[&str]) -> (String, String) {
        self.ok_with(keys, args, None).await
    }

    async fn ok_with(&self, keys: &Keys<'_>, args: &[&str], token: Option<(&str, &str)>) -> (String, String) {
        let out = self.run(keys, args, token).await;
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(out.status.success(), "tenure {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}");
        (stdout, stderr)
    }

    async fn fails(&self, keys: &Keys<'_>, args: &[&str]) -> String {
        let out = self.run(keys, args, None).await;
        assert!(!out.status.success(), "tenure {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

async fn keys_status_and_rotate_never_print_a_secret(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let home = tempfile::tempdir()?;
    let cli = Cli { database_url: db.url(), home: home.path(), seen: Default::default() };
    let slack_token = "xoxp-keys-cli-slack-token-5f1e";
    let notion_token = "secret_keys-cli-notion-token-9a3c";
    let add = |name: &'static str| ["app", "add", "scim", name, "--base-url", "http://127.0.0.1:9/scim/v2"];

    // No key: PostgreSQL refuses to store the credential and names the settings; SQLite
    // generates a key file beside the database and seals with it (a fresh database here).
    let fresh = TestDb::new(backend).await?;
    let first = Cli { database_url: fresh.url(), home: home.path(), seen: Default::default() };
    let out = first.run(&Keys::None, &add("slack"), Some(("TENURE_APP_TOKEN", slack_token))).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    match backend {
        TestBackend::Postgres => {
            assert!(!out.status.success(), "{stderr}");
            assert!(stderr.contains("TENURE_MASTER_KEYS") && stderr.contains("TENURE_MASTER_KEY_FILE"), "{stderr}");
        }
        TestBackend::Sqlite => {
            assert!(out.status.success(), "{stderr}");
            let (out, _) = first.ok(&Keys::None, &["keys", "status"]).await;
            assert!(out.contains("current key: local1") && out.contains("key local1: 1 credential"), "{out}");
        }
    }
    if backend == TestBackend::Postgres {
        let err = cli.fails(&Keys::None, &["keys", "rotate"]).await;
        assert!(err.contains("no master key configured"), "{err}");
    }

    // k1 configured: credentials are sealed under it.
    let k1 = Keys::Inline(K1);
    cli.ok_with(&k1, &add("slack"), Some(("TENURE_APP_TOKEN", slack_token))).await;
    cli.ok_with(&k1, &add("notion"), Some(("TENURE_APP_TOKEN", notion_token))).await;
    let (out, _) = cli.ok(&k1, &["keys", "status"]).await;
    assert!(out.contains("key k1: 2 credentials"), "{out}");
    let (out, _) = cli.ok(&k1, &["keys", "rotate"]).await;
    assert!(out.contains("re-encrypted 0 credentials under key k1; 2 already under it"), "{out}");

    // k2 from a key file, k1 kept after it until the rotation has run.
    let key_file = home.path().join("master.keys");
    std::fs::write(&key_file, format!("# current first\n{K2}\n{K1}\n"))?;
    let file = Keys::File(&key_file);
    let (out, _) = cli.ok(&file, &["keys", "rotate"]).await;
    assert!(out.contains("re-encrypted 2 credentials under key k2"), "{out}");
    let (out, _) = cli.ok(&Keys::Inline(K2), &["keys", "status", "--json"]).await;
    let status: Value = serde_json::from_str(out.trim())?;
    assert_eq!(status["current_key"], "k2");
    assert_eq!(
        status["credentials"],
        serde_json::json!([{"form": "sealed", "key_id": "k2", "count": 2, "configured": true}])
    );
    cli.ok(&Keys::Inline(K2), &["app", "list"]).await;

    // k2 gone: what needs it fails and names it; status still answers.
    let err = cli.fails(&k1, &["app", "list"]).await;
    assert!(err.contains("\"k2\"") && err.contains("not configured"), "{err}");
    let (_, stderr) = cli.ok(&k1, &["keys", "status"]).await;
    assert!(stderr.contains("k2 cannot be read"), "{stderr}");

    // A bad key list is refused before anything is read, without echoing it.
    let err = cli.fails(&Keys::Inline("k3:c2hvcnQ="), &["keys", "status"]).await;
    assert!(err.contains("\"k3\"") && err.contains("5 bytes") && !err.contains("c2hvcnQ"), "{err}");
    let out = cli.run(&Keys::Inline(K1), &["keys", "status"], None).await;
    assert!(out.status.success());
    let mut both = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenure"));
    both.args(["keys", "status"])
        .env("TENURE_DATABASE_URL", db.url())
        .env("XDG_DATA_HOME", home.path())
        .env("TENURE_MASTER_KEYS", K1)
        .env("TENURE_MASTER_KEY_FILE", &key_file);
    let out = both.output().await?;
    assert!(String::from_utf8_lossy(&out.stderr).contains("both"), "{out:?}");

    let mut seen = cli.seen.borrow().clone();
    seen.push_str(&first.seen.borrow());
    for secret in [slack_token, notion_token, &K1[3..], &K2[3..]] {
        assert!(!seen.contains(secret), "a secret was printed: {secret}\n{seen}");
    }
    Ok(())
}

async fn an_oauth_app_is_reached_with_tokens_from_its_authorization_server(backend: TestBackend) -> anyhow::Result<()> {
    use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
    use tenure_testkit::oauth_fake::{CLIENT_ID, CLIENT_SECRET, OAuthFake};

    let db = TestDb::new(backend).await?;
    let home = tempfile::tempdir()?;
    let cli = Cli { database_url: db.url(), home: home.path(), seen: Default::default() };
    let fake = OAuthFake::start(std::time::Duration::from_secs(3600), &["scim"]).await?;
    let app = SandboxApp::spawn(SandboxOptions {
        rate_limit_per_sec: None,
        ..SandboxOptions::new(Profile::Notion, "static-token-nobody-knows")
    })
    .await?;
    app.accept_tokens_from(fake.validator());
    let token_url = fake.token_url();
    let base_url = app.base_url();
    let add = |name: &'static str| {
        vec![
            "app",
            "add",
            "scim",
            name,
            "--base-url",
            base_url.as_str(),
            "--oauth-token-url",
            token_url.as_str(),
            "--client-id",
            CLIENT_ID,
            "--client-secret-env",
            "OAUTH_CLIENT_SECRET",
            "--scope",
            "scim",
        ]
    };
    let k1 = Keys::Inline(K1);
    cli.ok_with(&k1, &add("notion"), Some(("OAUTH_CLIENT_SECRET", CLIENT_SECRET))).await;
    cli.ok(&k1, &["app", "users", "notion"]).await;
    assert_eq!(fake.issued(), 1, "the app was reached with an OAuth token");
    let (out, _) = cli.ok(&k1, &["keys", "status"]).await;
    assert!(out.contains("key k1: 1 credential"), "{out}");

    // A wrong client secret: the app cannot be reached, and the error says why.
    cli.ok_with(&k1, &add("wrong"), Some(("OAUTH_CLIENT_SECRET", "not-the-client-secret"))).await;
    let err = cli.fails(&k1, &["app", "users", "wrong"]).await;
    assert!(err.contains("invalid_client"), "{err}");

    // Missing flags and variables are refused before anything is stored.
    let err = cli
        .fails(
            &k1,
            &["app", "add", "scim", "x", "--base-url", base_url.as_str(), "--oauth-token-url", token_url.as_str()],
        )
        .await;
    assert!(err.contains("--client-id"), "{err}");
    let err = cli.fails(&k1, &add("unset")).await;
    assert!(err.contains("OAUTH_CLIENT_SECRET") && err.contains("not set"), "{err}");

    let seen = cli.seen.borrow();
    assert!(!seen.contains(CLIENT_SECRET) && !seen.contains("not-the-client-secret"), "a secret was printed:\n{seen}");
    Ok(())
}
