//! The console's acceptance path through the binary: an org admin made with
//! `tenure admin add EMAIL --role org-admin --password-file F`, `tenure serve`, the sign-in form
//! posted to `/login` with `email` and `password`, the session cookie, and `GET /` and
//! `GET /apps` answering 200 with HTML that names the tenant's apps.

mod common;

use std::process::Stdio;

use common::Cli;
use tenure_testkit::{TestBackend, TestDb};
use tokio::io::AsyncBufReadExt;

#[tokio::test]
async fn an_admin_made_on_the_command_line_signs_in_and_sees_the_apps() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let home = tempfile::tempdir()?;
    let cli = Cli::new(db.url(), home.path());
    let password = home.path().join("ann.pw");
    std::fs::write(&password, "a long enough password\n")?;
    let file = password.to_string_lossy().into_owned();
    cli.ok(&["admin", "add", "ann@x.example", "--role", "org-admin", "--password-file", &file]).await;
    let app = tenure_sandbox::SandboxApp::spawn(tenure_sandbox::SandboxOptions {
        rate_limit_per_sec: None,
        ..tenure_sandbox::SandboxOptions::new(tenure_sandbox::Profile::Notion, "app-token")
    })
    .await?;
    cli.ok(&["app", "add", "scim", "notion", "--base-url", &app.base_url(), "--token", "app-token"]).await;

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
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let form = |password: &str| format!("email=ann%40x.example&password={}", password.replace(' ', "+"));
    let login = format!("{base}/login");
    let post =
        |body: String| http.post(&login).header("content-type", "application/x-www-form-urlencoded").body(body).send();
    assert_eq!(post(form("the wrong password")).await?.status(), 401);
    let signed_in = post(form("a long enough password")).await?;
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str()?.split(';').next().unwrap_or_default().to_owned();
    assert!(cookie.starts_with("tenure_session="), "{cookie}");
    for path in ["/", "/apps"] {
        let page = http.get(format!("{base}{path}")).header("cookie", &cookie).send().await?;
        assert_eq!(page.status(), 200, "{path}");
        assert!(page.headers()["content-type"].to_str()?.starts_with("text/html"));
        let html = page.text().await?;
        assert!(html.contains("notion"), "{path} names the tenant's app: {html}");
    }
    serve.kill().await?;
    Ok(())
}
