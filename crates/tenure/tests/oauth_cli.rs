//! `tenure app add scim --oauth-flow authorization-code`, `tenure app authorize` and
//! `tenure app verify` through the binary, with the callback served by a server on the same
//! database and the consent given at testkit's authorization server fake.

mod common;

use common::Cli;
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_testkit::oauth_fake::{CLIENT_ID, CLIENT_SECRET, OAuthFake};
use tenure_testkit::{TestBackend, TestDb};

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn an_app_is_added_authorized_in_a_browser_and_verified() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let home = tempfile::tempdir()?;
    let cli = Cli::new(db.url(), home.path()).with_env("OAUTH_CLIENT_SECRET", CLIENT_SECRET);
    let fake = OAuthFake::start(std::time::Duration::from_secs(3600), &["scim"]).await?;
    let app = SandboxApp::spawn(SandboxOptions {
        rate_limit_per_sec: None,
        ..SandboxOptions::new(Profile::Notion, "static-token-nobody-knows")
    })
    .await?;
    app.accept_tokens_from(fake.validator());
    let (base_url, token_url, authorize_url) = (app.base_url(), fake.token_url(), fake.authorize_url());
    let add = |name: &str, authorize: Option<&str>| -> Vec<String> {
        let mut args = vec!["app", "add", "scim", name, "--base-url", &base_url, "--oauth-token-url", &token_url];
        args.extend(["--client-id", CLIENT_ID, "--client-secret-env", "OAUTH_CLIENT_SECRET", "--scope", "scim"]);
        args.extend(["--oauth-flow", "authorization-code"]);
        if let Some(url) = authorize {
            args.extend(["--oauth-authorize-url", url]);
        }
        args.into_iter().map(str::to_owned).collect()
    };
    let e = cli.fails(&strs(&add("broken", None))).await;
    assert!(e.contains("--oauth-authorize-url"), "{e}");
    cli.ok(&strs(&add("notion", Some(&authorize_url)))).await;

    // Not authorized yet: verify says what to do, and fails.
    let out = cli.run(&["app", "verify", "notion"]).await;
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("not been authorized") && text.contains("tenure app authorize notion"), "{text}");

    // The callback is `tenure serve`'s; here a server in this process on the same database.
    let store = tenure_store::Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let public = format!("http://{}", listener.local_addr()?);
    let state = tenure_server::ServerState::new(store.clone()).with_public_url(public.clone());
    tokio::spawn(tenure_server::serve(listener, state, std::future::pending::<()>()));

    let start = cli.json(&["app", "authorize", "notion", "--public-url", &public, "--json"]).await;
    let url = start["authorize_url"].as_str().unwrap_or_default().to_owned();
    assert!(url.starts_with(&authorize_url) && url.contains("code_challenge_method=S256"), "{start}");
    assert_eq!(start["redirect_uri"], format!("{public}/oauth/callback"));
    let human = cli.ok(&["app", "authorize", "notion", "--public-url", &public]).await;
    assert!(human.contains("Open this URL") && human.contains(&authorize_url), "{human}");

    let _ = rustls::crypto::ring::default_provider().install_default();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let at_server = browser.get(&url).send().await?;
    assert_eq!(at_server.status(), 302);
    let back = at_server.headers()["location"].to_str()?.to_owned();
    let page = browser.get(&back).send().await?;
    assert_eq!(page.status(), 200, "{}", page.text().await?);

    let verdict = cli.json(&["app", "verify", "notion", "--json"]).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["grant"]["authorized_by"], "cli");
    cli.ok(&["app", "users", "notion"]).await;
    assert!(fake.issued() >= 1);
    Ok(())
}
