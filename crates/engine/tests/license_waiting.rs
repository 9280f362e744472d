//! A full license pool's waiting line on both backends, against the sandbox's SCIM app: people
//! granted the app beyond the pool's seats wait in line (the plan says where), a freed seat goes
//! to the first in line on the next propagation pass, and license admins are told when the pool
//! runs out and when it frees up.

use std::time::Duration;

use serde_json::json;
use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_engine::admin::{AssignmentSpec, ChannelSpec, LicenseSpec, NewApp, NewAppKind, SettingsSpec};
use tenure_engine::{Actor, Engine, Executor};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::Store;
use tenure_testkit::{TestBackend, TestDb, person};

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

on_both_backends!(a_full_pool_makes_people_wait_in_grant_order_and_a_freed_seat_goes_to_the_first);

async fn a_full_pool_makes_people_wait_in_grant_order_and_a_freed_seat_goes_to_the_first(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let _db = TestDb::new(backend).await?;
    let keyring = tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "test")?;
    let store = Store::connect_with_keys(_db.url(), keyring).await?;
    let tenant = store.ensure_tenant("acme").await?;
    let engine = Engine::new(store.clone(), tenant).with_drain_wait(Duration::from_millis(300));
    let app =
        SandboxApp::spawn(SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, "tok") })
            .await?;
    let cli = Actor::cli();
    let admin = engine.admin(&cli);
    admin
        .create_app(NewApp {
            name: "notion".into(),
            kind: NewAppKind::Scim,
            base_url: Some(app.base_url()),
            token: Some(app.token().into()),
            oauth: None,
            google: None,
            github: None,
            owner: None,
            // Small worlds: every loss of these tests within the deprovisioning guard's limit.
            settings: SettingsSpec { guard_percent: Some(100), ..Default::default() },
            disabled: false,
        })
        .await?;
    // License admins are told through a channel; nothing listens, so its messages stay in the
    // outbox, where the test reads them.
    let spec = ChannelSpec {
        name: "licenses".into(),
        kind: "webhook".into(),
        url: Some("http://127.0.0.1:9/hook".into()),
        ..Default::default()
    };
    admin.add_channel(spec).await?;
    let pool = LicenseSpec {
        tier: None,
        seats: 2,
        cost_per_seat: "8".parse()?,
        currency: None,
        period: None,
        renews: None,
        owner: None,
        unused_days: None,
        freed_to: None,
    };
    admin.set_license("notion", pool).await?;
    let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
    let mut people: Vec<ImportedPerson> =
        (0..4).map(|i| person(&format!("E{i}"), &format!("p{i}@acme.example"))).collect();
    store.apply_import(tenant, source, &ImportBatch { people: people.clone(), groups: vec![] }).await?;
    admin.assign("notion", &AssignmentSpec { org_unit: Some("/".into()), ..Default::default() }, false).await?;

    // The plan says who waits, and where.
    let plans = engine.plan(None, tenure_engine::today()).await?;
    assert_eq!(plans[0].plan.count("create"), 2, "{:?}", plans[0].plan.ops);
    let whys: Vec<(&str, &str)> =
        plans[0].plan.withheld.iter().map(|w| (w.op.person.as_str(), w.why.as_str())).collect();
    assert_eq!(
        whys,
        [
            ("p2@acme.example", "waiting for a seat in notion, 1st in line"),
            ("p3@acme.example", "waiting for a seat in notion, 2nd in line"),
        ]
    );
    let applied = engine.apply(plans).await?;
    assert_eq!(applied.succeeded("create"), 2);
    assert_eq!(app.users().len(), 2);
    let line = admin.license_waiting(None).await?;
    let seen: Vec<(usize, &str)> = line.iter().map(|w| (w.place, w.person.as_str())).collect();
    assert_eq!(seen, [(1, "p2@acme.example"), (2, "p3@acme.example")]);
    // Granted later: behind them, whatever the plan's order.
    people.push(person("E4", "a-late@acme.example"));
    store.apply_import(tenant, source, &ImportBatch { people: people.clone(), groups: vec![] }).await?;
    let executor = Executor::new(engine.clone(), engine.worker_options().clone());
    engine.propagate_once(tenure_engine::today()).await?;
    let line = admin.license_waiting(Some("notion")).await?;
    assert_eq!(
        line.iter().map(|w| w.person.as_str()).collect::<Vec<_>>(),
        ["p2@acme.example", "p3@acme.example", "a-late@acme.example"]
    );
    // A pass with nothing changed gives nobody a seat.
    assert_eq!(engine.propagate_once(tenure_engine::today()).await?.queued_ops, 0);

    // p0 leaves: their seat frees up once the deactivation is carried out, and the next pass
    // gives it to the first in line.
    people.remove(0);
    store.apply_import(tenant, source, &ImportBatch { people: people.clone(), groups: vec![] }).await?;
    engine.propagate_once(tenure_engine::today()).await?;
    assert!(executor.drain(None, Duration::from_secs(30)).await?);
    let pass = engine.propagate_once(tenure_engine::today()).await?;
    assert_eq!(pass.queued_ops, 1, "{pass:?}");
    assert!(executor.drain(None, Duration::from_secs(30)).await?);
    assert!(app.users().iter().any(|u| u.user_name == "p2@acme.example" && u.active), "p2 got the seat");
    let line = admin.license_waiting(None).await?;
    assert_eq!(
        line.iter().map(|w| (w.place, w.person.as_str())).collect::<Vec<_>>(),
        [(1, "p3@acme.example"), (2, "a-late@acme.example")]
    );
    assert_eq!(engine.propagate_once(tenure_engine::today()).await?.queued_ops, 0, "full again");

    // Told: the pool ran out, then a seat freed up.
    let events: Vec<String> = store.outbox(tenant, 100).await?.into_iter().map(|m| m.event).collect();
    assert!(events.iter().any(|e| e == "license.pool_full"), "{events:?}");
    assert!(events.iter().any(|e| e == "license.seat_freed"), "{events:?}");
    let audit = store
        .query_audit(
            tenant,
            &tenure_store::AuditFilter { action: Some("license.waiting".into()), ..Default::default() },
            None,
            10,
        )
        .await?;
    assert_eq!(audit.entries.len(), 3, "one entry per person joining a line");
    Ok(())
}
