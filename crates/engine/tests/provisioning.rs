//! The engine against the built-in sandbox apps: provisioning, and the safety rules of
//! deprovisioning (only linked accounts, deletion only of accounts Tenure created).

use std::collections::BTreeMap;

use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_core::*;
use tenure_engine::Engine;
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::Store;
use tenure_testkit::{TestBackend, TestDb};

fn person(key: &str, email: &str, ou: &str) -> ImportedPerson {
    ImportedPerson { org_unit: Some(OrgUnitPath::parse(ou).unwrap()), ..tenure_testkit::person(key, email) }
}

async fn manual_user(app: &SandboxApp, user_name: &str, email: &str) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let body = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "emails": [{"value": email, "type": "work", "primary": true}],
    });
    let res = reqwest::Client::new()
        .post(format!("{}/Users", app.base_url()))
        .bearer_auth(app.token())
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(res.status() == 201, "manual create: {}", res.status());
    Ok(())
}

/// One tenant, one sandbox app added to it and granted to an org unit, and `people` imported.
struct Fixture {
    _db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    sandbox: SandboxApp,
    app: App,
}

impl Fixture {
    async fn new(
        profile: Profile,
        people: Vec<ImportedPerson>,
        settings: AppSettings,
        org_unit: &str,
    ) -> anyhow::Result<Self> {
        let db = TestDb::new(TestBackend::Sqlite).await?;
        let store = Store::connect_with_keys(
            db.url(),
            tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
        )
        .await?;
        let tenant = store.ensure_tenant("acme").await?;
        let engine = Engine::new(store.clone(), tenant);
        let sandbox = SandboxApp::spawn(SandboxOptions {
            profile,
            token: "t0ken".into(),
            rate_limit_per_sec: None,
            faults: None,
        })
        .await?;
        let src = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
        store.apply_import(tenant, src, &ImportBatch { people, groups: vec![] }).await?;
        let app = store
            .add_app(tenant, profile.name(), AppKind::Scim, &sandbox.base_url(), &Secret::new("t0ken"), &settings)
            .await?;
        store
            .assign(
                tenant,
                app.id,
                &AssignmentTarget::OrgUnit(OrgUnitPath::parse(org_unit)?),
                false,
                &AssignmentParams::default(),
            )
            .await?;
        Ok(Self { _db: db, store, tenant, engine, sandbox, app })
    }
}

#[tokio::test]
async fn deletes_only_what_it_created_and_leaves_unmanaged_accounts_alone() -> anyhow::Result<()> {
    let people = vec![person("E1", "al@x.com", "/Eng"), person("E2", "bo@x.com", "/Eng")];
    let settings = AppSettings {
        deprovision: DeprovisionPolicy::Delete,
        user_name: UserNameFormat::Email,
        // Two accounts: the guard's default 10% would hold every loss (see the guard's own test).
        guard: Some(tenure_core::guard::GuardLimits { max_percent: 100, max_count: 25, ..Default::default() }),
        ..AppSettings::default()
    };
    let f = Fixture::new(Profile::Notion, people, settings, "/Eng").await?;
    let (store, tenant, engine, notion, app) = (&f.store, f.tenant, &f.engine, &f.sandbox, &f.app);
    let eng = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Eng")?);
    // Someone created two accounts by hand before Tenure: one for a person, one for nobody.
    manual_user(notion, "bo@x.com", "bo@x.com").await?;
    manual_user(notion, "contractor@elsewhere.com", "contractor@elsewhere.com").await?;

    let plans = engine.plan(None, tenure_engine::today()).await?;
    let plan = &plans[0].plan;
    assert_eq!(plan.count("create"), 1, "{plan:?}");
    assert_eq!(plan.count("link"), 1, "bo's hand-made account is matched, not duplicated: {plan:?}");
    assert_eq!(plan.unmanaged.len(), 1);
    assert_eq!(plan.unmanaged[0].user_name, "contractor@elsewhere.com");
    let classes = |rows: Vec<tenure_engine::AccountRow>| -> BTreeMap<String, tenure_engine::AccountClass> {
        rows.into_iter().map(|r| (r.user_name, r.class)).collect()
    };
    use tenure_engine::AccountClass::*;
    let before = classes(engine.account_report(None, tenure_engine::today()).await?);
    assert_eq!(before["bo@x.com"], Matched, "{before:?}");
    assert_eq!(before["contractor@elsewhere.com"], Unmanaged, "{before:?}");
    let report = engine.apply(plans).await?;
    assert_eq!(report.failed(), 0, "{report:?}");
    assert_eq!(notion.users().len(), 3);
    let after = classes(engine.account_report(None, tenure_engine::today()).await?);
    assert_eq!((after["al@x.com"], after["bo@x.com"]), (Managed, Managed), "{after:?}");
    assert_eq!(after["contractor@elsewhere.com"], Unmanaged);
    let links = store.list_accounts(tenant, app.id).await?;
    let origins: BTreeMap<&str, AccountOrigin> = links.iter().map(|l| (l.user_name.as_str(), l.link.origin)).collect();
    assert_eq!(origins["al@x.com"], AccountOrigin::Created);
    assert_eq!(origins["bo@x.com"], AccountOrigin::Matched);

    // Converged: nothing more to do.
    let again = engine.plan(None, tenure_engine::today()).await?;
    assert!(again[0].plan.is_empty(), "{:?}", again[0].plan);

    // Unassign: the created account is deleted, the matched one only deactivated, the
    // contractor's untouched.
    store.unassign(tenant, app.id, &eng).await?;
    let pending = classes(engine.account_report(None, tenure_engine::today()).await?);
    assert_eq!((pending["al@x.com"], pending["bo@x.com"]), (UnassignedButActive, UnassignedButActive));
    let plans = engine.plan(None, tenure_engine::today()).await?;
    let kinds: BTreeMap<&str, &str> = plans[0].plan.ops.iter().map(|o| (o.person.as_str(), o.kind.name())).collect();
    assert_eq!(kinds, BTreeMap::from([("al@x.com", "delete"), ("bo@x.com", "deactivate")]));
    assert!(
        plans[0].plan.ops.iter().all(|o| o.reason == Reason::Revoked { revocation: Revocation::Unassigned, by: None })
    );
    let report = engine.apply(plans).await?;
    assert_eq!(report.failed(), 0, "{report:?}");
    let users = notion.users();
    let names: Vec<(&str, bool)> = users.iter().map(|u| (u.user_name.as_str(), u.active)).collect();
    assert_eq!(names, [("bo@x.com", false), ("contractor@elsewhere.com", true)]);
    let done = classes(engine.account_report(None, tenure_engine::today()).await?);
    assert_eq!(done["bo@x.com"], Deactivated, "{done:?}");

    // Every operation is in the audit log with its reason.
    let audit = store.list_audit(tenant, 100).await?;
    let deleted = audit.iter().find(|e| e.action == "account.delete").expect("delete audited");
    assert_eq!(deleted.subject, "al@x.com");
    assert_eq!(deleted.detail["reason"]["revocation"], "unassigned");
    Ok(())
}

#[tokio::test]
async fn a_failed_operation_is_recorded_and_does_not_stop_the_others() -> anyhow::Result<()> {
    // Slack rejects userNames over 21 characters; with the local part uncut one of these fails.
    let people = vec![person("E1", "al@x.com", "/Eng"), person("E2", "a.very.long.name.indeed@x.com", "/Eng")];
    let settings = AppSettings {
        deprovision: DeprovisionPolicy::Deactivate,
        user_name: UserNameFormat::EmailLocalPart { max_len: None },
        ..AppSettings::default()
    };
    let f = Fixture::new(Profile::Slack, people, settings, "/").await?;
    let (store, tenant, engine) = (&f.store, f.tenant, &f.engine);
    let report = engine.apply(engine.plan(None, tenure_engine::today()).await?).await?;
    assert_eq!(report.succeeded("create"), 1);
    assert_eq!(report.failed(), 1);
    let failure = &report.apps[0].failed[0];
    assert_eq!(failure.person, "a.very.long.name.indeed@x.com");
    assert!(failure.error.contains("400"), "the app's error is shown: {}", failure.error);
    let ops = store.plan_operations(tenant, report.plan_id.expect("plan stored")).await?;
    assert_eq!(ops.iter().filter(|o| o.status == tenure_store::OperationStatus::Failed).count(), 1);
    assert!(ops.iter().any(|o| o.last_error.as_deref().is_some_and(|e| e.contains("400"))));
    Ok(())
}

#[tokio::test]
async fn a_create_that_meets_an_existing_account_links_it_only_when_it_is_plainly_the_persons() -> anyhow::Result<()> {
    let people = vec![person("E1", "al@x.com", "/Eng"), person("E2", "bo@x.com", "/Eng")];
    let settings = AppSettings {
        deprovision: DeprovisionPolicy::Delete,
        user_name: UserNameFormat::Email,
        ..AppSettings::default()
    };
    let f = Fixture::new(Profile::Jira, people, settings, "/Eng").await?;
    let (store, tenant, engine, jira, app) = (&f.store, f.tenant, &f.engine, &f.sandbox, &f.app);

    // The plan says "create" for both; meanwhile someone makes accounts by hand.
    let plans = engine.plan(None, tenure_engine::today()).await?;
    assert_eq!(plans[0].plan.count("create"), 2);
    manual_user(jira, "al@x.com", "someone.else@x.com").await?;
    manual_user(jira, "bo@x.com", "bo@x.com").await?;
    let report = engine.apply(plans).await?;

    assert_eq!(report.failed(), 1, "{report:?}");
    let failure = &report.apps[0].failed[0];
    assert_eq!(failure.person, "al@x.com");
    assert!(failure.error.contains("taken in the app by another account"), "{}", failure.error);
    let links = store.list_accounts(tenant, app.id).await?;
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!((links[0].user_name.as_str(), links[0].link.origin), ("bo@x.com", AccountOrigin::Matched));
    Ok(())
}

/// The deprovisioning guard: unassigning a big group holds the whole plan (nothing runs) until an
/// admin approves it; the approval covers exactly those losses, once. Exactly at the limit passes.
#[tokio::test]
async fn the_guard_holds_mass_deprovisioning_until_approved() -> anyhow::Result<()> {
    let people: Vec<ImportedPerson> =
        (0..30).map(|i| person(&format!("E{i}"), &format!("p{i:02}@x.com"), "/Eng")).collect();
    let settings = AppSettings {
        guard: Some(tenure_core::guard::GuardLimits { max_percent: 100, max_count: 25, ..Default::default() }),
        ..AppSettings::default()
    };
    let f = Fixture::new(Profile::Notion, people, settings, "/Eng").await?;
    // The app's own guard is what this is about: the global one (10% of everyone) stands aside.
    let engine = &f.engine.clone().with_global_guard(tenure_core::guard::GuardLimits {
        max_percent: 100,
        max_count: 1000,
        ..Default::default()
    });
    let (store, tenant) = (&f.store, f.tenant);
    let today = tenure_engine::today();
    let created = engine.apply(engine.plan(None, today).await?).await?;
    assert_eq!(created.succeeded("create"), 30);

    // Five leave by losing the assignment through a narrower one: 25 deactivations, exactly at
    // the count limit, pass.
    let eng = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Eng")?);
    store.unassign(tenant, f.app.id, &eng).await?;
    for i in 0..5 {
        let p = store.person_by_email(tenant, &format!("p{i:02}@x.com")).await?.expect("person");
        store.assign(tenant, f.app.id, &AssignmentTarget::Person(p.id), false, &AssignmentParams::default()).await?;
    }
    let report = engine.apply(engine.plan(None, today).await?).await?;
    assert!(report.held.is_empty(), "25 is at the limit, not over it");
    assert_eq!(report.succeeded("deactivate"), 25);

    // Back to everyone, then the whole group goes: 30 would be lost, the plan is held.
    store.assign(tenant, f.app.id, &eng, false, &AssignmentParams::default()).await?;
    assert_eq!(engine.apply(engine.plan(None, today).await?).await?.succeeded("activate"), 25);
    store.unassign(tenant, f.app.id, &eng).await?;
    for i in 0..5 {
        let p = store.person_by_email(tenant, &format!("p{i:02}@x.com")).await?.expect("person");
        store.unassign(tenant, f.app.id, &AssignmentTarget::Person(p.id)).await?;
    }
    let held = engine.apply(engine.plan(None, today).await?).await?;
    assert_eq!(held.held.len(), 1, "{held:?}");
    assert_eq!((held.held[0].deprovisions, held.held[0].managed), (30, 30));
    assert_eq!(held.succeeded("deactivate"), 0, "nothing of a held plan runs");
    let active = store.list_accounts(tenant, f.app.id).await?.iter().filter(|a| a.active).count();
    assert_eq!(active, 30);
    let held_id = held.held_plans[0];
    assert_eq!(store.plan_record(tenant, held_id).await?.status, "held");

    // Still held on the next run; approved, the losses go through, and the approval is used up.
    assert_eq!(engine.apply(engine.plan(None, today).await?).await?.held.len(), 1);
    engine.decide_held(held_id, true, "test").await?;
    assert!(engine.decide_held(held_id, true, "test").await.is_err(), "only a held plan can be decided");
    let applied = engine.apply(engine.plan(None, today).await?).await?;
    assert!(applied.held.is_empty());
    assert_eq!(applied.succeeded("deactivate"), 30);
    assert_eq!(store.plan_record(tenant, held_id).await?.status, "approved_applied");
    Ok(())
}
