//! The engine provisioning Google Workspace through its custom-API connector, against the
//! Directory API fake: joiners get accounts, a suspended account of a returning person is
//! unsuspended rather than duplicated, leavers are suspended (or deleted, by policy), in-app
//! groups are pushed, and every plan converges. Licenses through the License Manager fake, on
//! both backends: a pool per tier counts used seats from who holds each SKU, and a leaver's SKU
//! goes back under the `remove-license` policy.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_core::*;
use tenure_engine::{AccountClass, Engine};
use tenure_store::Store;
use tenure_testkit::cloud_fake::{TEST_KEY, fixture};
use tenure_testkit::google_fake::{ADMIN, GoogleFake};
use tenure_testkit::{TestBackend, TestDb};

fn person(key: &str, email: &str) -> ImportedPerson {
    tenure_testkit::person(key, email)
}

struct Fixture {
    _db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    fake: GoogleFake,
    app: App,
    source: SourceId,
}

impl Fixture {
    async fn new(deprovision: DeprovisionPolicy, params: AssignmentParams) -> anyhow::Result<Self> {
        Self::with_pre_start(deprovision, params, None).await
    }

    async fn with_pre_start(
        deprovision: DeprovisionPolicy,
        params: AssignmentParams,
        pre_start_days: Option<u32>,
    ) -> anyhow::Result<Self> {
        Self::build(TestBackend::Sqlite, deprovision, params, pre_start_days, Vec::new()).await
    }

    async fn build(
        backend: TestBackend,
        deprovision: DeprovisionPolicy,
        params: AssignmentParams,
        pre_start_days: Option<u32>,
        license_skus: Vec<GoogleLicenseSku>,
    ) -> anyhow::Result<Self> {
        let db = TestDb::new(backend).await?;
        let store = Store::connect_with_keys(
            db.url(),
            tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
        )
        .await?;
        let tenant = store.ensure_tenant("acme").await?;
        // Two people: any loss is over the default guards, which are not what this is about.
        let wide = tenure_core::guard::GuardLimits { max_percent: 100, max_count: 1000, ..Default::default() };
        let engine = Engine::new(store.clone(), tenant).with_global_guard(wide);
        let fake = GoogleFake::start().await?;
        let key = fake.key_file_json(&std::fs::read_to_string(fixture(TEST_KEY))?);
        let settings = AppSettings {
            deprovision,
            guard: Some(wide),
            pre_start_days,
            google_workspace: Some(GoogleWorkspaceTarget {
                domain: "example.com".into(),
                customer: "my_customer".into(),
                admin: ADMIN.into(),
                token_url: Some(fake.token_url()),
                org_unit_path: None,
                change_password_at_next_login: false,
                transfer_drive_to: None,
                license_skus,
            }),
            ..AppSettings::default()
        };
        let app = store
            .add_app(tenant, "google", AppKind::GoogleWorkspace, &fake.base_url(), &Secret::new(key), &settings)
            .await?;
        let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
        let eng = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Eng")?);
        store.assign(tenant, app.id, &eng, false, &params).await?;
        Ok(Self { _db: db, store, tenant, engine, fake, app, source })
    }

    async fn import(&self, people: Vec<ImportedPerson>) -> anyhow::Result<()> {
        self.store.apply_import(self.tenant, self.source, &ImportBatch { people, groups: vec![] }).await?;
        Ok(())
    }

    async fn plan_kinds(&self) -> anyhow::Result<BTreeMap<String, Vec<&'static str>>> {
        let plans = self.engine.plan(None, tenure_engine::today()).await?;
        let mut kinds: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
        for op in &plans[0].plan.ops {
            kinds.entry(op.person.clone()).or_default().push(op.kind.name());
        }
        Ok(kinds)
    }

    async fn apply(&self) -> anyhow::Result<()> {
        let report = self.engine.apply(self.engine.plan(None, tenure_engine::today()).await?).await?;
        anyhow::ensure!(report.failed() == 0, "{report:?}");
        anyhow::ensure!(report.held.is_empty(), "{report:?}");
        Ok(())
    }

    async fn assert_converged(&self) -> anyhow::Result<()> {
        let again = self.engine.plan(None, tenure_engine::today()).await?;
        anyhow::ensure!(again[0].plan.is_empty(), "not converged: {:?}", again[0].plan);
        Ok(())
    }

    fn user(&self, email: &str) -> Option<Value> {
        self.fake.dir().user(email).cloned()
    }
}

/// An account made ahead of its person's start date is inserted suspended (`suspended: true` in
/// the `users.insert` body), one write, not an insert and then an update; activated on the day.
#[tokio::test]
async fn a_pre_start_account_is_inserted_suspended() -> anyhow::Result<()> {
    let f = Fixture::with_pre_start(DeprovisionPolicy::Deactivate, AssignmentParams::default(), Some(5)).await?;
    let today = tenure_engine::today();
    let mut starter = person("E1", "new@example.com");
    starter.start_date = Some(today + time::Duration::days(3));
    f.import(vec![starter]).await?;
    let writes = f.fake.dir().counts.writes;
    f.apply().await?;
    let user = f.user("new@example.com").expect("inserted");
    assert_eq!(user["suspended"], json!(true), "{user}");
    assert_eq!(f.fake.dir().counts.writes - writes, 1, "one insert, no update to suspend it");
    f.assert_converged().await?;
    let on_the_day = f.engine.plan(None, today + time::Duration::days(3)).await?;
    let report = f.engine.apply(on_the_day).await?;
    anyhow::ensure!(report.succeeded("activate") == 1, "{report:?}");
    assert_eq!(f.user("new@example.com").expect("still there")["suspended"], json!(false));
    Ok(())
}

#[tokio::test]
async fn joiners_returners_and_leavers() -> anyhow::Result<()> {
    let f = Fixture::new(DeprovisionPolicy::Deactivate, AssignmentParams::default()).await?;
    // Bo worked here before: his account is still in Google, suspended.
    f.fake.dir().users.push(json!({
        "id": "900", "primaryEmail": "bo@example.com", "suspended": true, "orgUnitPath": "/",
        "name": {"givenName": "Bo", "familyName": "Old", "fullName": "Bo Old"},
        "emails": [{"address": "bo@example.com", "primary": true}],
    }));
    f.import(vec![person("E1", "al@example.com"), person("E2", "bo@example.com")]).await?;

    let kinds = f.plan_kinds().await?;
    assert_eq!(kinds["al@example.com"], ["create"], "{kinds:?}");
    assert!(kinds["bo@example.com"].contains(&"activate"), "{kinds:?}");
    f.apply().await?;
    let al = f.user("al@example.com").expect("al's account created");
    assert_eq!(al["name"]["givenName"], "E1");
    assert_eq!(al["organizations"][0]["department"], "Engineering");
    let bo = f.user("bo@example.com").expect("bo's account kept");
    assert_eq!((bo["id"].as_str(), bo["suspended"].as_bool()), (Some("900"), Some(false)), "unsuspended: {bo}");
    assert_eq!(bo["name"]["familyName"], "Tester", "and brought up to date");
    assert_eq!(f.fake.dir().users.len(), 2, "nobody created twice");
    f.assert_converged().await?;

    let report = f.engine.account_report(None, tenure_engine::today()).await?;
    assert!(report.iter().all(|r| r.class == AccountClass::Managed), "{report:?}");

    // Al leaves the directory: his account is suspended, keeping its data.
    f.import(vec![person("E2", "bo@example.com")]).await?;
    assert_eq!(f.plan_kinds().await?["al@example.com"], ["deactivate"]);
    f.apply().await?;
    assert_eq!(f.user("al@example.com").map(|u| u["suspended"].clone()), Some(Value::Bool(true)));
    f.assert_converged().await?;
    let links = f.store.list_accounts(f.tenant, f.app.id).await?;
    assert_eq!(links.len(), 2, "a suspended account stays linked");
    Ok(())
}

#[tokio::test]
async fn the_delete_policy_deletes_what_tenure_created() -> anyhow::Result<()> {
    let f = Fixture::new(DeprovisionPolicy::Delete, AssignmentParams::default()).await?;
    f.import(vec![person("E1", "al@example.com"), person("E2", "bo@example.com")]).await?;
    f.apply().await?;
    assert_eq!(f.fake.dir().users.len(), 2);

    f.import(vec![person("E2", "bo@example.com")]).await?;
    assert_eq!(f.plan_kinds().await?["al@example.com"], ["delete"]);
    f.apply().await?;
    assert!(f.user("al@example.com").is_none());
    assert_eq!(f.fake.dir().deleted.len(), 1);
    let links = f.store.list_accounts(f.tenant, f.app.id).await?;
    assert_eq!(links.iter().map(|l| l.user_name.as_str()).collect::<Vec<_>>(), ["bo@example.com"]);
    f.assert_converged().await?;
    Ok(())
}

#[tokio::test]
async fn pushes_in_app_groups() -> anyhow::Result<()> {
    let params = AssignmentParams { groups: vec!["engineering".into()], ..AssignmentParams::default() };
    let f = Fixture::new(DeprovisionPolicy::Deactivate, params).await?;
    f.import(vec![person("E1", "al@example.com"), person("E2", "bo@example.com")]).await?;
    f.apply().await?;
    let members = |f: &Fixture| {
        let dir = f.fake.dir();
        let group = dir.groups.iter().find(|g| g.email == "engineering@example.com").cloned();
        group.map(|g| g.members.len())
    };
    assert_eq!(members(&f), Some(2), "the group is created with both accounts");
    f.assert_converged().await?;

    // Bo leaves: suspended, and out of the group.
    f.import(vec![person("E1", "al@example.com")]).await?;
    f.apply().await?;
    assert_eq!(members(&f), Some(1));
    f.assert_converged().await?;
    Ok(())
}

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

on_both_backends!(pools_count_license_manager_seats_and_remove_license_frees_one);

fn tier<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["apps"][0]["tiers"]
        .as_array()
        .and_then(|t| t.iter().find(|x| x["tier"] == name))
        .unwrap_or_else(|| panic!("no tier {name}: {report}"))
}

async fn pools_count_license_manager_seats_and_remove_license_frees_one(backend: TestBackend) -> anyhow::Result<()> {
    use tenure_testkit::google_licensing_fake::{PRODUCT, STANDARD, STARTER};
    let skus = tenure_connectors::google_workspace::licensing::parse_skus(
        "Google-Apps:1010020027=Business Starter,Google-Apps:1010020028=Business Standard",
    )
    .map_err(anyhow::Error::msg)?;
    let params = AssignmentParams { license: Some("Business Starter".into()), ..AssignmentParams::default() };
    let f = Fixture::build(backend, DeprovisionPolicy::RemoveLicense, params, None, skus).await?;
    // Someone licensed a shadow account by hand: a Standard seat nobody accounts for.
    f.fake.dir().users.push(json!({
        "id": "901", "primaryEmail": "shadow@example.com", "orgUnitPath": "/",
        "name": {"givenName": "Sha", "familyName": "Dow"},
        "emails": [{"address": "shadow@example.com", "primary": true}],
    }));
    f.fake.dir().assign_license("shadow@example.com", PRODUCT, STANDARD);
    let people =
        || vec![person("E1", "al@example.com"), person("E2", "bo@example.com"), person("E3", "cy@example.com")];
    f.import(people()).await?;
    f.apply().await?;
    for who in ["al", "bo", "cy"] {
        assert_eq!(f.fake.dir().licenses_of(&format!("{who}@example.com")), [STARTER], "{who}");
    }
    f.assert_converged().await?;

    // Pools per tier: used seats are what License Manager says each SKU's holders are.
    let cli = tenure_engine::Actor::cli();
    let admin = f.engine.admin(&cli);
    for (tier, seats) in [("Business Starter", 5), ("Business Standard", 2)] {
        let spec = tenure_engine::admin::LicenseSpec {
            tier: Some(tier.into()),
            seats,
            cost_per_seat: "7.20".parse()?,
            currency: None,
            period: None,
            renews: None,
            owner: None,
            unused_days: None,
            freed_to: None,
        };
        admin.set_license("google", spec).await?;
    }
    let today = tenure_engine::today();
    let read = |f: &Fixture| {
        let engine = f.engine.clone();
        async move {
            anyhow::Ok(serde_json::to_value(
                engine.license_report_live(None, today, &|_: &str, _: usize, _: usize| {}).await?,
            )?)
        }
    };
    let report = read(&f).await?;
    let starter = tier(&report, "Business Starter");
    assert_eq!((starter["seats"].as_u64(), starter["used"].as_u64()), (Some(5), Some(3)), "{starter}");
    let standard = tier(&report, "Business Standard");
    assert_eq!(standard["used"], 1, "{standard}");
    assert_eq!(standard["wasted_by_reason"]["unmanaged"]["seats"], 1, "the shadow account: {standard}");

    // Bo leaves: remove-license takes his Starter back through the queue, and his account
    // stays, not suspended.
    f.import(vec![person("E1", "al@example.com"), person("E3", "cy@example.com")]).await?;
    assert_eq!(f.plan_kinds().await?["bo@example.com"], ["change_license"]);
    f.apply().await?;
    assert!(f.fake.dir().licenses_of("bo@example.com").is_empty());
    assert_eq!(f.user("bo@example.com").map(|u| u["suspended"].clone()), Some(Value::Bool(false)));
    f.assert_converged().await?;
    let report = read(&f).await?;
    assert_eq!(tier(&report, "Business Starter")["used"], 2, "{report}");
    Ok(())
}
