//! `tenure app add scim --vendor ...` through the binary: the vendor profile's defaults
//! (userName, deprovisioning, limits), the confirmation GitHub's permanent DELETE needs, and
//! Zoom's server-to-server OAuth from `--zoom-account-id` working against the Zoom fake.

mod common;

use common::Cli;
use serde_json::Value;
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions, VendorOptions};
use tenure_testkit::{TestBackend, TestDb};

fn app<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array().and_then(|apps| apps.iter().find(|a| a["name"] == name)).expect("app listed")
}

#[tokio::test]
async fn vendor_profiles_set_the_defaults_and_guard_permanent_deletes() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let cli = Cli::new(db.url(), dir.path());
    let add = |name: &'static str, extra: &'static [&'static str]| {
        let mut args = vec!["app", "add", "scim", name, "--base-url", "https://scim.example.test/v2", "--token", "t"];
        args.extend_from_slice(extra);
        args
    };

    let out = cli.ok(&add("slack", &["--vendor", "slack"])).await;
    assert!(
        out.contains(
            "Slack profile: DELETE deactivates, deprovision: deactivate, userName: handle, at most 21, at most 3 requests a second"
        ),
        "{out}"
    );
    cli.ok(&add("plain", &[])).await;
    let err = cli.fails(&add("gh", &["--vendor", "github", "--deprovision", "delete"])).await;
    assert!(err.contains("permanent") && err.contains("--confirm-permanent-delete"), "{err}");
    let err = cli
        .fails(&add(
            "gh",
            &["--vendor", "github", "--deprovision", "deactivate-then-delete", "--delete-after-days", "30"],
        ))
        .await;
    assert!(err.contains("--confirm-permanent-delete"), "{err}");
    let out = cli.ok(&add("gh", &["--vendor", "github"])).await;
    assert!(
        out.contains("GitHub Enterprise Managed Users profile: DELETE is permanent, deprovision: deactivate"),
        "{out}"
    );
    cli.ok(&add("gh-delete", &["--vendor", "github", "--deprovision", "delete", "--confirm-permanent-delete"])).await;
    cli.ok(&add("slack-long", &["--vendor", "slack", "--user-name-max-len", "30"])).await;

    let list = cli.json(&["app", "list", "--json"]).await;
    let slack = &app(&list, "slack")["settings"];
    assert_eq!(slack["user_name"], serde_json::json!({"format": "handle", "max_len": 21}));
    assert_eq!(slack["deprovision"], "deactivate");
    assert_eq!(slack["vendor"], "slack");
    assert_eq!(slack["limits"]["per_second"], 3.0, "Slack's 180 writes a minute");
    assert_eq!(app(&list, "slack-long")["settings"]["user_name"]["max_len"], 30);
    let plain = &app(&list, "plain")["settings"];
    assert_eq!(
        (plain["user_name"]["format"].as_str(), plain.get("vendor")),
        (Some("email"), None),
        "unchanged without --vendor"
    );
    assert_eq!(app(&list, "gh")["settings"]["deprovision"], "deactivate", "GitHub's DELETE is permanent");
    assert_eq!(app(&list, "gh-delete")["settings"]["deprovision"], "delete");

    // GitHub's "below 1,000 an hour" is an hourly budget; flags add, replace and remove budgets.
    let hourly = serde_json::json!([{"requests": 1000, "seconds": 3600}]);
    assert_eq!(app(&list, "gh")["settings"]["limits"]["windows"], hourly, "{list}");
    cli.ok(&["app", "edit", "gh", "--rate-limit-per-day", "5000"]).await;
    let shown = cli.ok(&["app", "show", "gh"]).await;
    assert!(shown.contains("budget:        at most 1000 requests an hour, 0 used"), "{shown}");
    assert!(shown.contains("budget:        at most 5000 requests a day, 0 used"), "{shown}");
    let shown = cli.json(&["app", "show", "gh", "--json"]).await;
    assert_eq!(shown["request_windows"][1]["window"], serde_json::json!({"requests": 5000, "seconds": 86400}));
    cli.ok(&["app", "edit", "gh", "--rate-limit-per-hour", "0"]).await;
    let list = cli.json(&["app", "list", "--json"]).await;
    let daily = serde_json::json!([{"requests": 5000, "seconds": 86400}]);
    assert_eq!(app(&list, "gh")["settings"]["limits"]["windows"], daily);
    cli.ok(&add("budgeted", &["--rate-limit-per-hour", "60"])).await;
    let list = cli.json(&["app", "list", "--json"]).await;
    assert_eq!(app(&list, "budgeted")["settings"]["limits"]["windows"][0]["requests"], 60);
    Ok(())
}

#[tokio::test]
async fn zoom_apps_authenticate_with_the_account_credentials_grant() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let secret = "zoom-cli-secret";
    let options = SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Zoom, secret) };
    let vendor = VendorOptions { zoom_account_id: "acct 7".into(), ..VendorOptions::default() };
    let zoom = SandboxApp::spawn_with(options, vendor).await?;
    let cli = Cli::new(db.url(), dir.path()).with_env("ZOOM_SECRET", secret);
    cli.ok(&[
        "app",
        "add",
        "scim",
        "zoom",
        "--vendor",
        "zoom",
        "--base-url",
        &zoom.base_url(),
        "--zoom-account-id",
        "acct 7",
        "--oauth-token-url",
        &zoom.oauth_token_url(),
        "--client-id",
        "sandbox-client",
        "--client-secret-env",
        "ZOOM_SECRET",
    ])
    .await;
    let users = cli.json(&["app", "users", "zoom", "--json"]).await;
    assert_eq!(users.as_array().map(Vec::len), Some(0), "{users}");
    assert_eq!(zoom.tokens_issued(), 1, "the app was read with a token from the account_credentials grant");
    let checked = cli.ok(&["app", "check", "zoom"]).await;
    assert!(checked.contains("vendor profile Zoom: delete is permanent; deprovisioning here: deactivate"), "{checked}");
    let checked = cli.json(&["app", "check", "zoom", "--json"]).await;
    assert_eq!(checked["vendor"]["delete"], "permanent", "{checked}");
    let err = cli.fails(&["app", "add", "scim", "z2", "--base-url", &zoom.base_url(), "--zoom-account-id", "x"]).await;
    assert!(err.contains("--client-id"), "{err}");
    zoom.shutdown().await;
    Ok(())
}
