//! Sources as events, through a real server: Microsoft Graph subscriptions (the validation
//! handshake at creation, `clientState` checked, renewal by PATCH) and Google Workspace push
//! channels (the `sync` message ignored, the channel token checked, renewal by a new channel and
//! the old one stopped), each notification syncing its source within seconds. Against the
//! testkit's Graph and Google fakes, which follow the documented contracts.

mod common;

use std::time::Duration;

use serde_json::json;
use tenure_engine::ChannelOptions;
use tenure_store::Store;
use tenure_testkit::cloud_fake::{TEST_CERT, TEST_KEY, fixture};
use tenure_testkit::google_fake::{ADMIN, GoogleFake};
use tenure_testkit::graph_fake::{CLIENT_ID, GraphFake, TENANT};

/// A server whose tenants' engines know its public URL (the hooks' address), on SQLite.
struct Served {
    base: String,
    store: Store,
    contexts: tenure_engine::TenantContexts,
    _db: tenure_testkit::TestDb,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn serve() -> anyhow::Result<Served> {
    let db = tenure_testkit::TestDb::new(tenure_testkit::TestBackend::Sqlite).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let contexts = tenure_engine::TenantContexts::new(store.clone()).with_public_url(Some(base.clone()));
    let state = tenure_server::ServerState::with_contexts(contexts.clone()).with_public_url(base.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tenure_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok(Served { base, store, contexts, _db: db, _stop: stop })
}

/// Waits until `key` is among the tenant's people, for at most 10 seconds.
async fn person_arrives(store: &Store, tenant: tenure_core::TenantId, key: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if store.list_people(tenant).await?.iter().any(|p| p.source_key == key) {
            return Ok(());
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "{key} did not arrive within 10 s of the notification");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_change_notifications_sync_the_source_and_subscriptions_are_renewed() -> anyhow::Result<()> {
    let server = serve().await?;
    let tenant = server.store.ensure_tenant("acme").await?;
    let engine = server.contexts.engine(tenant);
    let graph = GraphFake::start().await?;
    graph.dir().put_user("u1", json!({"userPrincipalName": "u1@contoso.com", "accountEnabled": true}));
    let config = json!({
        "tenant_id": TENANT, "client_id": CLIENT_ID,
        "credential": {"certificate": {"certificate": fixture(TEST_CERT), "private_key": fixture(TEST_KEY)}},
        "base_url": graph.base_url(), "token_url": graph.token_url(),
    });
    server.store.add_source(tenant, "entra", "graph", &config).await?;
    engine.sync(Some("entra")).await?;

    // Subscriptions on users and groups: Graph created them only after our hook echoed its
    // validation token.
    let options = ChannelOptions::default();
    let kept = engine.keep_source_channels(&options).await?;
    assert_eq!((kept.opened, kept.failed), (2, 0), "{kept:?}");
    {
        let dir = graph.dir();
        assert_eq!((dir.counts.subscriptions_created, dir.counts.validations_failed), (2, 0));
        let urls: Vec<&String> = dir.subscriptions.values().map(|s| &s.notification_url).collect();
        assert!(urls.iter().all(|u| **u == format!("{}/hooks/graph/{tenant}", server.base)), "{urls:?}");
    }
    // Looked at again soon after: nothing to do.
    let kept = engine.keep_source_channels(&options).await?;
    assert_eq!((kept.opened, kept.renewed), (0, 0), "{kept:?}");

    // A change, its notification, and the delta sync it starts.
    graph.dir().put_user("u2", json!({"userPrincipalName": "u2@contoso.com", "accountEnabled": true}));
    let deltas_before = graph.dir().counts.users_delta;
    assert_eq!(graph.notify("users", "u2", "updated", None).await?, [202]);
    person_arrives(&server.store, tenant, "u2").await?;
    let last = server.store.list_sources(tenant).await?.into_iter().find(|s| s.name == "entra").expect("source");
    assert!(last.cursor.is_some(), "the sync resumed from the stored delta cursor");
    assert!(graph.dir().counts.users_delta > deltas_before);

    // A notification with the wrong clientState is refused and syncs nothing.
    assert_eq!(graph.notify("users", "u2", "updated", Some("forged")).await?, [403]);
    // So is one for a subscription that is not the tenant's, and the handshake echoes.
    let http = common::client();
    let hook = format!("{}/hooks/graph/{tenant}", server.base);
    let stranger = json!({"value": [{"subscriptionId": "not-ours", "clientState": "x", "changeType": "updated"}]});
    assert_eq!(http.post(&hook).json(&stranger).send().await?.status().as_u16(), 403);
    let echo = http.post(format!("{hook}?validationToken=a%20b%3Cc")).send().await?;
    assert_eq!(echo.status().as_u16(), 200);
    assert!(echo.headers()["content-type"].to_str()?.starts_with("text/plain"));
    assert_eq!(echo.text().await?, "a b<c");
    let unknown = http.post(format!("{}/hooks/graph/{}", server.base, tenure_core::TenantId::new())).send().await?;
    assert_eq!(unknown.status().as_u16(), 404);

    // Close to expiry: renewed in place (same ids, PATCH), not subscribed anew.
    let ids: Vec<String> = graph.dir().subscriptions.keys().cloned().collect();
    let soon = ChannelOptions { renew_before: Duration::from_secs(3 * 24 * 3600), ..ChannelOptions::default() };
    let kept = engine.keep_source_channels(&soon).await?;
    assert_eq!((kept.renewed, kept.opened), (2, 0), "{kept:?}");
    assert_eq!(graph.dir().counts.subscriptions_renewed, 2);
    assert_eq!(graph.dir().subscriptions.keys().cloned().collect::<Vec<_>>(), ids);

    // The source removed: its channels are forgotten (Graph's side cannot be reached without the
    // source's credentials, and runs out by itself), so their notifications are refused.
    engine.admin(&tenure_engine::Actor::cli()).remove_source("entra", true).await?;
    let kept = engine.keep_source_channels(&options).await?;
    assert_eq!(kept.closed, 2, "{kept:?}");
    assert_eq!(graph.notify("users", "u2", "updated", None).await?, [403]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_push_channels_sync_the_source_and_are_replaced_before_they_expire() -> anyhow::Result<()> {
    let server = serve().await?;
    let tenant = server.store.ensure_tenant("acme").await?;
    let engine = server.contexts.engine(tenant);
    let google = GoogleFake::start().await?;
    let user = |id: &str| json!({"id": id, "primaryEmail": format!("{id}@example.com"), "orgUnitPath": "/Staff"});
    google.dir().users = vec![user("g1"), user("g2")];
    let keys = tempfile::tempdir()?;
    let key_file = keys.path().join("sa.json");
    std::fs::write(&key_file, google.key_file_json(&std::fs::read_to_string(fixture(TEST_KEY))?))?;
    let config = json!({"key_file": key_file, "admin": ADMIN, "base_url": google.base_url()});
    server.store.add_source(tenant, "workspace", "google", &config).await?;
    engine.sync(Some("workspace")).await?;

    let options = ChannelOptions::default();
    let kept = engine.keep_source_channels(&options).await?;
    assert_eq!((kept.opened, kept.failed), (4, 0), "one channel per user event: {kept:?}");
    assert_eq!(google.dir().channels.len(), 4);
    // Each channel's first message, `sync`, is answered 200 and starts nothing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let syncs: Vec<u16> = google.dir().deliveries.iter().filter(|d| d.state == "sync").map(|d| d.status).collect();
        if syncs.len() == 4 {
            assert!(syncs.iter().all(|s| *s == 200), "{syncs:?}");
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the sync messages did not all arrive: {syncs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let users_read = google.dir().counts.users;

    // A new user: Google's `add` notification makes Tenure read the directory at once.
    google.dir().users.push(user("g3"));
    assert_eq!(google.notify_users("add", "g3").await, [200], "only the add channel is told");
    person_arrives(&server.store, tenant, "g3").await?;
    assert!(google.dir().counts.users > users_read);

    // The wrong channel token, or a channel that is not the tenant's, is refused.
    let http = common::client();
    let hook = format!("{}/hooks/google/{tenant}", server.base);
    let channel = google.dir().channels[0].id.clone();
    let forged = http
        .post(&hook)
        .header("X-Goog-Channel-ID", &channel)
        .header("X-Goog-Channel-Token", "guess")
        .header("X-Goog-Resource-State", "update")
        .send()
        .await?;
    assert_eq!(forged.status().as_u16(), 403);
    let stranger = http
        .post(&hook)
        .header("X-Goog-Channel-ID", "not-ours")
        .header("X-Goog-Resource-State", "update")
        .send()
        .await?;
    assert_eq!(stranger.status().as_u16(), 403);

    // Close to expiry: Google channels cannot be extended, so new ones are opened and the old
    // ones stopped.
    let old: Vec<String> = google.dir().channels.iter().map(|c| c.id.clone()).collect();
    let soon = ChannelOptions { renew_before: Duration::from_secs(7 * 3600), ..ChannelOptions::default() };
    let kept = engine.keep_source_channels(&soon).await?;
    assert_eq!(kept.opened, 4, "{kept:?}");
    let dir = google.dir();
    assert_eq!((dir.channels.len(), dir.counts.stops), (4, 4));
    assert!(dir.channels.iter().all(|c| !old.contains(&c.id)), "the old channels are stopped");
    Ok(())
}
