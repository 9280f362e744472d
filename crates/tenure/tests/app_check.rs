//! `tenure app check` through the binary: against scim2-server configured without PATCH and
//! filtering, it prints those incompatibilities and stores the profile in the app's settings;
//! against refused credentials it exits non-zero.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use tenure_connectors::capabilities::{FilterSupport, Probed};
use tenure_testkit::{Scim2Server, TestBackend, TestDb};

async fn run(database_url: &str, home: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(args)
        .env("TENURE_DATABASE_URL", database_url)
        .env("TENURE_MASTER_KEYS", tenure_testkit::TEST_MASTER_KEYS)
        .env("XDG_DATA_HOME", home)
        .env_remove("TENURE_CONFIG")
        .env_remove("TENURE_APP_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run tenure")
}

#[tokio::test]
async fn app_check_reports_and_stores_the_profile() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let spc = dir.path().join("spc.json");
    std::fs::write(
        &spc,
        serde_json::to_vec(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": false},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": false, "maxResults": 50},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": false},
            "authenticationSchemes": [],
        }))?,
    )?;
    let server = Scim2Server::start_with(&["--service-provider-config".to_owned(), spc.display().to_string()]).await?;
    let tenure = |args: &'static [&'static str]| run(db.url(), dir.path(), args);
    let add = run(
        db.url(),
        dir.path(),
        &["app", "add", "scim", "legacy", "--base-url", server.base_url(), "--token", server.token()],
    )
    .await;
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let add = run(
        db.url(),
        dir.path(),
        &["app", "add", "scim", "refused", "--base-url", server.base_url(), "--token", "wrong"],
    )
    .await;
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));

    let out = tenure(&["app", "check", "legacy"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("no PATCH: updates replace the whole user"), "{text}");
    assert!(text.contains("filtering not supported: lookups will list all users"), "{text}");
    assert!(text.contains("at most 50 users per page"), "{text}");

    let out = tenure(&["app", "check", "legacy", "--json"]).await;
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(report["provisionable"], true);
    assert_eq!(report["capabilities"]["patch"]["supported"], "no");

    let store = tenure_store::Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("default").await?;
    let caps = store.app_by_name(tenant, "legacy").await?.app.settings.capabilities.expect("profile stored");
    assert_eq!(caps.patch.supported, Probed::No);
    assert_eq!(caps.filter, FilterSupport::Refused);
    assert_eq!(caps.max_page_size, Some(50));

    let out = tenure(&["app", "check", "refused"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("cannot be provisioned") && text.contains("refused the credentials"), "{text}");
    assert!(!text.contains("wrong"), "the token is never printed: {text}");
    assert!(store.app_by_name(tenant, "refused").await?.app.settings.capabilities.is_none());
    Ok(())
}
