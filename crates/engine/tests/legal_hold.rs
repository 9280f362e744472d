//! Legal holds on both backends, against the sandbox's SCIM app: a held person loses no account
//! by propagation, by a full plan-and-apply or by an offboarding; the plans say why; the hold
//! dismisses losses already queued; lifting it lets what the policy says happen.

use std::time::Duration;

use serde_json::json;
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::admin::{
    AppEdit, AssignmentSpec, Credentials, LegalHoldSpec, NewApp, NewAppKind, OffboardSpec, SettingsSpec,
};
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

on_both_backends!(
    a_held_person_keeps_their_account_through_propagation_until_the_hold_is_lifted,
    a_held_person_is_not_offboarded,
    a_hold_dismisses_queued_losses_and_is_an_org_admins_act,
);

struct World {
    _db: TestDb,
    store: Store,
    engine: Engine,
    tenant: TenantId,
    app: SandboxApp,
    source: SourceId,
    people: Vec<tenure_core::import::ImportedPerson>,
}

async fn world(backend: TestBackend, people: usize) -> anyhow::Result<World> {
    let db = TestDb::new(backend).await?;
    let keyring = tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "test")?;
    let store = Store::connect_with_keys(db.url(), keyring).await?;
    let tenant = store.ensure_tenant("acme").await?;
    let engine = Engine::new(store.clone(), tenant).with_drain_wait(Duration::from_millis(300));
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
            // Small worlds: every loss of these tests within the deprovisioning guard's limit.
            settings: SettingsSpec { guard_percent: Some(100), ..Default::default() },
            disabled: false,
        })
        .await?;
    let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
    let people: Vec<_> = (0..people).map(|i| person(&format!("E{i}"), &format!("p{i}@acme.example"))).collect();
    store.apply_import(tenant, source, &ImportBatch { people: people.clone(), groups: vec![] }).await?;
    engine
        .admin(&cli)
        .assign("notion", &AssignmentSpec { org_unit: Some("/".into()), ..Default::default() }, false)
        .await?;
    let applied = engine.apply(engine.plan(None, tenure_engine::today()).await?).await?;
    anyhow::ensure!(applied.succeeded("create") == people.len(), "{:?}", applied.apps);
    Ok(World { _db: db, store, engine, tenant, app, source, people })
}

impl World {
    fn active(&self, email: &str) -> Option<bool> {
        self.app.users().into_iter().find(|u| u.user_name == email).map(|u| u.active)
    }

    /// A propagation pass, and the queue run dry.
    async fn pass(&self) -> anyhow::Result<tenure_engine::PropagationPass> {
        let pass = self.engine.propagate_once(tenure_engine::today()).await?;
        let executor = Executor::new(self.engine.clone(), self.engine.worker_options().clone());
        anyhow::ensure!(executor.drain(None, Duration::from_secs(30)).await?, "the queue drains");
        Ok(pass)
    }

    /// The source no longer lists person `n`.
    async fn leaves(&mut self, n: usize) -> anyhow::Result<()> {
        self.people.remove(n);
        let batch = ImportBatch { people: self.people.clone(), groups: vec![] };
        self.store.apply_import(self.tenant, self.source, &batch).await?;
        Ok(())
    }

    async fn actions_about(&self, email: &str) -> anyhow::Result<Vec<(String, serde_json::Value)>> {
        let filter = tenure_store::AuditFilter { person: Some(email.into()), ..Default::default() };
        let page = self.store.query_audit(self.tenant, &filter, None, 100).await?;
        Ok(page.entries.into_iter().map(|e| (e.action, e.detail)).collect())
    }
}

fn hold(reason: &str) -> LegalHoldSpec {
    LegalHoldSpec { reason: reason.into() }
}

async fn a_held_person_keeps_their_account_through_propagation_until_the_hold_is_lifted(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let mut w = world(backend, 3).await?;
    let cli = Actor::cli();
    let engine = w.engine.clone();
    let admin = engine.admin(&cli);
    let placed = admin.place_legal_hold("P1@acme.example", hold("litigation case 42")).await?;
    assert_eq!((placed.person.as_str(), placed.actor.as_str(), placed.dismissed), ("p1@acme.example", "cli", 0));

    // p1 and p2 leave the source; only p2 loses the account.
    w.leaves(2).await?;
    w.leaves(1).await?;
    let pass = w.pass().await?;
    assert_eq!(pass.queued_ops, 1, "p2's deactivation only: {pass:?}");
    assert_eq!(w.active("p1@acme.example"), Some(true), "held");
    assert_eq!(w.active("p2@acme.example"), Some(false));

    // The plan says what it leaves undone, and why.
    let plans = w.engine.plan(None, tenure_engine::today()).await?;
    assert!(plans[0].plan.ops.is_empty(), "{:?}", plans[0].plan.ops);
    let withheld = &plans[0].plan.withheld;
    assert_eq!(withheld.len(), 1, "{withheld:?}");
    assert_eq!(withheld[0].op.person, "p1@acme.example");
    assert_eq!(withheld[0].op.kind.name(), "deactivate");
    let today = tenure_engine::today().to_string();
    assert_eq!(withheld[0].why, format!("held: legal hold since {today} by cli (litigation case 42)"));
    // A full reconciliation (`tenure apply`) leaves it too.
    let report = w.engine.apply(plans).await?;
    assert_eq!(report.succeeded("deactivate"), 0);
    assert_eq!(w.active("p1@acme.example"), Some(true));

    let audit = w.actions_about("p1@acme.example").await?;
    assert!(audit.iter().any(|(a, d)| a == "person.legal_hold" && d["reason"] == "litigation case 42"), "{audit:?}");
    let withheld_entry = audit.iter().find(|(a, _)| a == "legal_hold.withheld").expect("the withheld loss is audited");
    assert_eq!(withheld_entry.1["losses"][0]["op"], "deactivate", "{withheld_entry:?}");
    assert!(withheld_entry.1["why"].as_str().is_some_and(|why| why.contains("legal hold")));

    // Lifted: the next pass carries out what the policy says.
    let lifted = admin.lift_legal_hold("p1@acme.example").await?;
    assert_eq!(lifted.reason, "litigation case 42");
    assert!(admin.legal_holds().await?.is_empty());
    let pass = w.pass().await?;
    assert_eq!(pass.queued_ops, 1, "{pass:?}");
    assert_eq!(w.active("p1@acme.example"), Some(false), "deactivated once the hold is lifted");
    let audit = w.actions_about("p1@acme.example").await?;
    assert!(audit.iter().any(|(a, _)| a == "person.legal_hold_lifted"), "{audit:?}");
    Ok(())
}

async fn a_held_person_is_not_offboarded(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend, 2).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    admin.place_legal_hold("p0@acme.example", hold("HR investigation")).await?;
    let preview = admin.offboard("p0@acme.example", OffboardSpec { preview: true, ..Default::default() }).await?;
    assert_eq!(preview.apps.len(), 1, "{preview:?}");
    assert_eq!(preview.apps[0].action, "withheld", "{preview:?}");
    assert!(preview.apps[0].reason.starts_with("held: legal hold since"), "{preview:?}");

    let view = admin.offboard("p0@acme.example", OffboardSpec::default()).await?;
    assert_eq!(view.apps[0].outcome.as_deref(), Some("withheld"), "{view:?}");
    assert_eq!(view.status, "incomplete", "{view:?}");
    assert!(view.plan_id.is_none(), "nothing queued: {view:?}");
    assert_eq!(w.active("p0@acme.example"), Some(true));
    // Propagation, with the offboarding mark standing, holds back too.
    assert_eq!(w.engine.propagate_once(tenure_engine::today()).await?.queued_ops, 0);
    assert_eq!(w.active("p0@acme.example"), Some(true));

    // Lifted: the offboarding stands and is carried out.
    admin.lift_legal_hold("p0@acme.example").await?;
    let pass = w.engine.propagate_once(tenure_engine::today()).await?;
    assert_eq!(pass.queued_ops, 1, "{pass:?}");
    let executor = Executor::new(w.engine.clone(), w.engine.worker_options().clone());
    assert!(executor.drain(None, Duration::from_secs(30)).await?);
    assert_eq!(w.active("p0@acme.example"), Some(false));
    assert_eq!(w.active("p1@acme.example"), Some(true), "nobody else");
    Ok(())
}

async fn a_hold_dismisses_queued_losses_and_is_an_org_admins_act(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend, 2).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    // The app stops answering: the offboarding's deactivation waits in the queue for a retry.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let edit = |url: String| AppEdit {
        base_url: Some(url),
        credentials: Some(Credentials { token: Some("tok".into()), ..Default::default() }),
        ..Default::default()
    };
    admin.edit_app("notion", edit(format!("http://{dead}/scim/v2")), None, false).await?;
    let view = admin.offboard("p1@acme.example", OffboardSpec::default()).await?;
    assert_eq!(view.apps[0].outcome.as_deref(), Some("queued"), "{view:?}");

    // Only an org admin places or lifts a hold.
    for role in [Role::Auditor, Role::LicenseAdmin, Role::AppAdmin] {
        let other = Actor { name: "someone@acme.example".into(), role, apps: vec![] };
        let refused = w.engine.admin(&other).place_legal_hold("p1@acme.example", hold("x")).await;
        assert!(matches!(refused, Err(tenure_engine::EngineError::Forbidden(_))), "{role}: {refused:?}");
    }
    // Bad input: a precise error, nothing written.
    let empty = admin.place_legal_hold("p1@acme.example", hold("  ")).await.unwrap_err().to_string();
    assert!(empty.contains("reason"), "{empty}");
    let long = admin.place_legal_hold("p1@acme.example", hold(&"x".repeat(501))).await.unwrap_err().to_string();
    assert!(long.contains("500"), "{long}");
    let nobody = admin.place_legal_hold("nobody@acme.example", hold("x")).await.unwrap_err().to_string();
    assert!(nobody.contains("not found"), "{nobody}");
    assert!(admin.lift_legal_hold("p1@acme.example").await.is_err(), "not on hold");
    assert!(admin.legal_holds().await?.is_empty());

    let placed = admin.place_legal_hold("p1@acme.example", hold("subpoena 7")).await?;
    assert_eq!(placed.dismissed, 1, "the queued deactivation: {placed:?}");
    let again = admin.place_legal_hold("p1@acme.example", hold("again")).await.unwrap_err().to_string();
    assert!(again.contains("on legal hold already"), "{again}");

    // The app answers again; the queue has nothing of p1's left to do.
    admin.edit_app("notion", edit(w.app.base_url()), None, false).await?;
    let executor = Executor::new(w.engine.clone(), w.engine.worker_options().clone());
    assert!(executor.drain(None, Duration::from_secs(30)).await?);
    assert_eq!(w.active("p1@acme.example"), Some(true));
    assert_eq!(w.engine.propagate_once(tenure_engine::today()).await?.queued_ops, 0);
    assert_eq!(w.active("p1@acme.example"), Some(true));
    Ok(())
}
