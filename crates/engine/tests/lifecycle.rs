//! The lifecycle layer on both backends: an offboarding whose app is unreachable leaves its
//! work in the store, and a restarted Tenure finishes it; a scheduled offboarding acts from its
//! date; a held plan is told through a webhook; channel credentials are sealed at rest.

use std::sync::{Arc, Mutex};

use serde_json::json;
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::admin::{
    AppEdit, AssignmentSpec, ChannelSpec, Credentials, NewApp, NewAppKind, OffboardSpec, SettingsSpec, Unassign,
};
use tenure_engine::{Actor, Engine, Executor};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::Store;
use tenure_testkit::{TestBackend, TestDb, person};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Postgres).await })*
        }
    };
}

on_both_backends!(
    an_offboarding_survives_an_unreachable_app_and_a_restart,
    a_scheduled_offboarding_acts_from_its_date,
    a_held_plan_is_told_through_a_signed_webhook,
);

const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

struct World {
    db: TestDb,
    store: Store,
    engine: Engine,
    tenant: TenantId,
    app: SandboxApp,
}

async fn world(backend: TestBackend, people: usize) -> anyhow::Result<World> {
    let db = TestDb::new(backend).await?;
    let keyring = tenure_store::crypto::Keyring::parse(KEYS, "test")?;
    let store = Store::connect_with_keys(db.url(), keyring).await?;
    let tenant = store.ensure_tenant("acme").await?;
    let engine = Engine::new(store.clone(), tenant).with_drain_wait(std::time::Duration::from_millis(300));
    let app =
        SandboxApp::spawn(SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, "tok") })
            .await?;
    let cli = Actor::cli();
    engine
        .admin(&cli)
        .create_app(NewApp {
            name: "notion".into(),
            kind: NewAppKind::Scim,
            base_url: Some(app.base_url()),
            token: Some(app.token().into()),
            oauth: None,
            google: None,
            github: None,
            owner: None,
            settings: SettingsSpec::default(),
            disabled: false,
        })
        .await?;
    let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
    let batch = ImportBatch {
        people: (0..people).map(|i| person(&format!("E{i}"), &format!("p{i}@acme.example"))).collect(),
        groups: vec![],
    };
    store.apply_import(tenant, source, &batch).await?;
    engine
        .admin(&cli)
        .assign("notion", &AssignmentSpec { org_unit: Some("/".into()), ..Default::default() }, false)
        .await?;
    let applied = engine.apply(engine.plan(None, tenure_engine::today()).await?).await?;
    anyhow::ensure!(applied.succeeded("create") == people, "{:?}", applied.apps);
    Ok(World { db, store, engine, tenant, app })
}

fn active(app: &SandboxApp, email: &str) -> Option<bool> {
    app.users().into_iter().find(|u| u.user_name == email).map(|u| u.active)
}

async fn an_offboarding_survives_an_unreachable_app_and_a_restart(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend, 3).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    // The app stops answering (nothing listens where it was).
    let dead = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let edit = |url: String| AppEdit {
        base_url: Some(url),
        credentials: Some(Credentials { token: Some("tok".into()), ..Default::default() }),
        ..Default::default()
    };
    admin.edit_app("notion", edit(format!("http://{dead}/scim/v2")), None, false).await?;
    let view = admin.offboard("p1@acme.example", OffboardSpec::default()).await?;
    assert_eq!(view.status, "incomplete", "{view:?}");
    assert_eq!(view.apps[0].outcome.as_deref(), Some("queued"), "{view:?}");
    assert_eq!(active(&w.app, "p1@acme.example"), Some(true));

    // A restart: a new process, a new store handle; the work is in the store and goes on.
    let keyring = tenure_store::crypto::Keyring::parse(KEYS, "test")?;
    let store = Store::connect_with_keys(w.db.url(), keyring).await?;
    let engine = Engine::new(store.clone(), w.tenant);
    engine.admin(&cli).edit_app("notion", edit(w.app.base_url()), None, false).await?;
    let executor = Executor::new(engine.clone(), engine.worker_options().clone());
    assert!(executor.drain(None, std::time::Duration::from_secs(60)).await?, "the queue empties");
    assert_eq!(active(&w.app, "p1@acme.example"), Some(false), "deactivated after the restart");
    assert_eq!(active(&w.app, "p0@acme.example"), Some(true), "nobody else");
    // Nothing of the offboarding is left for propagation to redo, and the mark stands.
    let pass = engine.propagate_once(tenure_engine::today()).await?;
    assert_eq!(pass.queued_ops, 0, "{pass:?}");
    assert_eq!(store.offboardings(w.tenant).await?.len(), 1);
    Ok(())
}

async fn a_scheduled_offboarding_acts_from_its_date(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend, 2).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let tomorrow = tenure_engine::today() + time::Duration::days(1);
    let spec = OffboardSpec { at: Some(tomorrow.to_string()), ..Default::default() };
    let view = admin.offboard("p0@acme.example", spec).await?;
    assert_eq!(view.status, "scheduled", "{view:?}");
    assert_eq!(view.apps[0].action, "deactivate", "what it will do: {view:?}");
    // Today nothing happens, whatever plans run.
    w.engine.propagate_once(tenure_engine::today()).await?;
    let today_plan = w.engine.plan(None, tenure_engine::today()).await?;
    assert!(today_plan[0].plan.ops.is_empty(), "{:?}", today_plan[0].plan.ops);
    // On the day (a fake "today"), the planner takes the account away.
    let then = w.engine.plan(None, tomorrow).await?;
    let ops: Vec<&str> = then[0].plan.ops.iter().map(|o| o.kind.name()).collect();
    assert_eq!(ops, ["deactivate"]);
    assert!(matches!(then[0].plan.ops[0].reason, Reason::Revoked { revocation: Revocation::Offboarded, .. }));
    let bad =
        admin.offboard("p0@acme.example", OffboardSpec { at: Some("next tuesday".into()), ..Default::default() }).await;
    assert!(bad.unwrap_err().to_string().contains("YYYY-MM-DD"));
    let missing = admin.offboard("nobody@acme.example", OffboardSpec::default()).await;
    assert!(missing.unwrap_err().to_string().contains("not found"));
    Ok(())
}

async fn a_held_plan_is_told_through_a_signed_webhook(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend, 10).await?;
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let sink = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            // Enough for the small JSON bodies of this test: read until the peer pauses.
            while let Ok(Ok(n)) =
                tokio::time::timeout(std::time::Duration::from_millis(200), socket.read(&mut buf)).await
            {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&got).contains("\r\n\r\n{") && got.ends_with(b"}") {
                    break;
                }
            }
            sink.lock().unwrap().push(String::from_utf8_lossy(&got).into_owned());
            let _ =
                socket.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        }
    });
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let spec =
        ChannelSpec { name: "hook".into(), kind: "webhook".into(), url: Some(url.clone()), ..Default::default() };
    let added = admin.add_channel(spec).await?;
    let key = added.signing_key.expect("shown once");
    assert!(admin.channels().await?.iter().all(|c| c.signing_key.is_none() && !c.target.contains("/hook")));
    // At rest, the URL and key are sealed: neither appears in the database.
    let raw = raw_secret(&w).await?;
    assert!(raw.starts_with("v1:k1:") && !raw.contains(&key) && !raw.contains("/hook"), "{raw}");

    // Everyone loses the app at once: over the guard's limit, held, and the channel is told.
    let spec = AssignmentSpec { org_unit: Some("/".into()), ..Default::default() };
    admin.unassign("notion", Unassign::Target(&spec), false).await?;
    let report = w.engine.apply(w.engine.plan(None, tenure_engine::today()).await?).await?;
    assert!(report.held_losses > 0, "{report:?}");
    w.engine.drain_notifications(std::time::Duration::from_secs(10)).await?;
    let got = received.lock().unwrap().clone();
    let held = got.iter().find(|r| r.contains("plan.held")).unwrap_or_else(|| panic!("no plan.held in {got:?}"));
    assert!(held.contains("x-tenure-signature: sha256=") && held.contains("tenure plan approve"), "{held}");
    assert!(!held.contains("tok"), "no app token in a message");
    Ok(())
}

async fn raw_secret(w: &World) -> anyhow::Result<String> {
    // Read as the database holds it, below the store's API.
    let channels = w.store.channels(w.tenant).await?;
    anyhow::ensure!(channels.len() == 1);
    let url = w.db.url().to_owned();
    let out = match w.db.backend() {
        TestBackend::Sqlite => {
            let path = url.trim_start_matches("sqlite://");
            std::process::Command::new("sqlite3").args([path, "SELECT secret FROM notify_channels"]).output()?
        }
        TestBackend::Postgres => std::process::Command::new("psql")
            .args([url.as_str(), "-Atqc", "SELECT secret FROM notify_channels"])
            .output()?,
    };
    anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}
