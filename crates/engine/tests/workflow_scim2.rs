//! Lifecycle workflows end to end against the independent scim2-server, on both backends:
//! each trigger that is not a date (a department change, an offboarding, an onboarding)
//! starts a run, and the steps that queue work in the app (`reassign-license`,
//! `remove-groups`, `deprovision`) go through the queue and are waited for over later passes
//! (`waiting for N operations`), their effect read back from the app.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tenure_connectors::ClientOptions;
use tenure_core::attributes::LICENSE;
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::admin::{OffboardSpec, RunView, WorkflowSpec};
use tenure_engine::{Actor, Engine, Executor, ManualClock, WorkerOptions};
use tenure_store::Store;
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
    a_department_change_starts_a_run_that_reassigns_the_license_and_removes_groups,
    an_offboarding_starts_a_run_that_waits_for_its_deprovisioning,
    an_onboarding_starts_a_run_once_every_account_is_ready,
    a_manager_change_starts_a_run_that_gives_the_new_manager_the_license,
    a_reassignment_missing_its_other_half_queues_nothing_and_says_why,
    a_department_head_is_given_the_license,
);

struct World {
    _db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    clock: Arc<ManualClock>,
    peer: Scim2Server,
    source: SourceId,
    app: AppId,
}

const ANN: &str = "ann@acme.example";
const BO: &str = "bo@acme.example";
const CY: &str = "cy@acme.example";

fn people(ann_department: &str, ann_start: Option<time::Date>) -> ImportBatch {
    let mut ann = person("E1", ANN);
    ann.manager_key = Some("E0".into());
    ann.department = Some(ann_department.into());
    ann.start_date = ann_start;
    ImportBatch { people: vec![person("E0", BO), ann], groups: vec![] }
}

/// Ann (Engineering, managed by Bo) and Bo; the app `peer` (scim2-server) grants Ann the
/// license `enterprise` and the role `admin`, Bo `basic` and `member`, both in the in-app group
/// `eng-team`. Nothing is
/// created in the app yet.
async fn world(backend: TestBackend, ann_start: Option<time::Date>) -> anyhow::Result<World> {
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
    store.apply_import(tenant, source, &people("Engineering", ann_start)).await?;
    let app = store
        .add_app(tenant, "peer", AppKind::Scim, peer.base_url(), &Secret::new(peer.token()), &AppSettings::default())
        .await?;
    for (email, license, role) in [(ANN, "enterprise", "admin"), (BO, "basic", "member")] {
        let who = store.list_people(tenant).await?.into_iter().find(|p| p.email == email).expect("imported");
        let params = AssignmentParams {
            license: Some(license.into()),
            role: Some(role.into()),
            groups: vec!["eng-team".into()],
        };
        store.assign(tenant, app.id, &AssignmentTarget::Person(who.id), false, &params).await?;
    }
    Ok(World { _db: db, store, tenant, engine, clock, peer, source, app: app.id })
}

impl World {
    /// Creates what the policy grants (accounts, licenses, the group) and waits for the app.
    async fn provision(&self) -> anyhow::Result<()> {
        let today = self.engine.today().await?;
        let applied = self.engine.apply(self.engine.plan(None, today).await?).await?;
        anyhow::ensure!(applied.succeeded("create") == 2, "{:?}", applied.apps);
        let (team, licenses) = self.app_state().await?;
        anyhow::ensure!(team == HashSet::from([ANN.to_owned(), BO.to_owned()]), "{team:?}");
        anyhow::ensure!(licenses.get(ANN).map(String::as_str) == Some("enterprise"), "{licenses:?}");
        Ok(())
    }

    /// What the app says: the userNames in `eng-team`, and each user's license.
    async fn app_state(&self) -> anyhow::Result<(HashSet<String>, std::collections::HashMap<String, String>)> {
        let client = tenure_connectors::ScimClient::new(
            self.peer.base_url(),
            Secret::new(self.peer.token()),
            ClientOptions::default(),
        )?;
        let users = client.list_users().await?;
        let groups = client.list_groups().await?;
        let ids: HashSet<&String> = groups.iter().filter(|g| g.name == "eng-team").flat_map(|g| &g.members).collect();
        let team = users.iter().filter(|u| ids.contains(&u.remote_id)).map(|u| u.user_name().to_owned()).collect();
        let licenses = users
            .iter()
            .filter_map(|u| u.attributes.get(LICENSE).map(|l| (u.user_name().to_owned(), l.clone())))
            .filter(|(_, l)| !l.is_empty())
            .collect();
        Ok((team, licenses))
    }

    async fn run_of(&self, workflow: &str) -> anyhow::Result<RunView> {
        let cli = Actor::cli();
        let runs = self.engine.admin(&cli).workflow_runs(Some(ANN), 50).await?;
        runs.into_iter().find(|r| r.workflow == workflow).ok_or_else(|| anyhow::anyhow!("no run of {workflow}"))
    }

    /// The queue carried out by a worker, as under `serve`.
    async fn run_queue(&self) -> anyhow::Result<()> {
        let executor = Executor::new(self.engine.clone(), self.engine.worker_options().clone());
        anyhow::ensure!(executor.drain(None, Duration::from_secs(20)).await?, "the queue did not drain");
        Ok(())
    }

    /// A pass a minute later (a waiting step is looked at again after its poll interval).
    async fn later_pass(&self) -> anyhow::Result<tenure_engine::WorkflowPass> {
        self.clock.advance(Duration::from_secs(60));
        Ok(self.engine.workflow_pass().await?)
    }
}

fn spec(name: &str, trigger: &str, steps: &[&str]) -> WorkflowSpec {
    WorkflowSpec {
        name: name.into(),
        trigger: trigger.into(),
        offset_days: None,
        steps: steps.iter().map(|s| s.to_string()).collect(),
    }
}

fn statuses(run: &RunView) -> Vec<&str> {
    run.steps.iter().map(|s| s.status.as_str()).collect()
}

async fn a_department_change_starts_a_run_that_reassigns_the_license_and_removes_groups(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let w = world(backend, None).await?;
    w.provision().await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    admin
        .add_workflow(spec("movers", "department-change", &["reassign-license:peer:manager", "remove-groups:all"]))
        .await?;
    assert_eq!(w.engine.workflow_pass().await?.started, 0, "first look: the facts are recorded");

    // Ann moves to Sales: the next pass starts a run, whose first step queues two license
    // changes and waits for them instead of holding the pass up.
    w.store.apply_import(w.tenant, w.source, &people("Sales", None)).await?;
    let pass = w.later_pass().await?;
    assert_eq!((pass.started, pass.steps), (1, 0), "{pass:?}");
    let run = w.run_of("movers").await?;
    assert!(run.occasion.starts_with("department Engineering -> Sales on "), "{run:?}");
    assert_eq!(statuses(&run), ["waiting", "pending"], "{run:?}");
    assert_eq!(run.steps[0].result.as_deref(), Some("waiting for 2 operations"));
    let (_, licenses) = w.app_state().await?;
    assert_eq!(licenses.get(ANN).map(String::as_str), Some("enterprise"), "nothing done in the pass itself");

    w.run_queue().await?;
    let (_, licenses) = w.app_state().await?;
    assert_eq!(licenses.get(BO).map(String::as_str), Some("enterprise"), "{licenses:?}");
    assert_eq!(licenses.get(ANN), None, "{licenses:?}");
    let pass = w.later_pass().await?;
    assert_eq!(pass.steps, 1, "the reassignment ended; the group removal queued: {pass:?}");
    let run = w.run_of("movers").await?;
    assert_eq!(statuses(&run), ["done", "waiting"], "{run:?}");
    assert_eq!(
        run.steps[0].result.as_deref(),
        Some(format!("peer: enterprise to {BO}; peer: enterprise taken from {ANN}").as_str())
    );
    assert_eq!(run.steps[1].result.as_deref(), Some("waiting for 1 operation"));

    w.run_queue().await?;
    assert_eq!(w.later_pass().await?.steps, 1);
    let run = w.run_of("movers").await?;
    assert_eq!((run.status.as_str(), statuses(&run)), ("done", vec!["done", "done"]), "{run:?}");
    assert_eq!(run.steps[1].result.as_deref(), Some("peer: out of group eng-team"));
    let (team, _) = w.app_state().await?;
    assert_eq!(team, HashSet::from([BO.to_owned()]), "only Ann left the group");

    // Each change is a queued operation with the workflow as its reason, and audited.
    let ops = w.store.list_operations(w.tenant, &Default::default()).await?;
    let by_workflow: Vec<_> = ops.iter().filter(|r| matches!(r.op.reason, Reason::Workflow { .. })).collect();
    assert_eq!(by_workflow.len(), 3, "{by_workflow:#?}");
    assert!(by_workflow.iter().all(|r| r.op.app_id == w.app));
    let reason = by_workflow.iter().find(|r| r.op.person == ANN).map(|r| r.op.reason.to_string());
    assert_eq!(
        reason.as_deref(),
        Some(
            format!("workflow movers, step reassign-license:peer:manager: its license enterprise goes to {BO}")
                .as_str()
        )
    );
    let audit = w.store.list_audit(w.tenant, 200).await?;
    assert!(audit.iter().any(|e| e.action == "plan.apply" && e.actor == "workflow:movers"), "audited");
    Ok(())
}

async fn an_offboarding_starts_a_run_that_waits_for_its_deprovisioning(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend, None).await?;
    w.provision().await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let smtp = tenure_testkit::SmtpServer::start().await?;
    let channel = tenure_engine::admin::ChannelSpec {
        name: "mail".into(),
        kind: "email".into(),
        smtp_url: Some(smtp.url()),
        from: Some("tenure@acme.example".into()),
        to: vec!["it@acme.example".into()],
        ..Default::default()
    };
    admin.add_channel(channel).await?;
    admin.add_workflow(spec("leavers", "offboarding", &["remove-groups:peer", "deprovision"])).await?;
    assert_eq!(w.engine.workflow_pass().await?.started, 0, "nobody offboarded yet");

    // Scheduled for tomorrow: nothing yet; on the day, the run starts.
    let today = w.engine.today().await?;
    let tomorrow = today + time::Duration::days(1);
    let spec_at = OffboardSpec { at: Some(tomorrow.to_string()), ..OffboardSpec::default() };
    assert_eq!(admin.offboard(ANN, spec_at).await?.status, "scheduled");
    assert_eq!(w.engine.workflow_pass().await?.started, 0);
    w.clock.advance(Duration::from_secs(24 * 3600));
    let pass = w.engine.workflow_pass().await?;
    assert_eq!((pass.started, pass.steps), (1, 0), "{pass:?}");
    let run = w.run_of("leavers").await?;
    assert_eq!(run.occasion, format!("offboarding {tomorrow}"));
    assert_eq!(statuses(&run), ["waiting", "pending"], "{run:?}");

    w.run_queue().await?;
    let pass = w.later_pass().await?;
    assert_eq!(pass.steps, 1, "{pass:?}");
    let run = w.run_of("leavers").await?;
    assert_eq!(statuses(&run), ["done", "waiting"], "{run:?}");
    assert_eq!(run.steps[1].result.as_deref(), Some("waiting for 1 operation"), "{run:?}");

    w.run_queue().await?;
    assert_eq!(w.later_pass().await?.steps, 1);
    let run = w.run_of("leavers").await?;
    assert_eq!((run.status.as_str(), statuses(&run)), ("done", vec!["done", "done"]), "{run:?}");
    assert!(run.steps[1].result.as_deref().unwrap_or_default().contains("peer deactivate: done"), "{run:?}");
    let client =
        tenure_connectors::ScimClient::new(w.peer.base_url(), Secret::new(w.peer.token()), ClientOptions::default())?;
    let users = client.list_users().await?;
    let active = |email: &str| users.iter().find(|u| u.user_name() == email).map(|u| u.active);
    assert_eq!((active(ANN), active(BO)), (Some(false), Some(true)));
    let (team, _) = w.app_state().await?;
    assert_eq!(team, HashSet::from([BO.to_owned()]));
    // Once the step ended, the "offboarding done" notice went out with each app's outcome.
    w.engine.drain_notifications(Duration::from_secs(10)).await?;
    let done = tenure_testkit::eventually(Duration::from_secs(10), || async {
        smtp.messages().into_iter().find(|m| m.text.contains(": done") && m.text.contains("Subject: Offboarding of"))
    })
    .await?;
    assert!(done.text.contains("- peer: deactivate ann@acme.example: done"), "{}", done.text);
    Ok(())
}

/// Ann's manager changes from Bo to Cy (who joins the app): a run starts for the change, and
/// `reassign-license:peer:manager` gives Cy, the manager now, Ann's license.
async fn a_manager_change_starts_a_run_that_gives_the_new_manager_the_license(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let w = world(backend, None).await?;
    let mut batch = people("Engineering", None);
    batch.people.push(person("E2", CY));
    w.store.apply_import(w.tenant, w.source, &batch).await?;
    let cy = w.store.list_people(w.tenant).await?.into_iter().find(|p| p.email == CY).expect("imported");
    let params = AssignmentParams { license: Some("basic".into()), ..AssignmentParams::default() };
    w.store.assign(w.tenant, w.app, &AssignmentTarget::Person(cy.id), false, &params).await?;
    let today = w.engine.today().await?;
    let applied = w.engine.apply(w.engine.plan(None, today).await?).await?;
    anyhow::ensure!(applied.succeeded("create") == 3, "{:?}", applied.apps);
    let cli = Actor::cli();
    let steps = ["reassign-license:peer:manager", "reassign-role:peer:manager"];
    w.engine.admin(&cli).add_workflow(spec("new-manager", "manager-change", &steps)).await?;
    assert_eq!(w.engine.workflow_pass().await?.started, 0, "first look: the facts are recorded");

    // Cy is Ann's manager now.
    batch.people[1].manager_key = Some("E2".into());
    w.store.apply_import(w.tenant, w.source, &batch).await?;
    let pass = w.later_pass().await?;
    assert_eq!(pass.started, 1, "{pass:?}");
    let run = w.run_of("new-manager").await?;
    assert_eq!(run.occasion, format!("manager {BO} -> {CY} on {today}"), "{run:?}");
    assert_eq!(statuses(&run), ["waiting", "pending"], "{run:?}");
    w.run_queue().await?;
    assert_eq!(w.later_pass().await?.steps, 1);
    w.run_queue().await?;
    assert_eq!(w.later_pass().await?.steps, 1);
    let run = w.run_of("new-manager").await?;
    assert_eq!((run.status.as_str(), statuses(&run)), ("done", vec!["done", "done"]), "{run:?}");
    assert_eq!(
        run.steps[1].result.as_deref(),
        Some(format!("peer: admin to {CY}; peer: admin taken from {ANN}").as_str())
    );
    let client =
        tenure_connectors::ScimClient::new(w.peer.base_url(), Secret::new(w.peer.token()), ClientOptions::default())?;
    let users = client.list_users().await?;
    let role = |email: &str| {
        users
            .iter()
            .find(|u| u.user_name() == email)
            .and_then(|u| u.attributes.get(tenure_core::attributes::ROLE).cloned())
    };
    assert_eq!((role(CY).as_deref(), role(BO).as_deref()), (Some("admin"), Some("member")));
    assert!(role(ANN).is_none_or(|r| r.is_empty()), "{:?}", role(ANN));
    let (_, licenses) = w.app_state().await?;
    assert_eq!(licenses.get(CY).map(String::as_str), Some("enterprise"), "{licenses:?}");
    assert_eq!(licenses.get(BO).map(String::as_str), Some("basic"), "the old manager keeps his own");
    assert_eq!(licenses.get(ANN), None, "{licenses:?}");
    Ok(())
}

async fn a_reassignment_missing_its_other_half_queues_nothing_and_says_why(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend, None).await?;
    w.provision().await?;
    let cli = Actor::cli();
    let steps = ["reassign-license:peer:zed@acme.example+continue", "remove-groups:peer"];
    w.engine.admin(&cli).add_workflow(spec("movers", "department-change", &steps)).await?;
    w.engine.workflow_pass().await?;
    w.store.apply_import(w.tenant, w.source, &people("Sales", None)).await?;
    let pass = w.later_pass().await?;
    assert_eq!((pass.started, pass.steps), (1, 1), "the failed reassignment went on to the removal: {pass:?}");
    let run = w.run_of("movers").await?;
    assert_eq!(statuses(&run), ["failed", "waiting"], "{run:?}");
    assert_eq!(run.steps[0].error.as_deref(), Some("nobody with the email zed@acme.example in the directory"));
    let ops = w.store.list_operations(w.tenant, &Default::default()).await?;
    let licenses: Vec<_> = ops.iter().filter(|r| r.op.kind.name() == "change_license").collect();
    assert!(licenses.is_empty(), "nothing half done: {licenses:#?}");
    let (_, licenses) = w.app_state().await?;
    assert_eq!(licenses.get(ANN).map(String::as_str), Some("enterprise"));
    Ok(())
}

async fn an_onboarding_starts_a_run_once_every_account_is_ready(backend: TestBackend) -> anyhow::Result<()> {
    let today = tenure_engine::today();
    let w = world(backend, Some(today)).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    admin.add_workflow(spec("welcome", "onboarding", &["wait:1"])).await?;
    assert_eq!(w.engine.workflow_pass().await?.started, 0, "Ann's account does not exist yet");
    w.provision().await?;
    let pass = w.engine.workflow_pass().await?;
    assert_eq!(pass.started, 1, "Ann starts today and her account is ready: {pass:?}");
    let run = w.run_of("welcome").await?;
    assert_eq!(run.occasion, format!("onboarding {today}"));
    assert_eq!(statuses(&run), ["done"], "{run:?}");
    assert_eq!(w.engine.workflow_pass().await?.started, 0, "once");
    Ok(())
}

/// `reassign-license:peer:department-head`: Ann and Bo, her manager, both move to Sales; Bo is
/// the last manager up Ann's chain still in Sales, so Ann's license goes to him. Bo's own run
/// finds nobody above him in Sales and says so, queueing nothing.
async fn a_department_head_is_given_the_license(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend, None).await?;
    w.provision().await?;
    let cli = Actor::cli();
    let steps = ["reassign-license:peer:department-head"];
    w.engine.admin(&cli).add_workflow(spec("heads", "department-change", &steps)).await?;
    assert_eq!(w.engine.workflow_pass().await?.started, 0, "first look: the facts are recorded");
    let mut batch = people("Sales", None);
    batch.people[0].department = Some("Sales".into());
    w.store.apply_import(w.tenant, w.source, &batch).await?;
    let pass = w.later_pass().await?;
    assert_eq!(pass.started, 2, "Ann's run and Bo's: {pass:?}");
    w.run_queue().await?;
    w.later_pass().await?;
    let run = w.run_of("heads").await?;
    assert_eq!((run.status.as_str(), statuses(&run)), ("done", vec!["done"]), "{run:?}");
    assert_eq!(
        run.steps[0].result.as_deref(),
        Some(format!("peer: enterprise to {BO}; peer: enterprise taken from {ANN}").as_str())
    );
    let (_, licenses) = w.app_state().await?;
    assert_eq!(licenses.get(BO).map(String::as_str), Some("enterprise"), "{licenses:?}");
    assert_eq!(licenses.get(ANN), None, "{licenses:?}");
    let runs = w.engine.admin(&cli).workflow_runs(Some(BO), 50).await?;
    let bo = runs.into_iter().find(|r| r.workflow == "heads").expect("Bo's run");
    assert_eq!(statuses(&bo), ["failed"], "{bo:?}");
    assert_eq!(
        bo.steps[0].error.as_deref(),
        Some(format!("{BO} heads Sales (nobody above them in it) or has no manager").as_str())
    );
    Ok(())
}
