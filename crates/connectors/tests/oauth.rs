//! OAuth 2.0 client credentials (RFC 6749 §4.4) against a local authorization server fake and a
//! sandbox app that trusts its tokens: one token for many requests, a new one before expiry and
//! after a 401, and precise, final errors for a refused client or scope.

use std::sync::Arc;
use std::time::Duration;

use tenure_connectors::oauth::{ClientAuth, OAuthConfig, TokenSource};
use tenure_connectors::{ClientOptions, ConnectorError, ScimClient};
use tenure_core::Secret;
use tenure_core::attributes::{self as attr, Attributes};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_testkit::eventually;
use tenure_testkit::oauth_fake::{CLIENT_ID, CLIENT_SECRET, OAuthFake};

/// The sandbox's own static token: never sent by an OAuth client.
const STATIC_TOKEN: &str = "sandbox-static-token";

fn options() -> ClientOptions {
    ClientOptions { max_retries: 2, initial_backoff: Duration::from_millis(10), ..ClientOptions::default() }
}

async fn sandbox(fake: &OAuthFake) -> anyhow::Result<SandboxApp> {
    let app = SandboxApp::spawn(SandboxOptions {
        rate_limit_per_sec: None,
        ..SandboxOptions::new(Profile::Notion, STATIC_TOKEN)
    })
    .await?;
    app.accept_tokens_from(fake.validator());
    Ok(app)
}

fn source(fake: &OAuthFake, secret: &str, auth: ClientAuth, scope: Option<&str>) -> anyhow::Result<Arc<TokenSource>> {
    let config = OAuthConfig::new(&fake.token_url(), CLIENT_ID, Secret::new(secret), scope)?.with_client_auth(auth);
    Ok(Arc::new(TokenSource::new(config, Duration::from_secs(10))?))
}

fn client(app: &SandboxApp, source: &Arc<TokenSource>) -> anyhow::Result<ScimClient> {
    // The static token given here is not the sandbox's: only OAuth tokens get in.
    Ok(ScimClient::new(&app.base_url(), Secret::new("not-the-static-token"), options())?.with_oauth(source.clone()))
}

fn user(name: &str) -> Attributes {
    let mut attrs = Attributes::new();
    attrs.insert(attr::USER_NAME, name);
    attrs.insert(attr::EXTERNAL_ID, name);
    attrs.insert(attr::EMAIL, name);
    attrs
}

#[tokio::test]
async fn one_token_serves_many_requests_with_basic_and_body_client_auth() -> anyhow::Result<()> {
    for auth in [ClientAuth::Basic, ClientAuth::Body] {
        let fake = OAuthFake::start(Duration::from_secs(3600), &["scim"]).await?;
        let app = sandbox(&fake).await?;
        let tokens = source(&fake, CLIENT_SECRET, auth, Some("scim"))?;
        let client = client(&app, &tokens)?;
        client.create_user(&user("ada@example.com")).await?;
        client.create_user(&user("bob@example.com")).await?;
        assert_eq!(client.list_users().await?.len(), 2, "{auth:?}");
        assert_eq!((fake.issued(), tokens.fetched()), (1, 1), "{auth:?}: the token is cached");
    }
    Ok(())
}

#[tokio::test]
async fn a_token_is_replaced_shortly_before_it_expires() -> anyhow::Result<()> {
    // Two seconds: the client renews it after one, before the server stops honouring it.
    let fake = OAuthFake::start(Duration::from_secs(2), &[]).await?;
    let app = sandbox(&fake).await?;
    let tokens = source(&fake, CLIENT_SECRET, ClientAuth::Basic, None)?;
    let client = client(&app, &tokens)?;
    client.list_users().await?;
    assert_eq!(fake.issued(), 1);
    eventually(Duration::from_secs(10), || async {
        // Every request succeeds throughout; none is refused for an expired token.
        client.list_users().await.expect("requests succeed across the renewal");
        (fake.issued() >= 2).then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_refused_token_is_replaced_once() -> anyhow::Result<()> {
    let fake = OAuthFake::start(Duration::from_secs(3600), &[]).await?;
    let app = sandbox(&fake).await?;
    let tokens = source(&fake, CLIENT_SECRET, ClientAuth::Basic, None)?;
    let client = client(&app, &tokens)?;
    client.list_users().await?;
    // Revoked at the server: the app answers 401, the client fetches a new token and goes on.
    fake.revoke_all();
    client.list_users().await?;
    assert_eq!(fake.issued(), 2);

    // An app that refuses every token: one new token, then the 401 stands (no loop).
    app.accept_tokens_from(Arc::new(|_: &str| false));
    let e = client.list_users().await.unwrap_err();
    assert_eq!(e.status(), Some(401), "{e}");
    assert_eq!(fake.issued(), 3);
    Ok(())
}

#[tokio::test]
async fn invalid_client_is_final_and_precise() -> anyhow::Result<()> {
    let fake = OAuthFake::start(Duration::from_secs(3600), &["scim"]).await?;
    let app = sandbox(&fake).await?;
    for auth in [ClientAuth::Basic, ClientAuth::Body] {
        let refused_before = fake.refused();
        let client = client(&app, &source(&fake, "wrong-client-secret", auth, None)?)?;
        let e = client.list_users().await.unwrap_err();
        assert!(
            matches!(&e, ConnectorError::OAuth { error, status: Some(401), .. } if error == "invalid_client"),
            "{e}"
        );
        assert!(!e.is_retryable(), "{e}");
        assert_eq!(e.status(), Some(401));
        let text = e.to_string();
        assert!(text.contains("invalid_client") && text.contains("/oauth/token"), "{text}");
        assert!(!text.contains("wrong-client-secret"), "{text}");
        assert_eq!(fake.refused() - refused_before, 1, "{auth:?}: not retried");
    }

    // A scope the server does not grant: final too, and says so.
    let client = client(&app, &source(&fake, CLIENT_SECRET, ClientAuth::Basic, Some("admin"))?)?;
    let e = client.list_users().await.unwrap_err();
    assert!(matches!(&e, ConnectorError::OAuth { error, .. } if error == "invalid_scope"), "{e}");
    assert!(!e.is_retryable());
    assert_eq!(fake.issued(), 0);
    Ok(())
}

#[test]
fn config_is_checked_and_never_shows_the_secret() {
    let err = OAuthConfig::new("ftp://x/token", "id", Secret::new("s"), None).unwrap_err();
    assert!(err.to_string().contains("http(s)"), "{err}");
    assert!(OAuthConfig::new("https://x/token", " ", Secret::new("s"), None).is_err());
    assert!(OAuthConfig::new("https://x/token", "id", Secret::new(""), None).is_err());
    let config = OAuthConfig::new("https://x/token", "id", Secret::new("very-secret"), Some(" ")).expect("valid");
    assert_eq!(config.scope, None);
    assert!(!format!("{config:?}").contains("very-secret"));
}
