//! What a catalog profile changes in the engine, against a sandbox app whose list leaves some
//! users out (as Asana's leaves out guests): with the Asana profile every create looks the person
//! up first, so an account the list hid is linked, not created again, and the plan says the list
//! is partial; plans name the losses that cannot be undone (Asana never re-activates).

use serde_json::json;
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::Engine;
use tenure_sandbox::{Misbehaviour, Profile, SandboxApp, SandboxOptions};
use tenure_store::{AppAuth, Store};
use tenure_testkit::{TestBackend, TestDb, person};

const SECRET: &str = "catalog-secret";

struct Fixture {
    _db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    sandbox: SandboxApp,
    source: SourceId,
    app: AppId,
}

impl Fixture {
    async fn new(backend: TestBackend, vendor: Option<&str>, deprovision: DeprovisionPolicy) -> anyhow::Result<Self> {
        let settings = AppSettings { deprovision, vendor: vendor.map(str::to_owned), ..AppSettings::default() };
        Self::with_settings(backend, settings).await
    }

    async fn with_settings(backend: TestBackend, settings: AppSettings) -> anyhow::Result<Self> {
        let db = TestDb::new(backend).await?;
        let store = Store::connect_with_keys(
            db.url(),
            tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
        )
        .await?;
        let tenant = store.ensure_tenant("acme").await?;
        let relaxed = tenure_core::guard::GuardLimits { max_percent: 100, max_count: 1000, ..Default::default() };
        let engine = Engine::new(store.clone(), tenant).with_global_guard(relaxed);
        let options = SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, SECRET) };
        let sandbox = SandboxApp::spawn(options).await?;
        sandbox.set_misbehaviour(Misbehaviour { unlisted_prefix: Some("guest"), ..Misbehaviour::default() });
        let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
        let settings = AppSettings { guard: Some(relaxed), ..settings };
        let app = store
            .add_app_with_auth(
                tenant,
                "tasks",
                AppKind::Scim,
                &sandbox.base_url(),
                &AppAuth::Bearer,
                &Secret::new(SECRET),
                &settings,
            )
            .await?;
        let eng = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Eng")?);
        store.assign(tenant, app.id, &eng, false, &AssignmentParams::default()).await?;
        Ok(Self { _db: db, store, tenant, engine, sandbox, source, app: app.id })
    }

    async fn import(&self, people: Vec<tenure_core::import::ImportedPerson>) -> anyhow::Result<()> {
        self.store.apply_import(self.tenant, self.source, &ImportBatch { people, groups: vec![] }).await?;
        Ok(())
    }

    /// An account made in the app before Tenure, which the app's list does not show.
    async fn hidden_account(&self, email: &str) -> anyhow::Result<()> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": email,
            "active": true,
            "emails": [{"value": email, "type": "work", "primary": true}],
        });
        let res = reqwest::Client::new()
            .post(format!("{}/Users", self.sandbox.base_url()))
            .bearer_auth(SECRET)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(res.status() == 201, "manual create: {}", res.status());
        Ok(())
    }
}

/// Gil has a guest account the list leaves out; Ann has none.
async fn unlisted_account(backend: TestBackend, vendor: Option<&str>) -> anyhow::Result<(Fixture, u64, Vec<String>)> {
    let f = Fixture::new(backend, vendor, DeprovisionPolicy::Deactivate).await?;
    f.import(vec![person("E1", "ann@acme.com"), person("E2", "guest.gil@acme.com")]).await?;
    f.hidden_account("guest.gil@acme.com").await?;
    let plans = f.engine.plan(None, tenure_engine::today()).await?;
    assert_eq!(plans[0].plan.count("create"), 2, "the list showed neither: {:#?}", plans[0].plan);
    let notes = plans[0].notes.clone();
    let before = f.sandbox.write_count();
    let report = f.engine.apply(plans).await?;
    assert_eq!(report.failed(), 0, "{report:?}");
    assert_eq!(f.sandbox.user_count(), 2, "nobody has two accounts");
    let gil = f.sandbox.user_named("guest.gil@acme.com").and_then(|u| u.id).expect("gil's account");
    let link = f.store.get_account(f.tenant, f.app, &gil).await?.expect("gil linked");
    assert_eq!(link.link.origin, AccountOrigin::Matched, "Gil's existing account is his, not one Tenure made");
    Ok((f, before, notes))
}

#[tokio::test]
async fn a_partial_list_is_never_read_as_absent() -> anyhow::Result<()> {
    for backend in [TestBackend::Sqlite, TestBackend::Postgres] {
        let (f, before, notes) = unlisted_account(backend, Some("asana")).await?;
        // Ann's create is the only write: Gil was looked up before a create was sent.
        assert_eq!(f.sandbox.write_count() - before, 1, "{backend:?}");
        assert!(
            notes.iter().any(|n| n.starts_with("Asana's user list leaves accounts out (GET /Users leaves guests out)")),
            "{notes:?}"
        );
        f.sandbox.shutdown().await;
    }
    // Without the profile the list is taken at its word: Gil's create is sent, refused as a
    // conflict, and only then is his account found.
    let (f, before, notes) = unlisted_account(TestBackend::Sqlite, None).await?;
    assert_eq!(f.sandbox.write_count() - before, 2);
    assert!(notes.is_empty(), "{notes:?}");
    f.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn plans_name_the_losses_that_cannot_be_undone() -> anyhow::Result<()> {
    for (deprovision, expected) in [
        (DeprovisionPolicy::Deactivate, "1 deactivation cannot be undone: Asana cannot re-activate"),
        (DeprovisionPolicy::Delete, "1 delete cannot be undone: Asana cannot re-activate"),
    ] {
        let f = Fixture::new(TestBackend::Sqlite, Some("asana"), deprovision).await?;
        f.import(vec![person("E1", "ann@acme.com")]).await?;
        let report = f.engine.apply(f.engine.plan(None, tenure_engine::today()).await?).await?;
        assert_eq!(report.failed(), 0, "{report:?}");
        let mut ann = person("E1", "ann@acme.com");
        ann.status = PersonStatus::Suspended;
        f.import(vec![ann]).await?;
        let plans = f.engine.plan(None, tenure_engine::today()).await?;
        assert!(plans[0].notes.iter().any(|n| n.starts_with(expected)), "{expected}: {:?}", plans[0].notes);
        let json = serde_json::to_value(&plans[0])?;
        assert!(json["notes"].to_string().contains("cannot be undone"), "{json}");
        f.sandbox.shutdown().await;
    }
    Ok(())
}

/// A Salesforce-profiled app without a profile entitlement: Bob has no account, and his create
/// is refused by the catalog rule. The report and the live list's first page show him as
/// `refused`, with Salesforce's reason, though he has no account to list; nothing is sent.
async fn refused_creates_are_listed(backend: TestBackend) -> anyhow::Result<()> {
    let salesforce = tenure_connectors::catalog::catalog().get("salesforce").expect("salesforce");
    let settings = AppSettings { rules: salesforce.app_rules(), ..AppSettings::default() };
    let f = Fixture::with_settings(backend, settings).await?;
    f.import(vec![person("E2", "bob@acme.com")]).await?;

    let rows = f.engine.account_report(Some("tasks"), tenure_engine::today()).await?;
    let refused: Vec<_> = rows.iter().filter(|r| r.class == tenure_engine::AccountClass::Refused).collect();
    assert_eq!(refused.len(), 1, "{backend:?}: {rows:#?}");
    assert_eq!((refused[0].person.as_deref(), refused[0].remote_id.as_str()), (Some("bob@acme.com"), ""));
    let note = refused[0].note.clone().unwrap_or_default();
    assert!(
        note.contains("cannot create bob@acme.com's account: the app would refuse it: license is not set"),
        "{note}"
    );

    let first = tenure_connectors::UserQuery { start_index: 1, count: 10, search: None };
    let page = f.engine.app_users("tasks", &first, tenure_engine::today()).await?;
    let listed: Vec<_> = page.accounts.iter().filter(|r| r.class == tenure_engine::AccountClass::Refused).collect();
    assert_eq!(listed.len(), 1, "{page:#?}");
    assert_eq!(listed[0].note.as_deref(), Some(note.as_str()));
    assert!(page.problems.iter().any(|p| p.message == note), "{:?}", page.problems);
    // A later page does not repeat him.
    let second = tenure_connectors::UserQuery { start_index: 11, count: 10, search: None };
    let page = f.engine.app_users("tasks", &second, tenure_engine::today()).await?;
    assert!(page.accounts.iter().all(|r| r.class != tenure_engine::AccountClass::Refused));
    assert_eq!(f.sandbox.write_count(), 0, "nothing was sent");
    f.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_refused_create_is_listed_with_its_reason() -> anyhow::Result<()> {
    for backend in [TestBackend::Sqlite, TestBackend::Postgres] {
        refused_creates_are_listed(backend).await?;
    }
    Ok(())
}
