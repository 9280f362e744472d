//! The engine against each vendor's documented-behaviour fake (Slack, Notion, Atlassian, GitHub
//! Enterprise Managed Users, Zoom): provisioning, re-activation of an existing deactivated
//! account, deprovisioning per the app's policy with the vendor's DELETE meaning observed in the
//! fake, and group push. Plus the vendors' "an admin must act" answers and Slack's handles.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tenure_connectors::{DeleteMeaning, Vendor};
use tenure_core::import::{ImportBatch, ImportGroup, ImportedPerson};
use tenure_core::*;
use tenure_engine::Engine;
use tenure_sandbox::{DeleteMode, Profile, SandboxApp, SandboxOptions, VendorOptions};
use tenure_store::{AppAuth, OauthClientAuth, Store};
use tenure_testkit::{TestBackend, TestDb};

const SECRET: &str = "vendor-secret";

fn person(key: &str, email: &str, groups: &[&str]) -> ImportedPerson {
    ImportedPerson { groups: groups.iter().map(|g| (*g).to_owned()).collect(), ..tenure_testkit::person(key, email) }
}

fn batch(people: Vec<ImportedPerson>) -> ImportBatch {
    ImportBatch { people, groups: vec![ImportGroup { name: "leads".into(), parents: vec![] }] }
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A bearer token for calling the fake directly: its own, or (Zoom) one from its token endpoint.
async fn bearer(app: &SandboxApp) -> anyhow::Result<String> {
    if !app.profile().uses_oauth() {
        return Ok(app.token().to_owned());
    }
    let reply: Value = http()
        .post(app.account_credentials_url())
        .basic_auth(&app.vendor_options().zoom_client_id, Some(SECRET))
        .send()
        .await?
        .json()
        .await?;
    Ok(reply["access_token"].as_str().unwrap_or_default().to_owned())
}

/// An account someone made in the app before Tenure, then deactivated.
async fn deactivated_account(app: &SandboxApp, user_name: &str, email: &str) -> anyhow::Result<String> {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "active": false,
        "emails": [{"value": email, "type": "work", "primary": true}],
    });
    let res =
        http().post(format!("{}/Users", app.base_url())).bearer_auth(bearer(app).await?).json(&body).send().await?;
    anyhow::ensure!(res.status() == 201, "manual create: {}", res.status());
    let created: Value = res.json().await?;
    Ok(created["id"].as_str().unwrap_or_default().to_owned())
}

async fn status_of(app: &SandboxApp, id: &str) -> anyhow::Result<u16> {
    let res = http().get(format!("{}/Users/{id}", app.base_url())).bearer_auth(bearer(app).await?).send().await?;
    Ok(res.status().as_u16())
}

struct Fixture {
    _db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    sandbox: SandboxApp,
    source: SourceId,
}

impl Fixture {
    /// A tenant with one app of `vendor`, added with its profile's settings (and `deprovision`),
    /// granted to /Eng, with the directory group `leads` pushed as the app group `Leads`.
    async fn new(
        profile: Profile,
        vendor: Vendor,
        vendor_options: VendorOptions,
        deprovision: DeprovisionPolicy,
        people: Vec<ImportedPerson>,
    ) -> anyhow::Result<Self> {
        let db = TestDb::new(TestBackend::Sqlite).await?;
        let store = Store::connect_with_keys(
            db.url(),
            tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
        )
        .await?;
        let tenant = store.ensure_tenant("acme").await?;
        // Each test loses one account of three: the guards' own tests cover holding.
        let relaxed = tenure_core::guard::GuardLimits { max_percent: 100, max_count: 1000, ..Default::default() };
        let engine = Engine::new(store.clone(), tenant).with_global_guard(relaxed);
        let options = SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(profile, SECRET) };
        let sandbox = SandboxApp::spawn_with(options, vendor_options).await?;
        let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
        store.apply_import(tenant, source, &batch(people)).await?;
        let settings = AppSettings {
            deprovision,
            user_name: vendor.user_name_format(),
            guard: Some(relaxed),
            vendor: Some(vendor.name().to_owned()),
            ..AppSettings::default()
        };
        let auth = if profile.uses_oauth() {
            // Zoom: server-to-server OAuth, stored with the token URL in Zoom's documented form.
            AppAuth::OauthClientCredentials {
                token_url: sandbox.account_credentials_url(),
                client_id: sandbox.vendor_options().zoom_client_id.clone(),
                scope: None,
                client_auth: OauthClientAuth::Basic,
                token_params: Default::default(),
            }
        } else {
            AppAuth::Bearer
        };
        let app = store
            .add_app_with_auth(
                tenant,
                vendor.name(),
                AppKind::Scim,
                &sandbox.base_url(),
                &auth,
                &Secret::new(SECRET),
                &settings,
            )
            .await?;
        let eng = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Eng")?);
        store.assign(tenant, app.id, &eng, false, &AssignmentParams::default()).await?;
        let leads = store.group_by_name(tenant, "leads").await?.ok_or_else(|| anyhow::anyhow!("no leads group"))?;
        let params = AssignmentParams { groups: vec!["Leads".into()], ..AssignmentParams::default() };
        store.assign(tenant, app.id, &AssignmentTarget::Group(leads), false, &params).await?;
        Ok(Self { _db: db, store, tenant, engine, sandbox, source })
    }

    async fn import(&self, people: Vec<ImportedPerson>) -> anyhow::Result<()> {
        self.store.apply_import(self.tenant, self.source, &batch(people)).await?;
        Ok(())
    }

    async fn apply(&self) -> anyhow::Result<tenure_engine::ApplyReport> {
        let report = self.engine.apply(self.engine.plan(None, tenure_engine::today()).await?).await?;
        anyhow::ensure!(report.failed() == 0 && report.held.is_empty(), "{report:?}");
        Ok(report)
    }

    fn id_of(&self, user_name: &str) -> String {
        self.sandbox.user_named(user_name).and_then(|u| u.id).unwrap_or_default()
    }

    fn leads(&self) -> BTreeSet<String> {
        let groups = self.sandbox.groups();
        let group = groups.iter().find(|g| g["displayName"] == "Leads");
        group
            .and_then(|g| g["members"].as_array())
            .map(|m| m.iter().filter_map(|m| m["value"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// The userName the vendor's profile gives `email`.
fn user_name(vendor: Vendor, email: &str) -> String {
    match vendor.user_name_format() {
        UserNameFormat::Handle { max_len } => tenure_core::attributes::handle(email, max_len),
        _ => email.to_owned(),
    }
}

/// The whole life cycle against one vendor's fake.
async fn life_cycle(profile: Profile, vendor: Vendor, deprovision: DeprovisionPolicy) -> anyhow::Result<()> {
    // The fake and the connector's profile tell the same story about DELETE.
    let expected_mode = match vendor.delete_meaning() {
        DeleteMeaning::Deactivates => DeleteMode::Deactivate,
        DeleteMeaning::RemovesFromWorkspace => DeleteMode::Remove,
        DeleteMeaning::Permanent => DeleteMode::Permanent,
    };
    assert_eq!(profile.delete_mode(), expected_mode, "{vendor}");

    let (ann, bob, cy) = ("ann@acme.com", "bob@acme.com", "cy@acme.com");
    let people = |bob_leads: bool, cy_status: PersonStatus| {
        let mut cy_person = person("E3", cy, if bob_leads { &[] } else { &["leads"] });
        cy_person.status = cy_status;
        vec![person("E1", ann, &["leads"]), person("E2", bob, if bob_leads { &["leads"] } else { &[] }), cy_person]
    };
    let f = Fixture::new(profile, vendor, VendorOptions::default(), deprovision, people(true, PersonStatus::Active))
        .await?;
    let (un_ann, un_bob, un_cy) = (user_name(vendor, ann), user_name(vendor, bob), user_name(vendor, cy));
    // Bob had an account before, deactivated since.
    let bob_id = deactivated_account(&f.sandbox, &un_bob, bob).await?;

    // Provisioning and re-activation: Ann and Cy are created, Bob's account is linked and
    // re-activated, not created again; the app group is created with its members.
    let plans = f.engine.plan(None, tenure_engine::today()).await?;
    let plan = &plans[0].plan;
    assert_eq!((plan.count("create"), plan.count("link"), plan.count("activate")), (2, 1, 1), "{vendor}: {plan:#?}");
    let report = f.engine.apply(plans).await?;
    assert_eq!(report.failed(), 0, "{vendor}: {report:?}");
    let users = f.sandbox.users();
    assert_eq!(users.len(), 3, "{vendor}: {users:?}");
    assert!(users.iter().all(|u| u.active), "{vendor}: {users:?}");
    assert_eq!(f.id_of(&un_bob), bob_id, "{vendor}: Bob keeps his account");
    assert_eq!(f.leads(), BTreeSet::from([f.id_of(&un_ann), bob_id.clone()]), "{vendor}: {:?}", f.sandbox.groups());

    // Group push: Bob leaves the leads, Cy joins them.
    f.import(people(false, PersonStatus::Active)).await?;
    f.apply().await?;
    assert_eq!(f.leads(), BTreeSet::from([f.id_of(&un_ann), f.id_of(&un_cy)]), "{vendor}");

    // Deprovisioning: Cy is suspended in the directory.
    let cy_id = f.id_of(&un_cy);
    f.import(people(false, PersonStatus::Suspended)).await?;
    let report = f.apply().await?;
    let gone =
        matches!(deprovision, DeprovisionPolicy::Delete) && vendor.delete_meaning() != DeleteMeaning::Deactivates;
    // Where DELETE only deactivates (Slack, Atlassian), "delete" is planned as the deactivation
    // it amounts to: a delete that leaves the account would be planned again on every pass.
    if gone {
        assert_eq!(report.succeeded("delete"), 1, "{vendor}: {report:?}");
    } else {
        assert_eq!(report.succeeded("deactivate"), 1, "{vendor}: {report:?}");
    }
    if gone {
        assert!(f.sandbox.user_named(&un_cy).is_none(), "{vendor}: DELETE took the account away");
        assert_eq!(status_of(&f.sandbox, &cy_id).await?, 404, "{vendor}");
    } else {
        let held = f.sandbox.user_named(&un_cy);
        assert_eq!(held.map(|u| u.active), Some(false), "{vendor}: the account stays, deactivated");
    }
    assert!(f.sandbox.user_named(&un_ann).is_some_and(|u| u.active));

    // Converged: nothing left to do for any account.
    let again = f.engine.plan(None, tenure_engine::today()).await?;
    assert!(again[0].plan.ops.is_empty(), "{vendor}: {:#?}", again[0].plan);
    f.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn slack_delete_deactivates() -> anyhow::Result<()> {
    life_cycle(Profile::Slack, Vendor::Slack, DeprovisionPolicy::Delete).await
}

#[tokio::test]
async fn notion_delete_removes_from_the_workspace() -> anyhow::Result<()> {
    life_cycle(Profile::Notion, Vendor::Notion, DeprovisionPolicy::Delete).await
}

#[tokio::test]
async fn atlassian_delete_deactivates() -> anyhow::Result<()> {
    life_cycle(Profile::Jira, Vendor::Atlassian, DeprovisionPolicy::Delete).await
}

#[tokio::test]
async fn github_deprovisions_by_deactivating_by_default() -> anyhow::Result<()> {
    life_cycle(Profile::GitHub, Vendor::GitHub, Vendor::GitHub.default_deprovision()).await
}

#[tokio::test]
async fn github_delete_when_chosen_is_permanent() -> anyhow::Result<()> {
    life_cycle(Profile::GitHub, Vendor::GitHub, DeprovisionPolicy::Delete).await
}

#[tokio::test]
async fn zoom_over_server_to_server_oauth() -> anyhow::Result<()> {
    life_cycle(Profile::Zoom, Vendor::Zoom, Vendor::Zoom.default_deprovision()).await
}

#[tokio::test]
async fn slack_on_a_plan_without_scim_says_so() -> anyhow::Result<()> {
    let options = VendorOptions { slack_plan_has_scim: false, ..VendorOptions::default() };
    let people = vec![person("E1", "ann@acme.com", &[])];
    let f = Fixture::new(Profile::Slack, Vendor::Slack, options, DeprovisionPolicy::Deactivate, people).await?;
    let err = f.engine.plan(None, tenure_engine::today()).await.expect_err("Slack refuses SCIM on this plan");
    let text = err.to_string();
    assert!(
        text.contains("Slack answered plus_teams_only: SCIM needs the Business+ or Enterprise Grid plan"),
        "{text}"
    );
    assert_eq!(f.sandbox.request_count(), 1, "a plan error is not retried");
    Ok(())
}

#[tokio::test]
async fn zoom_without_sso_says_so() -> anyhow::Result<()> {
    let options = VendorOptions { zoom_sso_enabled: false, ..VendorOptions::default() };
    let people = vec![person("E1", "ann@acme.com", &[])];
    let f = Fixture::new(Profile::Zoom, Vendor::Zoom, options, DeprovisionPolicy::Deactivate, people).await?;
    let err = f.engine.plan(None, tenure_engine::today()).await.expect_err("Zoom refuses SCIM without SSO");
    assert!(err.to_string().contains("has not enabled Single Sign-On"), "{err}");
    assert!(err.to_string().contains("enable SSO"), "{err}");
    Ok(())
}

/// Slack handles end to end: derived from the email, cut to 21 characters, numbered for a second
/// person with the same handle, and stable once created.
#[tokio::test]
async fn slack_handles_are_derived_and_deduplicated() -> anyhow::Result<()> {
    let people = vec![
        person("E1", "Christopher.Alexanderson@acme.com", &[]),
        person("E2", "christopher.alexanders@acme.com", &[]),
        person("E3", "josé.núñez+eng@acme.com", &[]),
    ];
    let f =
        Fixture::new(Profile::Slack, Vendor::Slack, VendorOptions::default(), DeprovisionPolicy::Deactivate, people)
            .await?;
    // The second Christopher already has his account, under the plain handle.
    let existing = deactivated_account(&f.sandbox, "christopher.alexander", "christopher.alexanders@acme.com").await?;
    f.apply().await?;
    let names: BTreeSet<String> = f.sandbox.users().into_iter().map(|u| u.user_name).collect();
    assert_eq!(
        names,
        BTreeSet::from(["christopher.alexande2".into(), "christopher.alexander".into(), "jose.nunez_eng".into()])
    );
    assert_eq!(f.id_of("christopher.alexander"), existing, "the account that had the handle keeps it");
    let again = f.engine.plan(None, tenure_engine::today()).await?;
    assert!(again[0].plan.is_empty(), "{:#?}", again[0].plan);
    Ok(())
}
