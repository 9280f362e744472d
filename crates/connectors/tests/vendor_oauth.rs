//! Box and Dropbox with tokens that expire, against their fakes' token endpoints
//! (`tenure_testkit::vendor_tokens`): Box's client credentials grant fetched and fetched again
//! when Box answers 401 `invalid_token`; Dropbox's and Box's authorization-code grants refreshed
//! when the access token expires (Box rotating its refresh token, Dropbox keeping its own); and a
//! revoked grant or a de-authorized app ending in a clear error that no retry helps.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tenure_connectors::bearer::BoxFuture;
use tenure_connectors::oauth::{ClientAuth, OAuthConfig, TokenSource};
use tenure_connectors::oauth_code::{GrantStore, GrantStoreError, GrantedTokens, RefreshingTokenSource, StoredGrant};
use tenure_connectors::{BoxUsers, ClientOptions, Connector, ConnectorError, Dropbox};
use tenure_core::Secret;
use tenure_testkit::box_fake::BoxFake;
use tenure_testkit::dropbox_fake::DropboxFake;
use tenure_testkit::vendor_tokens::{CLIENT_ID, CLIENT_SECRET};

const ENTERPRISE: &str = "575619";

fn options() -> ClientOptions {
    ClientOptions {
        page_size: 2,
        initial_backoff: Duration::from_millis(5),
        max_retry_wait: Duration::from_millis(50),
        ..ClientOptions::default()
    }
}

/// One grant in memory, as the engine's store keeps it (version, revocation).
struct MemoryGrants(Mutex<StoredGrant>);

impl MemoryGrants {
    fn new(access: String, refresh: String, lifetime: Duration) -> Arc<Self> {
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        Arc::new(Self(Mutex::new(StoredGrant {
            tokens: GrantedTokens {
                access_token: Secret::new(access),
                refresh_token: Some(Secret::new(refresh)),
                expires_at_ms: Some(now_ms + lifetime.as_millis() as i64),
                scope: None,
            },
            version: 1,
            revoked: None,
        })))
    }

    fn get(&self) -> StoredGrant {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl GrantStore for MemoryGrants {
    fn load(&self) -> BoxFuture<'_, Result<Option<StoredGrant>, GrantStoreError>> {
        Box::pin(async move { Ok(Some(self.get())) })
    }

    fn claim_refresh(&self, version: i64, _lease: Duration) -> BoxFuture<'_, Result<bool, GrantStoreError>> {
        Box::pin(async move { Ok(self.get().version == version) })
    }

    fn release_refresh(&self, _version: i64) -> BoxFuture<'_, Result<(), GrantStoreError>> {
        Box::pin(async move { Ok(()) })
    }

    fn save_refreshed<'a>(
        &'a self,
        version: i64,
        tokens: &'a GrantedTokens,
    ) -> BoxFuture<'a, Result<bool, GrantStoreError>> {
        Box::pin(async move {
            let mut grant = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if grant.version != version {
                return Ok(false);
            }
            grant.tokens = tokens.clone();
            grant.version += 1;
            Ok(true)
        })
    }

    fn revoke<'a>(&'a self, version: i64, reason: &'a str) -> BoxFuture<'a, Result<(), GrantStoreError>> {
        Box::pin(async move {
            let mut grant = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if grant.version == version {
                grant.revoked = Some(reason.to_owned());
                grant.version += 1;
            }
            Ok(())
        })
    }
}

fn box_ccg(fake: &BoxFake, enterprise: &str) -> anyhow::Result<OAuthConfig> {
    Ok(OAuthConfig::new(&fake.token_url(), CLIENT_ID, Secret::new(CLIENT_SECRET), None)?
        .with_client_auth(ClientAuth::Body)
        .with_token_params(vec![
            ("box_subject_type".into(), "enterprise".into()),
            ("box_subject_id".into(), enterprise.into()),
        ]))
}

#[tokio::test]
async fn box_client_credentials_are_fetched_again_when_box_expires_the_token() -> anyhow::Result<()> {
    let fake = BoxFake::start("static-token-unused").await?;
    fake.issuer().set_enterprise(ENTERPRISE);
    fake.add_user("ann@example.com", "Ann Lee");
    let source = Arc::new(TokenSource::new(box_ccg(&fake, ENTERPRISE)?, Duration::from_secs(5))?);
    let client = BoxUsers::new(&fake.base_url(), Secret::new(""), options())?.with_access_tokens(source.clone());
    assert_eq!(client.list_users().await?.len(), 1);
    client.list_users().await?;
    assert_eq!((fake.issuer().issued(), source.fetched()), (1, 1), "one token serves until it expires");

    // An hour later Box answers 401 invalid_token: one new token, and the call carries on.
    fake.issuer().expire_access_tokens();
    let before = fake.request_count();
    assert_eq!(client.list_users().await?.len(), 1);
    assert_eq!((fake.issuer().issued(), source.fetched()), (2, 2));
    assert_eq!(fake.request_count() - before, 2, "the refused call and its one retry");

    // The wrong enterprise: Box refuses the grant, and no retry helps.
    let wrong = Arc::new(TokenSource::new(box_ccg(&fake, "1")?, Duration::from_secs(5))?);
    let client = BoxUsers::new(&fake.base_url(), Secret::new(""), options())?.with_access_tokens(wrong);
    let e = client.list_users().await.expect_err("wrong enterprise");
    assert!(matches!(&e, ConnectorError::OAuth { error, .. } if error == "invalid_grant"), "{e:?}");
    assert!(!e.is_retryable(), "{e}");
    assert!(e.to_string().contains("Grant credentials are invalid"), "{e}");

    // The admin de-authorizes the app in Box's Admin Console.
    fake.issuer().set_authorized(false);
    fake.issuer().expire_access_tokens();
    let client = BoxUsers::new(&fake.base_url(), Secret::new(""), options())?.with_access_tokens(source);
    let e = client.list_users().await.expect_err("de-authorized");
    assert!(!e.is_retryable(), "{e}");
    assert!(e.to_string().contains("not authorized by the enterprise admin"), "{e}");
    Ok(())
}

#[tokio::test]
async fn dropbox_refreshes_its_four_hour_token_and_a_revoked_grant_stops_clearly() -> anyhow::Result<()> {
    let fake = DropboxFake::start("static-token-unused").await?;
    fake.add_member("ann@example.com", "active");
    let (access, refresh) = fake.issuer().consent();
    let grants = MemoryGrants::new(access, refresh.clone(), Duration::from_secs(4 * 3600));
    // Dropbox takes the app key and secret as HTTP Basic.
    let config = OAuthConfig::new(&fake.token_url(), CLIENT_ID, Secret::new(CLIENT_SECRET), None)?;
    let source = Arc::new(RefreshingTokenSource::new(config, grants.clone(), Duration::from_secs(5))?);
    let client = Dropbox::new(&fake.base_url(), Secret::new(""), options())?.with_access_tokens(source.clone());
    assert_eq!(client.list_users().await?.len(), 1);
    assert_eq!(source.refreshed(), 0, "the consented token is still good");

    // Four hours later: 401 expired_access_token, one refresh, and the call carries on.
    fake.issuer().expire_access_tokens();
    assert_eq!(client.list_users().await?.len(), 1);
    assert_eq!((source.refreshed(), fake.issuer().refreshes()), (1, 1));
    let stored = grants.get();
    assert_eq!(stored.version, 2, "the new access token is saved before it is used");
    assert_eq!(
        stored.tokens.refresh_token.as_ref().map(|r| r.expose().to_owned()),
        Some(refresh),
        "Dropbox's refresh token does not rotate: the same one is kept"
    );

    // The team admin unlinks the app: the refresh is refused, the grant is recorded as over, and
    // the error says what to do; asking again does not hit the token endpoint.
    fake.issuer().revoke_refresh_tokens();
    fake.issuer().expire_access_tokens();
    let e = client.list_users().await.expect_err("revoked");
    assert!(matches!(&e, ConnectorError::Reauthorize { .. }), "{e:?}");
    assert!(!e.is_retryable(), "{e}");
    assert!(e.to_string().contains("refresh token is invalid or revoked"), "{e}");
    assert!(grants.get().revoked.is_some());
    let e = client.list_users().await.expect_err("still revoked");
    assert!(matches!(e, ConnectorError::Reauthorize { .. }));
    assert_eq!(fake.issuer().refreshes(), 1);
    Ok(())
}

#[tokio::test]
async fn box_refresh_tokens_rotate_and_the_new_one_is_kept() -> anyhow::Result<()> {
    let fake = BoxFake::start("static-token-unused").await?;
    fake.add_user("ann@example.com", "Ann Lee");
    let (access, refresh) = fake.issuer().consent();
    let grants = MemoryGrants::new(access, refresh.clone(), Duration::from_secs(3600));
    let config = OAuthConfig::new(&fake.token_url(), CLIENT_ID, Secret::new(CLIENT_SECRET), None)?
        .with_client_auth(ClientAuth::Body);
    let source = Arc::new(RefreshingTokenSource::new(config, grants.clone(), Duration::from_secs(5))?);
    let client = BoxUsers::new(&fake.base_url(), Secret::new(""), options())?.with_access_tokens(source.clone());
    for round in 1..=2u64 {
        fake.issuer().expire_access_tokens();
        assert_eq!(client.list_users().await?.len(), 1);
        assert_eq!(fake.issuer().refreshes(), round);
    }
    let kept = grants.get().tokens.refresh_token.map(|r| r.expose().to_owned()).unwrap_or_default();
    assert_ne!(kept, refresh, "each refresh spent the old refresh token and kept the new one");
    Ok(())
}
