//! The SCIM client against the vendor fakes' documented behaviours: Zoom's server-to-server OAuth
//! (account_credentials grant, expiring tokens), and the vendors' "an admin must act" answers
//! (Slack's plus_teams_only, Zoom without SSO) surfacing as clear, final errors.

use std::sync::Arc;
use std::time::Duration;

use tenure_connectors::oauth::{Grant, OAuthConfig, TokenSource};
use tenure_connectors::{ClientOptions, ConnectorError, ScimClient, Vendor};
use tenure_core::Secret;
use tenure_core::attributes::{self as attr, Attributes};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions, VendorOptions};
use tenure_testkit::eventually;

const SECRET: &str = "zoom-client-secret";

fn options() -> ClientOptions {
    ClientOptions { max_retries: 3, initial_backoff: Duration::from_millis(10), ..ClientOptions::default() }
}

async fn spawn(profile: Profile, vendor: VendorOptions) -> anyhow::Result<SandboxApp> {
    let options = SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(profile, SECRET) };
    Ok(SandboxApp::spawn_with(options, vendor).await?)
}

/// A client authenticated the way an app stored with Zoom's documented token URL is.
fn zoom_client(app: &SandboxApp) -> anyhow::Result<(ScimClient, Arc<TokenSource>)> {
    let config = OAuthConfig::new(
        &app.account_credentials_url(),
        &app.vendor_options().zoom_client_id,
        Secret::new(SECRET),
        None,
    )?;
    assert_eq!(config.grant, Grant::AccountCredentials { account_id: app.vendor_options().zoom_account_id.clone() });
    assert_eq!(config.token_url.as_str(), app.oauth_token_url(), "the grant's parameters are kept apart");
    let tokens = Arc::new(TokenSource::new(config, Duration::from_secs(10))?);
    let client = ScimClient::new(&app.base_url(), Secret::new(""), options())?.with_oauth(tokens.clone());
    Ok((client, tokens))
}

fn user(user_name: &str) -> Attributes {
    let mut attrs = Attributes::new();
    attrs.insert(attr::USER_NAME, user_name);
    attrs.insert(attr::EMAIL, format!("{user_name}@example.com"));
    attrs
}

#[tokio::test]
async fn zoom_tokens_come_from_the_account_credentials_grant_and_are_renewed() -> anyhow::Result<()> {
    let vendor = VendorOptions { token_ttl: Duration::from_secs(2), ..VendorOptions::default() };
    let app = spawn(Profile::Zoom, vendor).await?;
    let (client, tokens) = zoom_client(&app)?;
    client.create_user(&user("ann@example.com")).await?;
    assert_eq!(client.list_users().await?.len(), 1);
    assert_eq!((tokens.fetched(), app.tokens_issued()), (1, 1), "one token serves both requests");

    // Once it has expired, the next request fetches a new one before it is refused.
    eventually(Duration::from_secs(10), || async { app.issued_tokens_expired().then_some(()) }).await?;
    assert_eq!(client.list_users().await?.len(), 1);
    assert_eq!(tokens.fetched(), 2);

    // A token Zoom revoked early (the app deactivated and re-activated) is replaced after one 401.
    app.revoke_tokens();
    assert_eq!(client.list_users().await?.len(), 1);
    assert_eq!(tokens.fetched(), 3);
    app.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn wrong_zoom_credentials_are_a_final_oauth_error() -> anyhow::Result<()> {
    let app = spawn(Profile::Zoom, VendorOptions::default()).await?;
    let url = app.account_credentials_url().replace("sandbox-account", "someone-else");
    let config = OAuthConfig::new(&url, "sandbox-client", Secret::new(SECRET), None)?;
    let tokens = Arc::new(TokenSource::new(config, Duration::from_secs(10))?);
    let client = ScimClient::new(&app.base_url(), Secret::new(""), options())?.with_oauth(tokens);
    let err = client.list_users().await.expect_err("the account id is wrong");
    assert!(matches!(&err, ConnectorError::OAuth { error, .. } if error == "invalid_request"), "{err}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("Account ID is invalid"), "{err}");
    app.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn zoom_without_sso_is_a_clear_final_error() -> anyhow::Result<()> {
    let app = spawn(Profile::Zoom, VendorOptions { zoom_sso_enabled: false, ..VendorOptions::default() }).await?;
    let (client, _) = zoom_client(&app)?;
    let err = client.list_users().await.expect_err("SSO is required");
    assert!(
        matches!(&err, ConnectorError::Vendor { vendor: "zoom", code, status: 400, .. } if code == "sso_required"),
        "{err}"
    );
    assert!(err.to_string().contains("enable SSO"), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(app.request_count(), 2, "one token request and one SCIM call, not retried");
    app.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn slack_below_business_plus_is_a_clear_final_error() -> anyhow::Result<()> {
    let app = spawn(Profile::Slack, VendorOptions { slack_plan_has_scim: false, ..VendorOptions::default() }).await?;
    // Told the vendor, and not told (the engine's clients today): the same clear error.
    for client in [
        ScimClient::new(&app.base_url(), Secret::new(SECRET), options())?.with_vendor(Vendor::Slack),
        ScimClient::new(&app.base_url(), Secret::new(SECRET), options())?,
    ] {
        let err = client.create_user(&user("ann")).await.expect_err("the plan has no SCIM");
        assert_eq!(
            err.to_string(),
            "Slack answered plus_teams_only: SCIM needs the Business+ or Enterprise Grid plan; upgrade the \
             workspace or provision Slack another way (HTTP 403)"
        );
        assert!(!err.is_retryable());
    }
    assert_eq!(app.request_count(), 2);
    // `tenure app check` says why the app cannot be provisioned in the vendor's terms.
    let client = ScimClient::new(&app.base_url(), Secret::new(SECRET), options())?.with_vendor(Vendor::Slack);
    let report = client.probe(tenure_connectors::ProbeOptions::default()).await;
    assert!(!report.provisionable());
    assert!(report.blockers.iter().any(|b| b.starts_with("Slack answered plus_teams_only")), "{:?}", report.blockers);
    app.shutdown().await;
    Ok(())
}
