//! App credentials at rest: sealed under a master key bound to their row, precise failures, and
//! rotation to a new key (or out of plain text), on both backends.

use tenure_core::*;
use tenure_store::crypto::{CryptoError, Keyring, StoredForm};
use tenure_store::{AppAuth, KeyRotation, Store, StoreError};
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
    secrets_round_trip_sealed_and_never_in_the_row,
    a_wrong_or_missing_key_fails_precisely,
    a_tampered_ciphertext_fails_authentication,
    a_secret_moved_to_another_row_fails_authentication,
    rotation_moves_every_secret_to_the_new_key_once,
    rotation_seals_plain_secrets_and_needs_a_key,
    rotation_is_all_or_nothing,
    the_migration_marks_legacy_plain_secrets,
    oauth_settings_round_trip_beside_the_sealed_client_secret,
);

fn key(id: &str, byte: u8) -> String {
    use base64::Engine as _;
    format!("{id}:{}", base64::engine::general_purpose::STANDARD.encode([byte; 32]))
}

fn keyring(spec: &[(&str, u8)]) -> Keyring {
    let text = spec.iter().map(|(id, b)| key(id, *b)).collect::<Vec<_>>().join(",");
    Keyring::parse(&text, "test").expect("test keys parse")
}

async fn raw_pool(db: &TestDb) -> anyhow::Result<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    Ok(sqlx::AnyPool::connect(db.url()).await?)
}

async fn raw_secret(pool: &sqlx::AnyPool, app: AppId) -> anyhow::Result<String> {
    use sqlx::Row;
    let row = sqlx::query("SELECT secret FROM apps WHERE id = $1").bind(app.to_string()).fetch_one(pool).await?;
    Ok(row.try_get("secret")?)
}

async fn set_raw_secret(pool: &sqlx::AnyPool, app: AppId, value: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE apps SET secret = $1 WHERE id = $2").bind(value).bind(app.to_string()).execute(pool).await?;
    Ok(())
}

async fn add(store: &Store, tenant: TenantId, name: &str, token: &str) -> anyhow::Result<App> {
    Ok(store
        .add_app(
            tenant,
            name,
            AppKind::Scim,
            "http://127.0.0.1:1/scim/v2",
            &Secret::new(token),
            &AppSettings::default(),
        )
        .await?)
}

async fn setup(backend: TestBackend, keys: Keyring) -> anyhow::Result<(TestDb, Store, TenantId)> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(db.url(), keys).await?;
    let tenant = store.ensure_tenant("default").await?;
    Ok((db, store, tenant))
}

fn credential_error(e: StoreError) -> CryptoError {
    match e {
        StoreError::Credential { source, .. } => source,
        other => panic!("expected a credential error, got {other}"),
    }
}

async fn secrets_round_trip_sealed_and_never_in_the_row(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, tenant) = setup(backend, keyring(&[("k1", 1)])).await?;
    let app = add(&store, tenant, "slack", "xoxp-round-trip-token").await?;
    let raw = raw_secret(&raw_pool(&db).await?, app.id).await?;
    assert!(raw.starts_with("v1:k1:"), "{raw}");
    assert!(!raw.contains("xoxp-round-trip-token"), "{raw}");
    assert_eq!(store.app_by_name(tenant, "slack").await?.secret.expose(), "xoxp-round-trip-token");

    store.set_app_secret(tenant, app.id, &Secret::new("xoxp-replaced")).await?;
    let raw2 = raw_secret(&raw_pool(&db).await?, app.id).await?;
    assert!(raw2.starts_with("v1:k1:") && !raw2.contains("xoxp-replaced"), "{raw2}");
    assert_eq!(store.app_by_name(tenant, "slack").await?.secret.expose(), "xoxp-replaced");
    Ok(())
}

async fn a_wrong_or_missing_key_fails_precisely(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, tenant) = setup(backend, keyring(&[("k1", 1)])).await?;
    add(&store, tenant, "slack", "tok-1").await?;

    // Same id, other key bytes: the tag does not verify.
    let other = Store::connect_with_keys(db.url(), keyring(&[("k1", 9)])).await?;
    let e = other.list_apps(tenant).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("app slack") && text.contains("authentication failed"), "{text}");
    assert_eq!(credential_error(e), CryptoError::AuthenticationFailed("k1".into()));

    // Only a newer key: the error names the missing one.
    let newer = Store::connect_with_keys(db.url(), keyring(&[("k2", 2)])).await?;
    let e = newer.list_apps(tenant).await.unwrap_err();
    assert!(e.to_string().contains("\"k1\"") && e.to_string().contains("not configured"), "{e}");
    assert_eq!(credential_error(e), CryptoError::UnknownKey("k1".into()));

    // No key at all cannot read sealed secrets either, and says which key they need.
    let none = Store::connect_with_keys(db.url(), Keyring::empty()).await?;
    assert_eq!(credential_error(none.list_apps(tenant).await.unwrap_err()), CryptoError::UnknownKey("k1".into()));
    Ok(())
}

async fn a_tampered_ciphertext_fails_authentication(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, tenant) = setup(backend, keyring(&[("k1", 1)])).await?;
    let app = add(&store, tenant, "slack", "tok-tamper").await?;
    let pool = raw_pool(&db).await?;
    let raw = raw_secret(&pool, app.id).await?;
    // Flip one base64 character of the ciphertext (last field), keeping it valid base64.
    let (head, ct) = raw.rsplit_once(':').expect("sealed form has fields");
    let mut chars: Vec<char> = ct.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    set_raw_secret(&pool, app.id, &format!("{head}:{}", chars.into_iter().collect::<String>())).await?;
    let e = store.app_by_name(tenant, "slack").await.unwrap_err();
    assert!(e.to_string().contains("authentication failed"), "{e}");

    // A cut-off value is reported as malformed, not as a panic or a wrong secret.
    set_raw_secret(&pool, app.id, "v1:k1").await?;
    assert!(matches!(credential_error(store.list_apps(tenant).await.unwrap_err()), CryptoError::Malformed(_)));
    Ok(())
}

async fn a_secret_moved_to_another_row_fails_authentication(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, tenant) = setup(backend, keyring(&[("k1", 1)])).await?;
    let slack = add(&store, tenant, "slack", "slack-token").await?;
    let notion = add(&store, tenant, "notion", "notion-token").await?;
    let pool = raw_pool(&db).await?;
    let slack_raw = raw_secret(&pool, slack.id).await?;
    set_raw_secret(&pool, notion.id, &slack_raw).await?;
    let e = store.list_apps(tenant).await.unwrap_err();
    assert!(e.to_string().contains("app notion") && e.to_string().contains("authentication failed"), "{e}");

    // Another tenant's row: the tenant is bound too.
    let other_tenant = store.ensure_tenant("other").await?;
    let theirs = add(&store, other_tenant, "slack", "their-token").await?;
    set_raw_secret(&pool, theirs.id, &slack_raw).await?;
    assert!(store.list_apps(other_tenant).await.unwrap_err().to_string().contains("authentication failed"));
    Ok(())
}

async fn rotation_moves_every_secret_to_the_new_key_once(backend: TestBackend) -> anyhow::Result<()> {
    let (db, old, tenant) = setup(backend, keyring(&[("k1", 1)])).await?;
    add(&old, tenant, "slack", "slack-token").await?;
    add(&old, tenant, "notion", "notion-token").await?;
    let status = old.key_status().await?;
    assert_eq!(status.counts.get(&StoredForm::Sealed { key_id: "k1".into() }), Some(&2));

    let both = Store::connect_with_keys(db.url(), keyring(&[("k2", 2), ("k1", 1)])).await?;
    // Reading works with both keys, before any rotation.
    assert_eq!(both.app_by_name(tenant, "slack").await?.secret.expose(), "slack-token");
    assert_eq!(both.rotate_keys().await?, KeyRotation { rotated: 2, unchanged: 0 });
    assert_eq!(both.rotate_keys().await?, KeyRotation { rotated: 0, unchanged: 2 });
    let status = both.key_status().await?;
    assert_eq!(status.counts.len(), 1, "{status:?}");
    assert_eq!(status.counts.get(&StoredForm::Sealed { key_id: "k2".into() }), Some(&2));

    // k1 can now be retired.
    let new_only = Store::connect_with_keys(db.url(), keyring(&[("k2", 2)])).await?;
    let apps = new_only.list_apps(tenant).await?;
    let secrets: Vec<_> = apps.iter().map(|a| a.secret.expose().to_owned()).collect();
    assert_eq!(secrets, ["notion-token", "slack-token"]);
    Ok(())
}

async fn rotation_seals_plain_secrets_and_needs_a_key(backend: TestBackend) -> anyhow::Result<()> {
    // Without a key nothing is stored at all, and the error names the settings.
    let (db, plain, tenant) = setup(backend, Keyring::empty()).await?;
    let e = add(&plain, tenant, "slack", "plain-token").await.unwrap_err().to_string();
    assert!(e.contains("TENURE_MASTER_KEYS") && e.contains("TENURE_MASTER_KEY_FILE"), "{e}");
    assert!(matches!(plain.rotate_keys().await, Err(StoreError::NoMasterKey)));

    // A row an earlier version wrote in plain text is not trusted once a key exists ...
    let keyed = Store::connect_with_keys(db.url(), keyring(&[("k1", 1)])).await?;
    let app = add(&keyed, tenant, "slack", "plain-token").await?;
    let pool = raw_pool(&db).await?;
    set_raw_secret(&pool, app.id, "plain:plain-token").await?;
    assert_eq!(credential_error(keyed.app_by_name(tenant, "slack").await.unwrap_err()), CryptoError::Plaintext);
    // ... and is sealed at the next start, audited.
    keyed.close().await;
    let restarted = Store::connect_with_keys(db.url(), keyring(&[("k1", 1)])).await?;
    let raw = raw_secret(&pool, app.id).await?;
    assert!(raw.starts_with("v1:k1:") && !raw.contains("plain-token"), "{raw}");
    assert_eq!(restarted.app_by_name(tenant, "slack").await?.secret.expose(), "plain-token");
    let audit = restarted.list_audit(tenant, 10).await?;
    assert!(audit.iter().any(|e| e.action == "keys.seal_plaintext"), "{audit:?}");
    Ok(())
}

async fn rotation_is_all_or_nothing(backend: TestBackend) -> anyhow::Result<()> {
    let (db, k1, tenant) = setup(backend, keyring(&[("k1", 1)])).await?;
    let a = add(&k1, tenant, "a-app", "a-token").await?;
    let b = add(&k1, tenant, "b-app", "b-token").await?;
    let pool = raw_pool(&db).await?;
    let a_raw = raw_secret(&pool, a.id).await?;
    // b's secret was sealed under a key this process does not have.
    let k9 = Store::connect_with_keys(db.url(), keyring(&[("k9", 9)])).await?;
    k9.set_app_secret(tenant, b.id, &Secret::new("b-token")).await?;

    let keyed = Store::connect_with_keys(db.url(), keyring(&[("k2", 2), ("k1", 1)])).await?;
    let e = keyed.rotate_keys().await.unwrap_err();
    assert!(e.to_string().contains("b-app") && e.to_string().contains("\"k9\""), "{e}");
    // a was re-sealed inside the failed transaction: rolled back, still under k1.
    assert_eq!(raw_secret(&pool, a.id).await?, a_raw);
    Ok(())
}

async fn the_migration_marks_legacy_plain_secrets(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, tenant) = setup(backend, keyring(&[("k1", 1)])).await?;
    let app = add(&store, tenant, "slack", "legacy-token").await?;
    store.close().await;
    // Back to the schema before migration 7, with the secret as it was stored then.
    let pool = raw_pool(&db).await?;
    sqlx::query("DELETE FROM tenure_migrations WHERE version = 7").execute(&pool).await?;
    sqlx::query("ALTER TABLE apps DROP COLUMN auth").execute(&pool).await?;
    set_raw_secret(&pool, app.id, "legacy-token").await?;
    pool.close().await;

    // Without a key the legacy row still reads (nothing else could open it) ...
    let store = Store::connect_with_keys(db.url(), Keyring::empty()).await?;
    assert_eq!(raw_secret(&raw_pool(&db).await?, app.id).await?, "plain:legacy-token");
    let record = store.app_by_name(tenant, "slack").await?;
    assert_eq!((record.secret.expose(), record.auth), ("legacy-token", AppAuth::Bearer));
    store.close().await;
    // ... and the first start with a key seals it.
    let store = Store::connect_with_keys(db.url(), keyring(&[("k1", 1)])).await?;
    let raw = raw_secret(&raw_pool(&db).await?, app.id).await?;
    assert!(raw.starts_with("v1:k1:"), "{raw}");
    assert_eq!(store.app_by_name(tenant, "slack").await?.secret.expose(), "legacy-token");
    Ok(())
}

async fn oauth_settings_round_trip_beside_the_sealed_client_secret(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, tenant) = setup(backend, keyring(&[("k1", 1)])).await?;
    let auth = AppAuth::OauthClientCredentials {
        token_url: "https://login.example.com/oauth/token".into(),
        client_id: "tenure-client".into(),
        scope: Some("scim:write".into()),
        client_auth: tenure_store::OauthClientAuth::Body,
        token_params: [("box_subject_type".to_owned(), "enterprise".to_owned())].into(),
    };
    let app = store
        .add_app_with_auth(
            tenant,
            "zoom",
            AppKind::Scim,
            "http://127.0.0.1:1/scim/v2",
            &auth,
            &Secret::new("client-secret-value"),
            &AppSettings::default(),
        )
        .await?;
    let raw = raw_secret(&raw_pool(&db).await?, app.id).await?;
    assert!(!raw.contains("client-secret-value"), "{raw}");
    let record = store.app_by_name(tenant, "zoom").await?;
    assert_eq!(record.auth, auth);
    assert_eq!(record.secret.expose(), "client-secret-value");
    Ok(())
}
