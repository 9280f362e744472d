//! Box and Dropbox added with OAuth through the binary, against their fakes' token and
//! authorization endpoints (`tenure_testkit::vendor_tokens`):
//!
//! - Dropbox (both backends): `app add dropbox --client-id --client-secret-env` asks for offline
//!   access, a team admin consents (`app authorize`, the callback served by a server on the same
//!   database), joiners are provisioned; four hours later (the fake expires the token) the next
//!   apply refreshes it and carries on; when the admin unlinks the app, the refresh is refused
//!   and `app show` and `app verify` say "re-authorize".
//! - Box: the client credentials grant with `--box-enterprise-id` (the subject stored beside the
//!   token URL), provisioning through it, and an app the Box admin de-authorized reported by
//!   `app check` with Box's own words.

mod common;

use common::Cli;
use tenure_testkit::box_fake::BoxFake;
use tenure_testkit::dropbox_fake::DropboxFake;
use tenure_testkit::vendor_tokens::{CLIENT_ID, CLIENT_SECRET};
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

on_both_backends!(dropbox_is_authorized_once_refreshed_after_four_hours_and_a_revoked_grant_says_reauthorize);

const PEOPLE: &str =
    "employee_id,email,given_name,family_name,groups\nE1,ann@example.com,Ann,Lee,eng\nE2,bob@example.com,Bob,Ray,eng\n";
const BOB_LEFT: &str = "employee_id,email,given_name,family_name,groups,status\nE1,ann@example.com,Ann,Lee,eng,active\nE2,bob@example.com,Bob,Ray,eng,suspended\n";
const CY_JOINS: &str = "employee_id,email,given_name,family_name,groups,status\nE1,ann@example.com,Ann,Lee,eng,active\nE2,bob@example.com,Bob,Ray,eng,suspended\nE3,cy@example.com,Cy,Young,eng,active\n";

async fn dropbox_is_authorized_once_refreshed_after_four_hours_and_a_revoked_grant_says_reauthorize(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let fake = DropboxFake::start("no-static-token").await?;
    fake.add_member("bob@example.com", "active");
    let db = TestDb::new(backend).await?;
    let dir = tempfile::tempdir()?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let cli = Cli::new(db.url(), dir.path()).with_env("DROPBOX_SECRET", CLIENT_SECRET);
    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap_or_default()]).await;
    cli.ok(&["sync"]).await;

    let (api, token_url, authorize_url) = (fake.base_url(), fake.token_url(), fake.authorize_url());
    let base = ["app", "add", "dropbox", "team", "--client-id", CLIENT_ID, "--client-secret-env", "DROPBOX_SECRET"];
    let mut add: Vec<&str> = base.to_vec();
    add.extend(["--oauth-flow", "client-credentials", "--api-url", &api]);
    let e = cli.fails(&add).await;
    assert!(e.contains("--oauth-flow") && e.contains("no client credentials grant"), "{e}");
    let mut add: Vec<&str> = base.to_vec();
    add.extend(["--api-url", &api, "--oauth-token-url", &token_url, "--oauth-authorize-url", &authorize_url]);
    let out = cli.ok(&add).await;
    assert!(out.contains("auth oauth_authorization_code") && out.contains("tenure app authorize team"), "{out}");
    let shown = cli.json(&["app", "show", "team", "--json"]).await;
    let asked = shown["auth"]["authorize_url"].as_str().unwrap_or_default().to_owned();
    assert!(asked.ends_with("?token_access_type=offline"), "a refresh token is asked for: {shown}");
    assert_eq!(shown["auth"]["token_url"], token_url.as_str());

    // A team admin consents; the callback is `tenure serve`'s, here a server in this process.
    let store = tenure_store::Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let public = format!("http://{}", listener.local_addr()?);
    let state = tenure_server::ServerState::new(store.clone()).with_public_url(public.clone());
    tokio::spawn(tenure_server::serve(listener, state, std::future::pending::<()>()));
    let start = cli.json(&["app", "authorize", "team", "--public-url", &public, "--json"]).await;
    let url = start["authorize_url"].as_str().unwrap_or_default().to_owned();
    assert!(url.contains("token_access_type=offline") && url.contains("code_challenge_method=S256"), "{start}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let at_dropbox = browser.get(&url).send().await?;
    assert_eq!(at_dropbox.status(), 302);
    let back = at_dropbox.headers()["location"].to_str()?.to_owned();
    let page = browser.get(&back).send().await?;
    assert_eq!(page.status(), 200, "{}", page.text().await?);
    let verdict = cli.json(&["app", "verify", "team", "--json"]).await;
    assert_eq!((verdict["ok"].as_bool(), verdict["grant"]["refresh_token"].as_bool()), (Some(true), Some(true)));

    cli.ok(&["app", "edit", "team", "--guard-percent", "100"]).await;
    cli.ok(&["assign", "team", "--group", "eng"]).await;
    cli.ok(&["apply", "--yes"]).await;
    assert_eq!(fake.member("ann@example.com").map(|m| m.status), Some("invited".into()));
    assert_eq!(fake.issuer().refreshes(), 0, "the consented token serves its four hours");

    // Four hours later: the stored token is refused (expired_access_token), refreshed once, and
    // the leaver is suspended.
    fake.issuer().expire_access_tokens();
    std::fs::write(&people, BOB_LEFT)?;
    cli.ok(&["sync"]).await;
    cli.ok(&["apply", "--yes"]).await;
    assert_eq!(fake.member("bob@example.com").map(|m| m.status), Some("suspended".into()));
    assert_eq!(fake.issuer().refreshes(), 1);

    // The admin unlinks the app: nothing more can be done until an admin authorizes again, and
    // the app says so.
    fake.issuer().revoke_refresh_tokens();
    fake.issuer().expire_access_tokens();
    std::fs::write(&people, CY_JOINS)?;
    cli.ok(&["sync"]).await;
    let e = cli.fails(&["apply", "--yes"]).await;
    assert!(e.contains("refresh token is invalid or revoked") && e.contains("re-authorize the app"), "{e}");
    assert_eq!(fake.member("cy@example.com"), None);
    let shown = cli.ok(&["app", "show", "team"]).await;
    assert!(shown.contains("re-authorize") && shown.contains("refresh token is invalid or revoked"), "{shown}");
    let out = cli.run(&["app", "verify", "team"]).await;
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no longer valid") && text.contains("re-authorize"), "{text}");
    let audit = cli.ok(&["audit", "--action", "app.oauth_revoked"]).await;
    assert!(audit.contains("team"), "{audit}");
    Ok(())
}

#[tokio::test]
async fn box_client_credentials_provision_and_a_deauthorized_app_is_reported() -> anyhow::Result<()> {
    let fake = BoxFake::start("no-static-token").await?;
    fake.issuer().set_enterprise("575619");
    fake.add_user("bob@example.com", "Bob Ray");
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let cli = Cli::new(db.url(), dir.path()).with_env("BOX_SECRET", CLIENT_SECRET);
    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap_or_default()]).await;
    cli.ok(&["sync"]).await;

    let (api, token_url) = (fake.base_url(), fake.token_url());
    let base = ["app", "add", "box", "files", "--client-id", CLIENT_ID, "--client-secret-env", "BOX_SECRET"];
    let mut add: Vec<&str> = base.to_vec();
    add.extend(["--api-url", &api, "--oauth-token-url", &token_url]);
    let e = cli.fails(&add).await;
    assert!(e.contains("--box-enterprise-id"), "{e}");
    add.extend(["--box-enterprise-id", "575619"]);
    let out = cli.ok(&add).await;
    assert!(out.contains("auth oauth_client_credentials"), "{out}");
    let shown = cli.json(&["app", "show", "files", "--json"]).await;
    assert_eq!(shown["auth"]["token_params"]["box_subject_type"], "enterprise", "{shown}");
    assert_eq!(shown["auth"]["token_params"]["box_subject_id"], "575619", "{shown}");
    assert_eq!(shown["auth"]["client_auth"], "body", "Box takes the client id and secret in the body");

    let check = cli.ok(&["app", "check", "files"]).await;
    assert!(check.contains("verified:   1 users, 1 active"), "{check}");
    cli.ok(&["app", "edit", "files", "--guard-percent", "100"]).await;
    cli.ok(&["assign", "files", "--group", "eng"]).await;
    cli.ok(&["apply", "--yes"]).await;
    assert_eq!(fake.user("ann@example.com").map(|u| u.status), Some("active".into()));
    assert!(fake.issuer().issued() >= 1);

    // The Box admin de-authorizes the app: Box's words, not a bare 400.
    fake.issuer().set_authorized(false);
    fake.issuer().expire_access_tokens();
    let out = cli.run(&["app", "check", "files"]).await;
    assert!(!out.status.success());
    let check = String::from_utf8_lossy(&out.stdout);
    assert!(check.contains("NOT provisionable") && check.contains("not authorized by the enterprise admin"), "{check}");
    Ok(())
}
