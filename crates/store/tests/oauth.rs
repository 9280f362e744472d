//! OAuth authorization-code state in the store, on both backends: pending authorizations found
//! by their state's hash, used once, refused after expiry; grants sealed at rest, refreshed by
//! compare-and-set under a claim, revoked, and re-sealed by key rotation.

use tenure_core::*;
use tenure_store::crypto::Keyring;
use tenure_store::{AppAuth, GrantTokens, StateRefusal, Store};
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
    a_pending_authorization_is_used_once_and_never_stored_in_clear,
    an_expired_authorization_is_refused,
    a_refresh_is_claimed_and_saved_by_compare_and_set,
    a_revoked_grant_stays_revoked_until_authorized_again,
    rotation_reseals_grants_and_pending_verifiers,
);

fn keyring(spec: &[(&str, u8)]) -> Keyring {
    use base64::Engine as _;
    let text = spec
        .iter()
        .map(|(id, b)| format!("{id}:{}", base64::engine::general_purpose::STANDARD.encode([*b; 32])))
        .collect::<Vec<_>>()
        .join(",");
    Keyring::parse(&text, "test").expect("test keys parse")
}

async fn setup(backend: TestBackend, keys: Keyring) -> anyhow::Result<(TestDb, Store, TenantId, AppId)> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(db.url(), keys).await?;
    let tenant = store.ensure_tenant("default").await?;
    let auth = AppAuth::OauthAuthorizationCode {
        authorize_url: "https://as.example/authorize".into(),
        token_url: "https://as.example/token".into(),
        client_id: "cid".into(),
        scope: Some("scim".into()),
        client_auth: Default::default(),
    };
    let app = store
        .add_app_with_auth(
            tenant,
            "notion",
            AppKind::Scim,
            "http://127.0.0.1:1/scim/v2",
            &auth,
            &Secret::new("client-secret"),
            &AppSettings::default(),
        )
        .await?;
    Ok((db, store, tenant, app.id))
}

async fn raw_rows(db: &TestDb, sql: &str) -> anyhow::Result<String> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(db.url()).await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&pool).await?;
    let mut out = String::new();
    for r in rows {
        for i in 0..r.len() {
            if let Ok(v) = r.try_get::<Option<String>, _>(i) {
                out.push_str(&v.unwrap_or_default());
                out.push('|');
            }
        }
    }
    pool.close().await;
    Ok(out)
}

fn tokens(access: &str, refresh: Option<&str>, expires_ms: Option<i64>) -> GrantTokens {
    GrantTokens {
        access_token: Secret::new(access),
        refresh_token: refresh.map(Secret::new),
        expires_ms,
        scope: Some("scim".into()),
    }
}

async fn a_pending_authorization_is_used_once_and_never_stored_in_clear(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, tenant, app) = setup(backend, keyring(&[("k1", 1)])).await?;
    let (state, verifier) = (Secret::new("state-0123456789"), Secret::new("verifier-abcdefghij"));
    store
        .start_oauth_authorization(tenant, app, &state, &verifier, "https://t.example/oauth/callback", "api", 600_000)
        .await?;
    let raw = raw_rows(&db, "SELECT state_hash, verifier, redirect_uri, actor FROM oauth_authorizations").await?;
    assert!(!raw.contains("state-0123456789") && !raw.contains("verifier-abcdefghij"), "{raw}");
    assert!(raw.contains("v1:k1:"), "{raw}");

    assert_eq!(store.take_oauth_authorization("some-other-state").await?.unwrap_err(), StateRefusal::Unknown);
    let pending = store.take_oauth_authorization(state.expose()).await?.expect("first use");
    assert_eq!((pending.tenant, pending.app_id), (tenant, app));
    assert_eq!(pending.verifier.expose(), "verifier-abcdefghij");
    assert_eq!(pending.redirect_uri, "https://t.example/oauth/callback");
    assert_eq!(pending.actor, "api");
    assert_eq!(
        store.take_oauth_authorization(state.expose()).await?.unwrap_err(),
        StateRefusal::AlreadyUsed { tenant, app_id: app }
    );
    Ok(())
}

async fn an_expired_authorization_is_refused(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store, tenant, app) = setup(backend, keyring(&[("k1", 1)])).await?;
    let state = Secret::new("late-state");
    store.start_oauth_authorization(tenant, app, &state, &Secret::new("v"), "http://x/cb", "cli", -1).await?;
    assert_eq!(
        store.take_oauth_authorization("late-state").await?.unwrap_err(),
        StateRefusal::Expired { tenant, app_id: app }
    );
    // Tried once, even expired: a second try is "already used".
    assert!(matches!(
        store.take_oauth_authorization("late-state").await?.unwrap_err(),
        StateRefusal::AlreadyUsed { .. }
    ));
    Ok(())
}

async fn a_refresh_is_claimed_and_saved_by_compare_and_set(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, tenant, app) = setup(backend, keyring(&[("k1", 1)])).await?;
    assert!(store.oauth_grant(tenant, app).await?.is_none());
    store.put_oauth_grant(tenant, app, &tokens("at-1-secret", Some("rt-1-secret"), Some(1_000)), "api").await?;
    let raw = raw_rows(&db, "SELECT access_token, refresh_token FROM app_oauth_grants").await?;
    assert!(!raw.contains("at-1-secret") && !raw.contains("rt-1-secret") && raw.contains("v1:k1:"), "{raw}");

    let grant = store.oauth_grant(tenant, app).await?.expect("stored");
    assert_eq!(grant.tokens.access_token.expose(), "at-1-secret");
    assert_eq!(grant.tokens.refresh_token.as_ref().map(|r| r.expose()), Some("rt-1-secret"));
    assert_eq!((grant.tokens.expires_ms, grant.authorized_by.as_str()), (Some(1_000), "api"));
    let v = grant.version;

    // One holder at a time; a stale version never claims.
    assert!(store.claim_oauth_refresh(tenant, app, v, 30_000).await?);
    assert!(!store.claim_oauth_refresh(tenant, app, v, 30_000).await?);
    assert!(!store.claim_oauth_refresh(tenant, app, v - 1, 30_000).await?);
    // Released: claimable again.
    store.release_oauth_refresh(tenant, app, v).await?;
    assert!(store.claim_oauth_refresh(tenant, app, v, 30_000).await?);

    assert!(store.save_refreshed_oauth_grant(tenant, app, v, &tokens("at-2", Some("rt-2"), Some(2_000))).await?);
    // The same version again (a second refresher) loses.
    assert!(!store.save_refreshed_oauth_grant(tenant, app, v, &tokens("at-3", Some("rt-3"), None)).await?);
    let after = store.oauth_grant(tenant, app).await?.expect("stored");
    assert_eq!(after.tokens.refresh_token.as_ref().map(|r| r.expose()), Some("rt-2"));
    assert_eq!(after.version, v + 1);
    assert_eq!(after.refresh_claim_until_ms, None);
    // An expired claim is taken over.
    assert!(store.claim_oauth_refresh(tenant, app, v + 1, -1).await?);
    assert!(store.claim_oauth_refresh(tenant, app, v + 1, 30_000).await?);
    Ok(())
}

async fn a_revoked_grant_stays_revoked_until_authorized_again(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store, tenant, app) = setup(backend, keyring(&[("k1", 1)])).await?;
    store.put_oauth_grant(tenant, app, &tokens("at", Some("rt"), None), "api").await?;
    let v = store.oauth_grant(tenant, app).await?.expect("stored").version;
    assert!(store.revoke_oauth_grant(tenant, app, v, "invalid_grant").await?);
    let revoked = store.oauth_grant(tenant, app).await?.expect("kept");
    assert!(revoked.revoked_ms.is_some());
    assert_eq!(revoked.revoked_reason.as_deref(), Some("invalid_grant"));
    assert!(!store.claim_oauth_refresh(tenant, app, revoked.version, 30_000).await?);
    assert!(!store.save_refreshed_oauth_grant(tenant, app, revoked.version, &tokens("x", None, None)).await?);

    store.put_oauth_grant(tenant, app, &tokens("at-new", Some("rt-new"), None), "cli").await?;
    let fresh = store.oauth_grant(tenant, app).await?.expect("stored");
    assert_eq!((fresh.revoked_ms, fresh.authorized_by.as_str()), (None, "cli"));
    // An old refusal does not revoke the new grant.
    assert!(!store.revoke_oauth_grant(tenant, app, revoked.version, "late").await?);
    assert!(store.oauth_grant(tenant, app).await?.expect("stored").revoked_ms.is_none());
    Ok(())
}

async fn rotation_reseals_grants_and_pending_verifiers(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, tenant, app) = setup(backend, keyring(&[("k1", 1)])).await?;
    store.put_oauth_grant(tenant, app, &tokens("at-rot", Some("rt-rot"), None), "api").await?;
    store
        .start_oauth_authorization(tenant, app, &Secret::new("st"), &Secret::new("vf"), "http://x/cb", "api", 600_000)
        .await?;
    // App secret + access + refresh + verifier.
    let status = store.key_status().await?;
    assert_eq!(status.counts.values().sum::<usize>(), 4, "{status:?}");

    let rotated = Store::connect_with_keys(db.url(), keyring(&[("k2", 2), ("k1", 1)])).await?;
    let done = rotated.rotate_keys().await?;
    assert_eq!((done.rotated, done.unchanged), (4, 0));
    let raw = raw_rows(&db, "SELECT access_token, refresh_token FROM app_oauth_grants").await?;
    assert!(raw.contains("v1:k2:") && !raw.contains("v1:k1:"), "{raw}");
    let raw = raw_rows(&db, "SELECT verifier FROM oauth_authorizations").await?;
    assert!(raw.starts_with("v1:k2:"), "{raw}");

    // Only the new key is needed now.
    let only_new = Store::connect_with_keys(db.url(), keyring(&[("k2", 2)])).await?;
    let grant = only_new.oauth_grant(tenant, app).await?.expect("stored");
    assert_eq!(grant.tokens.access_token.expose(), "at-rot");
    assert_eq!(grant.tokens.refresh_token.as_ref().map(|r| r.expose()), Some("rt-rot"));
    assert_eq!(only_new.take_oauth_authorization("st").await?.expect("pending").verifier.expose(), "vf");
    assert_eq!(only_new.rotate_keys().await?.rotated, 0);
    Ok(())
}
