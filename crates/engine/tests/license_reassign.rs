//! Seats reassigned by organization, on both backends, against the independent scim2-server
//! (tiers as SCIM entitlements): a workflow step that gives the leaver's seat to the earliest
//! waiting person of their department (out of order, audited), an offboarding's named successor,
//! a pool whose freed seats go first to the leaver's department (`freed_to`), and a department
//! move that changes the tier by rule-based assignments' license parameter.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tenure_connectors::ClientOptions;
use tenure_core::attributes::LICENSE;
use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_core::*;
use tenure_engine::admin::{AssignmentSpec, LicenseSpec, OffboardSpec, SettingsSpec, WorkflowSpec};
use tenure_engine::{Actor, Engine, EngineError, Executor, ManualClock, WorkerOptions};
use tenure_store::{AuditFilter, Store};
use tenure_testkit::{Scim2Server, TestBackend, TestDb, person};

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
    a_workflow_gives_the_seat_to_the_earliest_waiting_of_the_leavers_department,
    a_named_successor_gets_the_seat_first_in_line_and_bad_successors_change_nothing,
    a_successor_with_an_account_gets_the_tier_by_a_license_change,
    a_pool_whose_freed_seats_go_to_the_department_steers_a_leavers_seat,
    a_move_changes_the_tier_by_rule_and_waits_for_the_new_pool_then_frees_the_old_seat,
    a_workflow_gives_the_seat_to_a_member_of_a_directory_group_in_the_department,
);

const ANN: &str = "ann@acme.example";
const BO: &str = "bo@acme.example";
const CY: &str = "cy@acme.example";
const DI: &str = "di@acme.example";

struct World {
    _db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    clock: Arc<ManualClock>,
    peer: Scim2Server,
    source: SourceId,
    batch: ImportBatch,
}

fn someone(key: &str, email: &str, department: &str) -> ImportedPerson {
    let mut p = person(key, email);
    p.department = Some(department.into());
    p
}

fn pool(tier: &str, seats: u64, freed_to: Option<&str>) -> LicenseSpec {
    LicenseSpec {
        tier: Some(tier.into()),
        seats,
        cost_per_seat: "10".parse().expect("a price"),
        currency: None,
        period: None,
        renews: None,
        owner: None,
        unused_days: None,
        freed_to: freed_to.map(str::to_owned),
    }
}

/// The app `peer` (scim2-server) and the people of `batch`; nothing is assigned yet.
async fn world(backend: TestBackend, batch: ImportBatch) -> anyhow::Result<World> {
    let db = TestDb::new(backend).await?;
    let keys = tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?;
    let store = Store::connect_with_keys(db.url(), keys).await?;
    let tenant = store.ensure_tenant("acme").await?;
    let clock = Arc::new(ManualClock::new(tenure_engine::Clock::now_ms(&tenure_engine::SystemClock)));
    let client = ClientOptions { max_retries: 0, timeout: Duration::from_secs(5), ..ClientOptions::default() };
    let worker = WorkerOptions {
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(300),
        idle_poll: Duration::from_millis(20),
        ..WorkerOptions::default()
    };
    let engine = Engine::new(store.clone(), tenant)
        .with_clock(clock.clone())
        .with_client_options(client)
        .with_worker_options(worker)
        .with_drain_wait(Duration::from_secs(20));
    let peer = Scim2Server::start().await?;
    let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
    store.apply_import(tenant, source, &batch).await?;
    let cli = Actor::cli();
    engine
        .admin(&cli)
        .create_app(tenure_engine::admin::NewApp {
            name: "peer".into(),
            kind: tenure_engine::admin::NewAppKind::Scim,
            base_url: Some(peer.base_url().to_owned()),
            token: Some(peer.token().into()),
            oauth: None,
            google: None,
            github: None,
            owner: None,
            // Small worlds: every loss within the deprovisioning guard's limit.
            settings: SettingsSpec { guard_percent: Some(100), ..Default::default() },
            disabled: false,
        })
        .await?;
    Ok(World { _db: db, store, tenant, engine, clock, peer, source, batch })
}

impl World {
    fn admin_do<'a>(&'a self, cli: &'a Actor) -> tenure_engine::admin::Admin<'a> {
        self.engine.admin(cli)
    }

    async fn grant(&self, email: &str, tier: &str) -> anyhow::Result<()> {
        let cli = Actor::cli();
        let spec = AssignmentSpec { person: Some(email.into()), license: Some(tier.into()), ..Default::default() };
        self.admin_do(&cli).assign("peer", &spec, false).await?;
        Ok(())
    }

    /// One propagation pass, its queue carried out.
    async fn pass(&self) -> anyhow::Result<usize> {
        let pass = self.engine.propagate_once(self.engine.today().await?).await?;
        self.run_queue().await?;
        Ok(pass.queued_ops)
    }

    async fn run_queue(&self) -> anyhow::Result<()> {
        let executor = Executor::new(self.engine.clone(), self.engine.worker_options().clone());
        anyhow::ensure!(executor.drain(None, Duration::from_secs(20)).await?, "the queue did not drain");
        Ok(())
    }

    /// Each active user's tier, as the app holds it ("" for none).
    async fn tiers(&self) -> anyhow::Result<HashMap<String, String>> {
        let client = tenure_connectors::ScimClient::new(
            self.peer.base_url(),
            Secret::new(self.peer.token()),
            ClientOptions::default(),
        )?;
        Ok(client
            .list_users()
            .await?
            .into_iter()
            .filter(|u| u.active)
            .map(|u| (u.user_name().to_owned(), u.attributes.get(LICENSE).cloned().unwrap_or_default()))
            .collect())
    }

    async fn line(&self) -> anyhow::Result<Vec<(String, String)>> {
        let cli = Actor::cli();
        let line = self.admin_do(&cli).license_waiting(Some("peer")).await?;
        Ok(line.into_iter().map(|w| (w.tier.unwrap_or_default(), w.person)).collect())
    }

    async fn audit(&self, action: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let filter = AuditFilter { action: Some(action.into()), ..Default::default() };
        let page = self.store.query_audit(self.tenant, &filter, None, 50).await?;
        Ok(page.entries.into_iter().map(|e| e.detail).collect())
    }

    async fn later_pass(&self) -> anyhow::Result<tenure_engine::WorkflowPass> {
        self.clock.advance(Duration::from_secs(60));
        Ok(self.engine.workflow_pass().await?)
    }
}

fn line_of(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(t, p)| (t.to_string(), p.to_string())).collect()
}

/// Ann (Sales) and Bo hold the two seats of `pro`; Cy (Eng) waits first, Di (Sales) second.
async fn full_pool(backend: TestBackend, freed_to: Option<&str>) -> anyhow::Result<World> {
    let mut ann = someone("E1", ANN, "Sales");
    ann.manager_key = Some("E2".into());
    let batch = ImportBatch {
        people: vec![ann, someone("E2", BO, "Eng"), someone("E3", CY, "Eng"), someone("E4", DI, "Sales")],
        groups: vec![],
    };
    let w = world(backend, batch).await?;
    let cli = Actor::cli();
    w.admin_do(&cli).set_license("peer", pool("pro", 2, freed_to)).await?;
    for email in [ANN, BO] {
        w.grant(email, "pro").await?;
    }
    assert_eq!(w.pass().await?, 2);
    for email in [CY, DI] {
        w.grant(email, "pro").await?;
        w.pass().await?;
    }
    assert_eq!(w.line().await?, line_of(&[("pro", CY), ("pro", DI)]));
    Ok(w)
}

/// `reassign-license:peer:next-in-line:department`: Ann's seat goes to Di, who waits second but
/// is the earliest of Sales in line; Cy keeps his place, the skip is audited with the workflow
/// and step, and Di's account is made through the queue once the seat is free.
async fn a_workflow_gives_the_seat_to_the_earliest_waiting_of_the_leavers_department(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let w = full_pool(backend, None).await?;
    let cli = Actor::cli();
    let spec = WorkflowSpec {
        name: "hand-on".into(),
        trigger: "manager-change".into(),
        offset_days: None,
        steps: vec!["reassign-license:peer:next-in-line:department".into()],
    };
    w.admin_do(&cli).add_workflow(spec).await?;
    assert_eq!(w.engine.workflow_pass().await?.started, 0, "first look: the facts are recorded");
    let mut batch = w.batch.clone();
    batch.people[0].manager_key = Some("E3".into());
    w.store.apply_import(w.tenant, w.source, &batch).await?;
    assert_eq!(w.later_pass().await?.started, 1);
    w.run_queue().await?;
    w.later_pass().await?;
    let runs = w.admin_do(&cli).workflow_runs(Some(ANN), 10).await?;
    let run = &runs[0];
    assert_eq!(run.status, "done", "{run:?}");
    let result = run.steps[0].result.clone().unwrap_or_default();
    assert!(
        result.contains(&format!("{DI} skipped the line of peer pro from 2nd to 1st place (ahead of {CY})")),
        "{result}"
    );
    assert_eq!(w.line().await?, line_of(&[("pro", DI), ("pro", CY)]), "Di goes first, Cy keeps his order");
    let skips = w.audit("license.line_skip").await?;
    assert_eq!(skips.len(), 1, "{skips:?}");
    assert_eq!(skips[0]["skipped"], serde_json::json!([CY]));
    let why = skips[0]["why"].as_str().unwrap_or_default();
    assert!(why.contains("workflow hand-on, step reassign-license:peer:next-in-line:department"), "{why}");
    assert!(why.contains("earliest waiting in the line of peer pro from sales"), "{why}");

    // The seat Ann's license frees goes to Di through the normal path: planned, created.
    assert_eq!(w.pass().await?, 1);
    let tiers = w.tiers().await?;
    assert_eq!(tiers.get(DI).map(String::as_str), Some("pro"), "{tiers:?}");
    assert_eq!(tiers.get(ANN).map(String::as_str), Some(""), "{tiers:?}");
    // Ann's own assignment still grants `pro`: with the pool full, she waits behind Cy rather
    // than taking her seat back.
    assert_eq!(w.line().await?, line_of(&[("pro", CY), ("pro", ANN)]));
    Ok(())
}

/// `offboard ANN --successor DI`: Di has no account, so a person-level assignment with `pro`
/// grants it, and Di goes first in the line; the seat Ann frees is Di's before the command
/// returns. An unknown successor, or Ann herself, is refused and nothing is done.
async fn a_named_successor_gets_the_seat_first_in_line_and_bad_successors_change_nothing(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let mut batch = ImportBatch {
        people: vec![someone("E1", ANN, "Sales"), someone("E2", BO, "Eng"), someone("E3", CY, "Eng")],
        groups: vec![],
    };
    batch.people.push(someone("E4", DI, "Sales"));
    let w = world(backend, batch).await?;
    let cli = Actor::cli();
    let admin = w.admin_do(&cli);
    admin.set_license("peer", pool("pro", 2, None)).await?;
    for email in [ANN, BO, CY] {
        w.grant(email, "pro").await?;
    }
    w.pass().await?;
    assert_eq!(w.line().await?, line_of(&[("pro", CY)]));

    for (bad, says) in [("nobody@acme.example", "nobody with the email"), (ANN, "is the person offboarded")] {
        let err = admin.offboard_to(ANN, OffboardSpec::default(), Some(bad)).await.unwrap_err();
        assert!(matches!(&err, EngineError::BadField { field, .. } if field == "successor"), "{err:?}");
        assert!(err.to_string().contains(says), "{err}");
    }
    assert!(admin.offboarding_of(ANN).await?.is_none(), "nothing done");
    assert!(w.audit("license.successor").await?.is_empty());

    let preview = OffboardSpec { preview: true, ..Default::default() };
    let view = admin.offboard_to(ANN, preview, Some(DI)).await?;
    let step = view.apps.iter().find(|s| s.action == "successor").expect("a successor step");
    assert!(step.reason.starts_with(&format!("seat pro goes to {DI}")), "{}", step.reason);
    assert_eq!(view.successor.as_deref(), Some(DI));

    let view = admin.offboard_to(ANN, OffboardSpec::default(), Some(DI)).await?;
    let step = view.apps.iter().find(|s| s.action == "successor").expect("a successor step");
    assert_eq!(step.outcome.as_deref(), Some("done"), "{view:?}");
    let tiers = w.tiers().await?;
    assert_eq!(tiers.get(DI).map(String::as_str), Some("pro"), "{tiers:?}");
    assert!(!tiers.contains_key(ANN), "Ann is deactivated: {tiers:?}");
    assert_eq!(w.line().await?, line_of(&[("pro", CY)]), "Cy still waits, first");
    let handed = w.audit("license.successor").await?;
    assert_eq!((handed[0]["to"].as_str(), handed[0]["how"].as_str()), (Some(DI), Some("assignment")));
    let skips = w.audit("license.line_skip").await?;
    assert_eq!(skips[0]["skipped"], serde_json::json!([CY]), "{skips:?}");
    let assignments = admin.assignments("peer").await?;
    assert!(assignments.iter().any(|a| a.target.contains(DI)), "a person-level assignment: {assignments:?}");
    Ok(())
}

/// A successor who has an account gets the leaver's tier by a queued license change.
async fn a_successor_with_an_account_gets_the_tier_by_a_license_change(backend: TestBackend) -> anyhow::Result<()> {
    let batch = ImportBatch { people: vec![someone("E1", ANN, "Sales"), someone("E2", BO, "Sales")], groups: vec![] };
    let w = world(backend, batch).await?;
    let cli = Actor::cli();
    let admin = w.admin_do(&cli);
    admin.set_license("peer", pool("pro", 1, None)).await?;
    admin.set_license("peer", pool("basic", 5, None)).await?;
    w.grant(ANN, "pro").await?;
    w.grant(BO, "basic").await?;
    w.pass().await?;
    let view = admin.offboard_to(ANN, OffboardSpec::default(), Some(BO)).await?;
    let step = view.apps.iter().find(|s| s.action == "successor").expect("a successor step");
    assert_eq!(step.outcome.as_deref(), Some("done"), "{view:?}");
    assert!(step.reason.contains("a license change of their account"), "{}", step.reason);
    let tiers = w.tiers().await?;
    assert_eq!(tiers.get(BO).map(String::as_str), Some("pro"), "{tiers:?}");
    let handed = w.audit("license.successor").await?;
    assert_eq!(handed[0]["how"].as_str(), Some("license_change"));
    Ok(())
}

/// `freed_to department`: the seat Ann (Sales) frees by leaving goes to Di (Sales), second in
/// line, before Cy (Eng); audited with the pool's rule.
async fn a_pool_whose_freed_seats_go_to_the_department_steers_a_leavers_seat(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let w = full_pool(backend, Some("department")).await?;
    let cli = Actor::cli();
    let pools = w.admin_do(&cli).licenses().await?;
    assert_eq!(serde_json::to_value(&pools[0])?["freed_to"], "department");
    let view = w.admin_do(&cli).offboard(ANN, OffboardSpec::default()).await?;
    assert_eq!(view.status, "done", "{view:?}");
    assert_eq!(w.line().await?, line_of(&[("pro", DI), ("pro", CY)]));
    let skips = w.audit("license.line_skip").await?;
    let why = skips[0]["why"].as_str().unwrap_or_default();
    assert!(why.contains(&format!("the seat {ANN} frees goes first to their department (sales)")), "{why}");
    assert_eq!(w.pass().await?, 1);
    let tiers = w.tiers().await?;
    assert_eq!(tiers.get(DI).map(String::as_str), Some("pro"), "{tiers:?}");
    assert_eq!(w.line().await?, line_of(&[("pro", CY)]));
    Ok(())
}

/// Rule-based assignments give Sales the tier `sales` and Eng `eng`, one seat each. Sam moves
/// from Sales to Eng: the license change to `eng` waits in its full pool's line (Sam keeps the
/// `sales` seat meanwhile); a seat bought lets it through the queue; the `sales` seat it frees
/// goes to the next of its line.
async fn a_move_changes_the_tier_by_rule_and_waits_for_the_new_pool_then_frees_the_old_seat(
    backend: TestBackend,
) -> anyhow::Result<()> {
    const SAM: &str = "sam@acme.example";
    const EVE: &str = "eve@acme.example";
    let batch = ImportBatch { people: vec![someone("E1", SAM, "Sales"), someone("E2", EVE, "Eng")], groups: vec![] };
    let w = world(backend, batch).await?;
    let cli = Actor::cli();
    let admin = w.admin_do(&cli);
    admin.set_license("peer", pool("sales", 1, None)).await?;
    admin.set_license("peer", pool("eng", 1, None)).await?;
    for (dept, tier) in [("Sales", "sales"), ("Eng", "eng")] {
        let spec = AssignmentSpec {
            rule: Some(format!("department == \"{dept}\"")),
            license: Some(tier.into()),
            ..Default::default()
        };
        admin.assign("peer", &spec, false).await?;
    }
    w.pass().await?;
    // Di joins Sales later: the one `sales` seat is Sam's, she waits.
    let mut batch = w.batch.clone();
    batch.people.push(someone("E3", DI, "Sales"));
    w.store.apply_import(w.tenant, w.source, &batch).await?;
    w.pass().await?;
    let first = w.tiers().await?;
    assert_eq!(first.get(SAM).map(String::as_str), Some("sales"), "{first:?}");
    assert_eq!(first.get(EVE).map(String::as_str), Some("eng"), "{first:?}");
    assert_eq!(w.line().await?, line_of(&[("sales", DI)]));

    // Sam moves to Eng: the change to `eng` waits for a seat there.
    batch.people[0].department = Some("Eng".into());
    w.store.apply_import(w.tenant, w.source, &batch).await?;
    w.pass().await?;
    assert_eq!(w.tiers().await?.get(SAM).map(String::as_str), Some("sales"), "keeps the old seat while waiting");
    assert_eq!(w.line().await?, line_of(&[("eng", SAM), ("sales", DI)]));
    let plans = w.engine.plan(None, w.engine.today().await?).await?;
    let why: Vec<&str> = plans[0].plan.withheld.iter().map(|x| x.why.as_str()).collect();
    assert!(why.contains(&"waiting for a seat in peer eng, 1st in line"), "{why:?}");

    // A seat bought in `eng`: the change goes through the queue, and the `sales` seat it frees
    // goes to Di at the next pass.
    admin.set_license("peer", pool("eng", 2, None)).await?;
    assert_eq!(w.pass().await?, 1, "Sam's license change");
    assert_eq!(w.tiers().await?.get(SAM).map(String::as_str), Some("eng"));
    assert_eq!(w.pass().await?, 1, "Di's account");
    let tiers = w.tiers().await?;
    assert_eq!(tiers.get(DI).map(String::as_str), Some("sales"), "{tiers:?}");
    assert!(w.line().await?.is_empty());
    Ok(())
}

/// `reassign-license:peer:group:CRM-Admins`: of the leaver's department, the member of the
/// directory group who holds an account without the tier gets it by a queued license change
/// (first by email: Bo before Eve; Cy is in the group but in Eng), and the reason names the rule.
async fn a_workflow_gives_the_seat_to_a_member_of_a_directory_group_in_the_department(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let mut ann = someone("E1", ANN, "Sales");
    ann.manager_key = Some("E2".into());
    let in_group = |mut p: ImportedPerson| {
        p.groups = vec!["crm-admins".into()];
        p
    };
    const EVE: &str = "eve@acme.example";
    let batch = ImportBatch {
        people: vec![
            ann,
            in_group(someone("E2", BO, "sales")),
            in_group(someone("E3", CY, "Eng")),
            in_group(someone("E4", EVE, "Sales")),
            someone("E5", DI, "Sales"),
        ],
        groups: vec![],
    };
    let w = world(backend, batch).await?;
    let cli = Actor::cli();
    w.admin_do(&cli).set_license("peer", pool("pro", 1, None)).await?;
    w.admin_do(&cli).set_license("peer", pool("basic", 10, None)).await?;
    w.grant(ANN, "pro").await?;
    for email in [BO, CY, EVE, DI] {
        w.grant(email, "basic").await?;
    }
    assert_eq!(w.pass().await?, 5);
    let spec = WorkflowSpec {
        name: "hand-on".into(),
        trigger: "manager-change".into(),
        offset_days: None,
        steps: vec!["reassign-license:peer:group:CRM-Admins".into()],
    };
    w.admin_do(&cli).add_workflow(spec).await?;
    assert_eq!(w.engine.workflow_pass().await?.started, 0, "first look: the facts are recorded");
    let mut batch = w.batch.clone();
    batch.people[0].manager_key = Some("E5".into());
    w.store.apply_import(w.tenant, w.source, &batch).await?;
    assert_eq!(w.later_pass().await?.started, 1);
    w.run_queue().await?;
    w.later_pass().await?;
    let runs = w.admin_do(&cli).workflow_runs(Some(ANN), 10).await?;
    assert_eq!(runs[0].status, "done", "{:?}", runs[0]);
    assert_eq!(
        runs[0].steps[0].result.as_deref(),
        Some(format!("peer: pro to {BO}; peer: pro taken from {ANN}").as_str())
    );
    let tiers = w.tiers().await?;
    assert_eq!((tiers[BO].as_str(), tiers[EVE].as_str(), tiers[ANN].as_str()), ("pro", "basic", ""), "{tiers:?}");
    let ops = w.admin_do(&cli).operations(None, Some("peer"), 50).await?;
    let give = ops.iter().find(|r| r.op.person == BO && r.op.kind.name() == "change_license").expect("Bo's change");
    let reason = give.op.reason.to_string();
    assert!(
        reason.contains("group:CRM-Admins: in the group from sales, the first by email holding an account"),
        "{reason}"
    );
    Ok(())
}
