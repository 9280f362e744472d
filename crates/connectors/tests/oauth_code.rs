//! The authorization-code grant's token source against the local authorization server fake
//! (PKCE, single-use codes, rotating refresh tokens with reuse detection), over an in-memory
//! grant store: the code exchange, one refresh for many concurrent sources, and a refused grant
//! ending in a clear, final "re-authorize".

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tenure_connectors::ConnectorError;
use tenure_connectors::bearer::BoxFuture;
use tenure_connectors::oauth::OAuthConfig;
use tenure_connectors::oauth_code::{
    AuthorizationCodeConfig, GrantStore, GrantStoreError, GrantedTokens, Pkce, RefreshingTokenSource, StoredGrant,
    new_state,
};
use tenure_core::Secret;
use tenure_testkit::oauth_fake::{CLIENT_ID, CLIENT_SECRET, OAuthFake};

const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";

#[derive(Default)]
struct MemoryGrants {
    grant: Mutex<Option<StoredGrant>>,
    claim_until: Mutex<Option<Instant>>,
    saves: Mutex<u32>,
    /// Saves to refuse (as a busy database would) before accepting one.
    failing_saves: Mutex<u32>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl GrantStore for MemoryGrants {
    fn load(&self) -> BoxFuture<'_, Result<Option<StoredGrant>, GrantStoreError>> {
        Box::pin(async move { Ok(lock(&self.grant).clone()) })
    }

    fn claim_refresh(&self, version: i64, lease: Duration) -> BoxFuture<'_, Result<bool, GrantStoreError>> {
        Box::pin(async move {
            let grant = lock(&self.grant);
            let mut claim = lock(&self.claim_until);
            let current = grant.as_ref().is_some_and(|g| g.version == version && g.revoked.is_none());
            if !current || claim.is_some_and(|until| Instant::now() < until) {
                return Ok(false);
            }
            *claim = Some(Instant::now() + lease);
            Ok(true)
        })
    }

    fn release_refresh(&self, _version: i64) -> BoxFuture<'_, Result<(), GrantStoreError>> {
        Box::pin(async move {
            *lock(&self.claim_until) = None;
            Ok(())
        })
    }

    fn save_refreshed<'a>(
        &'a self,
        version: i64,
        tokens: &'a GrantedTokens,
    ) -> BoxFuture<'a, Result<bool, GrantStoreError>> {
        Box::pin(async move {
            {
                let mut failing = lock(&self.failing_saves);
                if *failing > 0 {
                    *failing -= 1;
                    return Err(GrantStoreError { message: "database is locked".into(), retryable: true });
                }
            }
            let mut grant = lock(&self.grant);
            let Some(g) = grant.as_mut().filter(|g| g.version == version) else { return Ok(false) };
            g.tokens = tokens.clone();
            g.version += 1;
            *lock(&self.claim_until) = None;
            *lock(&self.saves) += 1;
            Ok(true)
        })
    }

    fn revoke<'a>(&'a self, version: i64, reason: &'a str) -> BoxFuture<'a, Result<(), GrantStoreError>> {
        Box::pin(async move {
            if let Some(g) = lock(&self.grant).as_mut().filter(|g| g.version == version) {
                g.revoked = Some(reason.to_owned());
                g.version += 1;
            }
            Ok(())
        })
    }
}

fn config(fake: &OAuthFake) -> anyhow::Result<AuthorizationCodeConfig> {
    let client = OAuthConfig::new(&fake.token_url(), CLIENT_ID, Secret::new(CLIENT_SECRET), Some("scim"))?;
    Ok(AuthorizationCodeConfig::new(&fake.authorize_url(), client)?)
}

/// Plays the admin's browser: consent at the fake, the code from the redirect.
async fn consent(config: &AuthorizationCodeConfig, state: &Secret, challenge: &str) -> anyhow::Result<String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let res = http.get(config.authorization_url(REDIRECT, state, challenge)).send().await?;
    anyhow::ensure!(res.status() == 302, "authorize: {}", res.status());
    let location = url::Url::parse(res.headers()["location"].to_str()?)?;
    let get = |k: &str| location.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
    assert_eq!(get("state").as_deref(), Some(state.expose()), "the state comes back unchanged");
    get("code").ok_or_else(|| anyhow::anyhow!("no code in {location}"))
}

async fn authorized(fake: &OAuthFake) -> anyhow::Result<(AuthorizationCodeConfig, Arc<MemoryGrants>)> {
    let config = config(fake)?;
    let (state, pkce) = (new_state(), Pkce::generate());
    let code = consent(&config, &state, &pkce.challenge).await?;
    let tokens = config.exchange_code(&code, REDIRECT, &pkce.verifier, Duration::from_secs(10)).await?;
    assert!(tokens.refresh_token.is_some() && tokens.expires_at_ms.is_some(), "{tokens:?}");
    assert_eq!(tokens.scope.as_deref(), Some("scim"));
    // A code is good once.
    let again = config.exchange_code(&code, REDIRECT, &pkce.verifier, Duration::from_secs(10)).await;
    assert!(matches!(&again, Err(ConnectorError::OAuth { error, .. }) if error == "invalid_grant"), "{again:?}");
    let grants = Arc::new(MemoryGrants::default());
    *lock(&grants.grant) = Some(StoredGrant { tokens, version: 1, revoked: None });
    Ok((config, grants))
}

fn source(config: &AuthorizationCodeConfig, grants: &Arc<MemoryGrants>) -> anyhow::Result<RefreshingTokenSource> {
    Ok(RefreshingTokenSource::new(config.client.clone(), grants.clone(), Duration::from_secs(10))?)
}

#[tokio::test]
async fn the_code_needs_its_verifier() -> anyhow::Result<()> {
    let fake = OAuthFake::start(Duration::from_secs(60), &[]).await?;
    let config = config(&fake)?;
    let (state, pkce) = (new_state(), Pkce::generate());
    let code = consent(&config, &state, &pkce.challenge).await?;
    let wrong = Pkce::generate().verifier;
    let e = config.exchange_code(&code, REDIRECT, &wrong, Duration::from_secs(10)).await.expect_err("wrong verifier");
    assert!(e.to_string().contains("PKCE"), "{e}");
    Ok(())
}

#[tokio::test]
async fn many_sources_share_one_refresh_of_a_rotating_token() -> anyhow::Result<()> {
    let fake = OAuthFake::start(Duration::from_secs(3), &[]).await?;
    let (config, grants) = authorized(&fake).await?;
    let sources: Vec<RefreshingTokenSource> = (0..4).map(|_| source(&config, &grants)).collect::<Result<_, _>>()?;
    let first = sources[0].token().await?;
    assert_eq!(fake.refreshes(), 0, "the stored token is used while it lasts");

    // Past the token's life, every source at once: one refresh, one new token for all.
    tenure_testkit::eventually(Duration::from_secs(10), || async {
        let grant = lock(&grants.grant).clone()?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        grant.tokens.expires_at_ms.is_some_and(|e| i128::from(e) <= now).then_some(())
    })
    .await?;
    // Polled together: each waits on the store's claim while one refreshes.
    let (a, b, c, d) = tokio::join!(sources[0].token(), sources[1].token(), sources[2].token(), sources[3].token());
    let tokens = [a?, b?, c?, d?];
    assert_eq!(fake.refreshes(), 1, "one refresh for every source");
    assert!(tokens.iter().all(|t| t.expose() == tokens[0].expose() && t.expose() != first.expose()));
    assert_eq!(*lock(&grants.saves), 1);
    let stored = lock(&grants.grant).clone().and_then(|g| g.tokens.refresh_token).map(|r| r.expose().to_owned());
    assert_eq!(stored, fake.live_refresh_token(), "the rotated refresh token was saved");
    Ok(())
}

#[tokio::test]
async fn a_refused_token_is_refreshed_and_a_revoked_grant_asks_for_reauthorization() -> anyhow::Result<()> {
    let fake = OAuthFake::start(Duration::from_secs(3600), &[]).await?;
    let (config, grants) = authorized(&fake).await?;
    let tokens = source(&config, &grants)?;
    let first = tokens.token().await?;
    // The app refused the token early (revoked at the server): a refresh, not the stored one again.
    tokens.reject(&first).await;
    let second = tokens.token().await?;
    assert_ne!(second.expose(), first.expose());
    assert_eq!(fake.refreshes(), 1);

    fake.revoke_grants();
    tokens.reject(&second).await;
    let e = tokens.token().await.expect_err("the grant is revoked");
    assert!(matches!(&e, ConnectorError::Reauthorize { reason } if reason.contains("invalid_grant")), "{e:?}");
    assert!(e.to_string().contains("re-authorize the app"), "{e}");
    assert!(!e.is_retryable());
    assert_eq!(e.status(), Some(401), "counted like refused credentials");
    assert!(lock(&grants.grant).as_ref().is_some_and(|g| g.revoked.is_some()), "recorded in the store");
    // Told once: later requests do not go back to the authorization server.
    let refused = fake.refused();
    assert!(matches!(tokens.token().await, Err(ConnectorError::Reauthorize { .. })));
    assert_eq!(fake.refused(), refused);
    Ok(())
}

#[tokio::test]
async fn never_authorized_is_a_reauthorization_error() -> anyhow::Result<()> {
    let fake = OAuthFake::start(Duration::from_secs(60), &[]).await?;
    let grants = Arc::new(MemoryGrants::default());
    let e = source(&config(&fake)?, &grants)?.token().await.expect_err("no grant");
    assert!(e.to_string().contains("never authorized"), "{e}");
    Ok(())
}

#[tokio::test]
async fn a_busy_store_does_not_lose_a_rotated_refresh_token() -> anyhow::Result<()> {
    let fake = OAuthFake::start(Duration::from_secs(3600), &[]).await?;
    let (config, grants) = authorized(&fake).await?;
    let tokens = source(&config, &grants)?;
    let first = tokens.token().await?;
    *lock(&grants.failing_saves) = 2;
    tokens.reject(&first).await;
    let second = tokens.token().await?;
    assert_ne!(second.expose(), first.expose());
    assert_eq!(*lock(&grants.saves), 1);
    let stored = lock(&grants.grant).clone().and_then(|g| g.tokens.refresh_token).map(|r| r.expose().to_owned());
    assert_eq!(stored, fake.live_refresh_token());
    Ok(())
}
