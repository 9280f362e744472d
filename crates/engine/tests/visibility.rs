//! Several apps at once, each a tenant of one independent `scim2-server` in its multi-tenant
//! mode: provisioning keeps each app's accounts to itself, the live user list pages and
//! searches each app and classifies every account, an admin adopts an account or marks one as
//! a known external, and a leaver loses every app in one apply.

use std::collections::BTreeMap;

use tenure_connectors::{ScimClient, UserQuery};
use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_core::*;
use tenure_engine::AccountClass::*;
use tenure_engine::{AccountClass, AccountRow, Engine, EngineError};
use tenure_testkit::{Scim2Server, TestBackend, TestDb};

fn person(key: &str, email: &str, ou: &str) -> ImportedPerson {
    let name = email.split('@').next().unwrap_or(key);
    ImportedPerson {
        given_name: Some(name.into()),
        org_unit: Some(OrgUnitPath::parse(ou).expect("org unit")),
        ..tenure_testkit::person(key, email)
    }
}

const APPS: [&str; 3] = ["chat", "docs", "video"];

fn peer_client(peer: &Scim2Server, app: &str) -> anyhow::Result<ScimClient> {
    Ok(ScimClient::new(&peer.tenant_url(app), Secret::new(peer.token()), Default::default())?)
}

async fn hand_made(peer: &Scim2Server, app: &str, user_name: &str) -> anyhow::Result<String> {
    let attrs = tenure_core::attributes::Attributes::from([("userName", user_name), ("email", user_name)]);
    Ok(peer_client(peer, app)?.create_user(&attrs).await?.remote_id)
}

fn by_name(rows: &[AccountRow]) -> BTreeMap<String, &AccountRow> {
    rows.iter().map(|r| (format!("{}:{}", r.app, r.user_name), r)).collect()
}

async fn several_apps_in_one_peer(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let store = tenure_store::Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let engine = Engine::new(store.clone(), tenant);
    let peer = Scim2Server::start_tenants(&APPS).await?;
    let today = tenure_engine::today();

    let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
    let staff = vec![
        person("E1", "ada@example.com", "/Eng"),
        person("E2", "bob@example.com", "/Eng"),
        person("E3", "cy@example.com", "/Sales"),
    ];
    store.apply_import(tenant, source, &ImportBatch { people: staff.clone(), groups: vec![] }).await?;
    let settings = AppSettings {
        // Three accounts per app: the default 10% would hold any single loss.
        guard: Some(tenure_core::guard::GuardLimits { max_percent: 100, max_count: 25, ..Default::default() }),
        ..AppSettings::default()
    };
    let mut apps = BTreeMap::new();
    for name in APPS {
        let app = store
            .add_app(tenant, name, AppKind::Scim, &peer.tenant_url(name), &Secret::new(peer.token()), &settings)
            .await?;
        apps.insert(name, app);
    }
    let ou = |path: &str| AssignmentTarget::OrgUnit(OrgUnitPath::parse(path).expect("org unit"));
    store.assign(tenant, apps["chat"].id, &ou("/"), false, &AssignmentParams::default()).await?;
    store.assign(tenant, apps["docs"].id, &ou("/Eng"), false, &AssignmentParams::default()).await?;
    let ada = store.person_by_email(tenant, "ada@example.com").await?.expect("ada");
    let bob = store.person_by_email(tenant, "bob@example.com").await?.expect("bob");
    store
        .assign(tenant, apps["video"].id, &AssignmentTarget::Person(ada.id), false, &AssignmentParams::default())
        .await?;
    store
        .assign(tenant, apps["video"].id, &AssignmentTarget::Person(bob.id), false, &AssignmentParams::default())
        .await?;
    // Before Tenure: bob made himself a video account under a name nothing matches, and a
    // partner has a docs account.
    let bobby = hand_made(&peer, "video", "bobby-the-builder").await?;
    let partner = hand_made(&peer, "docs", "auditor@partner.example").await?;
    // Bob also had a docs account once, deactivated since: it is re-activated, not duplicated.
    let old_docs = hand_made(&peer, "docs", "bob@example.com").await?;
    peer_client(&peer, "docs")?.set_active(&old_docs, false).await?;

    // The hand-made account is adopted for bob, so the plan links rather than duplicates.
    let adopted = engine.adopt_account("video", &bobby, "bob@example.com", "test").await?;
    assert_eq!((adopted.person.as_str(), adopted.user_name.as_str()), ("bob@example.com", "bobby-the-builder"));
    let refused = engine.adopt_account("video", &bobby, "cy@example.com", "test").await;
    assert!(matches!(refused, Err(EngineError::Refused(_))), "linked to bob already: {refused:?}");

    let report = engine.apply(engine.plan(None, today).await?).await?;
    assert_eq!(report.failed(), 0, "{report:?}");
    // Each tenant holds its own accounts and nobody else's.
    let mut held = BTreeMap::new();
    for name in APPS {
        let mut names: Vec<String> =
            peer_client(&peer, name)?.list_users().await?.iter().map(|a| a.user_name().to_owned()).collect();
        names.sort();
        held.insert(name, names);
    }
    assert_eq!(held["chat"], ["ada@example.com", "bob@example.com", "cy@example.com"]);
    assert_eq!(held["docs"], ["ada@example.com", "auditor@partner.example", "bob@example.com"]);
    let reactivated = peer_client(&peer, "docs")?.get_user(&old_docs).await?.expect("bob's old docs account");
    assert!(reactivated.active, "re-activated");
    assert_eq!(held["video"], ["ada@example.com", "bob@example.com"], "{held:?}");
    let bobs = peer_client(&peer, "video")?.get_user(&bobby).await?.expect("bob's own account");
    assert_eq!(bobs.user_name(), "bob@example.com", "adopted, so managed: renamed to the mapping, not re-created");

    // The report across apps: who uses what.
    let rows = engine.account_report(None, today).await?;
    let rows = by_name(&rows);
    assert_eq!(rows["video:bob@example.com"].remote_id, bobby);
    assert_eq!(rows["video:bob@example.com"].class, Managed);
    assert_eq!(rows["video:bob@example.com"].origin, Some(AccountOrigin::Adopted));
    assert_eq!(rows["docs:auditor@partner.example"].class, Unmanaged);
    let mut ada_apps = rows["chat:ada@example.com"].other_apps.clone();
    ada_apps.sort();
    assert_eq!(ada_apps, ["docs", "video"]);

    // The partner's account is known: marked external, with a note, then unmarked.
    assert!(engine.mark_account("docs", &partner, Some("external auditor until March"), "test").await?);
    let docs = engine.account_report(Some("docs"), today).await?;
    let marked = docs.iter().find(|r| r.remote_id == partner).expect("partner row");
    assert_eq!((marked.class, marked.note.as_deref()), (KnownExternal, Some("external auditor until March")));
    let linked = engine.mark_account("video", &bobby, Some("no"), "test").await;
    assert!(matches!(linked, Err(EngineError::Refused(_))), "a linked account is a person's: {linked:?}");
    assert!(engine.mark_account("docs", &partner, None, "test").await?);
    let docs = engine.account_report(Some("docs"), today).await?;
    assert_eq!(docs.iter().find(|r| r.remote_id == partner).map(|r| r.class), Some(Unmanaged));
    let actions: Vec<String> = store.list_audit(tenant, 100).await?.into_iter().map(|e| e.action).collect();
    for action in ["account.adopt", "account.mark_external", "account.unmark_external"] {
        assert!(actions.iter().any(|a| a == action), "{action} audited: {actions:?}");
    }

    // The live list: a page at a time, and searched by email, each row classified.
    let page = engine.app_users("chat", &UserQuery { start_index: 1, count: 2, search: None }, today).await?;
    assert_eq!((page.accounts.len(), page.total), (2, Some(3)));
    let rest = engine.app_users("chat", &UserQuery { start_index: 3, count: 2, search: None }, today).await?;
    assert_eq!(rest.accounts.len(), 1);
    let mut seen: Vec<&str> = page.accounts.iter().chain(&rest.accounts).map(|r| r.user_name.as_str()).collect();
    seen.sort_unstable();
    assert_eq!(seen, ["ada@example.com", "bob@example.com", "cy@example.com"], "pages cover everyone once");
    let found = engine
        .app_users("docs", &UserQuery { start_index: 1, count: 50, search: Some("PARTNER".into()) }, today)
        .await?;
    assert_eq!(found.accounts.len(), 1, "{found:?}");
    assert_eq!((found.accounts[0].remote_id.as_str(), found.accounts[0].class), (partner.as_str(), Unmanaged));
    let ada_row =
        engine.app_users("video", &UserQuery { start_index: 1, count: 50, search: Some("ada@".into()) }, today).await?;
    assert_eq!(ada_row.accounts.len(), 1);
    assert_eq!(ada_row.accounts[0].class, Managed);
    assert_eq!(ada_row.accounts[0].person.as_deref(), Some("ada@example.com"));
    let bad = engine.app_users("chat", &UserQuery { start_index: 1, count: 0, search: None }, today).await;
    assert!(matches!(bad, Err(EngineError::Invalid(_))), "{bad:?}");

    // Ada leaves: before the apply every app shows her as left but active; one apply takes
    // every account away at once.
    let without_ada: Vec<ImportedPerson> = staff.into_iter().filter(|p| p.email != "ada@example.com").collect();
    store.apply_import(tenant, source, &ImportBatch { people: without_ada, groups: vec![] }).await?;
    let rows = engine.account_report(None, today).await?;
    let left: Vec<&str> =
        rows.iter().filter(|r| r.person.as_deref() == Some("ada@example.com")).map(|r| r.app.as_str()).collect();
    assert_eq!(left, APPS, "{rows:?}");
    assert!(rows.iter().filter(|r| r.person.as_deref() == Some("ada@example.com")).all(|r| r.class == LeftButActive));
    let report = engine.apply(engine.plan(None, today).await?).await?;
    assert_eq!(report.failed(), 0, "{report:?}");
    for name in APPS {
        let ada = peer_client(&peer, name)?.find_user("userName", "ada@example.com").await?.expect("still listed");
        assert!(!ada.active, "deactivated in {name}");
    }
    let rows = engine.account_report(None, today).await?;
    assert!(rows.iter().filter(|r| r.person.as_deref() == Some("ada@example.com")).all(|r| r.class == Deactivated));
    Ok(())
}

/// An account an admin marked as a known external is nobody's: the plan does not match it to the
/// person whose userName it holds, and a create that meets it fails for an admin instead of
/// taking it over.
async fn a_known_external_is_never_matched_or_taken_over(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let store = tenure_store::Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let engine = Engine::new(store.clone(), tenant);
    let peer = Scim2Server::start().await?;
    let today = tenure_engine::today();
    let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
    let batch = ImportBatch { people: vec![person("E1", "sam@example.com", "/Eng")], groups: vec![] };
    store.apply_import(tenant, source, &batch).await?;
    let app = store
        .add_app(tenant, "chat", AppKind::Scim, peer.base_url(), &Secret::new(peer.token()), &AppSettings::default())
        .await?;
    // Another Sam, at a partner, already has the userName in the app.
    let client = ScimClient::new(peer.base_url(), Secret::new(peer.token()), Default::default())?;
    let attrs = tenure_core::attributes::Attributes::from([("userName", "sam@example.com")]);
    let partner = client.create_user(&attrs).await?.remote_id;
    let ou = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Eng")?);
    store.assign(tenant, app.id, &ou, false, &AssignmentParams::default()).await?;
    let plan = &engine.plan(None, today).await?[0].plan;
    assert_eq!(plan.count("link"), 1, "unmarked, it matches by userName: {plan:?}");
    assert!(engine.mark_account("chat", &partner, Some("Sam at the partner, not ours"), "test").await?);
    let plans = engine.plan(None, today).await?;
    let plan = &plans[0].plan;
    assert_eq!((plan.count("link"), plan.count("create")), (0, 1), "marked, it is nobody's: {plan:?}");
    let report = engine.apply(plans).await?;
    assert_eq!(report.failed(), 1, "{report:?}");
    assert!(report.apps[0].failed[0].error.contains("known external"), "{report:?}");
    assert!(store.list_accounts(tenant, app.id).await?.is_empty(), "nothing was linked");
    let rows = engine.account_report(None, today).await?;
    assert_eq!(rows.iter().map(|r| r.class).collect::<Vec<_>>(), [KnownExternal]);
    Ok(())
}

/// A page of the live list plans only its own people, against the directory kept in memory;
/// each account must be classified as the report of the whole app classifies it, and a change
/// in the directory between two reads of a page shows on the second.
async fn the_live_list_agrees_with_the_report(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let store = tenure_store::Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let engine = Engine::new(store.clone(), tenant);
    let peer = Scim2Server::start().await?;
    let client = ScimClient::new(peer.base_url(), Secret::new(peer.token()), Default::default())?;
    let today = tenure_engine::today();
    let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
    let mut staff = vec![
        person("E1", "ada@example.com", "/Eng"),
        person("E2", "bob@example.com", "/Eng"),
        person("E3", "cy@example.com", "/Eng"),
        person("E4", "dee@example.com", "/Sales"),
    ];
    store.apply_import(tenant, source, &ImportBatch { people: staff.clone(), groups: vec![] }).await?;
    let settings = AppSettings {
        guard: Some(tenure_core::guard::GuardLimits { max_percent: 100, max_count: 25, ..Default::default() }),
        ..AppSettings::default()
    };
    let app =
        store.add_app(tenant, "chat", AppKind::Scim, peer.base_url(), &Secret::new(peer.token()), &settings).await?;
    let ou = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Eng")?);
    store.assign(tenant, app.id, &ou, false, &AssignmentParams::default()).await?;
    let report = engine.apply(engine.plan(None, today).await?).await?;
    assert_eq!(report.failed(), 0, "{report:?}");

    // After the apply: an account the next plan would link (eve joined, with an account made by
    // hand), two a key names at once (fay's), one of a person not assigned (dee's) and one
    // nobody's (a partner's).
    staff.push(person("E5", "eve@example.com", "/Eng"));
    staff.push(person("E6", "fay@example.com", "/Eng"));
    store.apply_import(tenant, source, &ImportBatch { people: staff.clone(), groups: vec![] }).await?;
    let eve = made(&client, "eve@example.com", "eve@example.com").await?;
    let fay = [made(&client, "fay-one", "fay@example.com").await?, made(&client, "fay-two", "fay@example.com").await?];
    made(&client, "dee@example.com", "dee@example.com").await?;
    made(&client, "auditor@partner.example", "auditor@partner.example").await?;

    // A page sees its own accounts only: two accounts a key names at once, each on its own
    // page, are each a match there (the plan of that page sees one); the report, and a page
    // holding both, sees the case. Every other account is classified alike however paged.
    let listed = read_all(&engine, 50, today).await?;
    compare(&listed, &engine.account_report(Some("chat"), today).await?, &[]);
    let paged = read_all(&engine, 2, today).await?;
    compare(&paged, &engine.account_report(Some("chat"), today).await?, &fay);
    let class_of = |rows: &BTreeMap<String, AccountRow>, id: &str| rows.get(id).map(|r| r.class);
    assert_eq!(class_of(&listed, &eve), Some(Matched));
    assert_eq!((class_of(&listed, &fay[0]), class_of(&listed, &fay[1])), (Some(Ambiguous), Some(Ambiguous)));
    let classes: Vec<AccountClass> = listed.values().map(|r| r.class).collect();
    assert_eq!(classes.iter().filter(|c| **c == Managed).count(), 3, "{listed:?}");
    assert_eq!(classes.iter().filter(|c| **c == Unmanaged).count(), 2, "{listed:?}");

    // The directory changes between two reads of the same page: bob leaves, cy moves out of
    // the assigned unit. The second read shows both, with no apply in between.
    let bob_query = UserQuery { start_index: 1, count: 10, search: Some("bob@".into()) };
    let before = engine.app_users("chat", &bob_query, today).await?;
    assert_eq!(before.accounts.iter().map(|r| r.class).collect::<Vec<_>>(), [Managed]);
    staff.retain(|p| p.email != "bob@example.com");
    for p in &mut staff {
        if p.email == "cy@example.com" {
            p.org_unit = Some(OrgUnitPath::parse("/Sales")?);
        }
    }
    store.apply_import(tenant, source, &ImportBatch { people: staff.clone(), groups: vec![] }).await?;
    let after = engine.app_users("chat", &bob_query, today).await?;
    assert_eq!(after.accounts.iter().map(|r| r.class).collect::<Vec<_>>(), [LeftButActive], "{after:?}");
    let cy =
        engine.app_users("chat", &UserQuery { start_index: 1, count: 10, search: Some("cy@".into()) }, today).await?;
    assert_eq!(cy.accounts.iter().map(|r| r.class).collect::<Vec<_>>(), [UnassignedButActive], "{cy:?}");
    let listed = read_all(&engine, 50, today).await?;
    compare(&listed, &engine.account_report(Some("chat"), today).await?, &[]);
    compare(&read_all(&engine, 2, today).await?, &engine.account_report(Some("chat"), today).await?, &fay);
    Ok(())
}

async fn made(client: &ScimClient, user_name: &str, email: &str) -> anyhow::Result<String> {
    let attrs = tenure_core::attributes::Attributes::from([("userName", user_name), ("email", email)]);
    Ok(client.create_user(&attrs).await?.remote_id)
}

/// Every account of the app through the live list, `count` at a time, by remote id.
async fn read_all(engine: &Engine, count: usize, today: time::Date) -> anyhow::Result<BTreeMap<String, AccountRow>> {
    let mut rows = BTreeMap::new();
    let mut start_index = 1;
    loop {
        let page = engine.app_users("chat", &UserQuery { start_index, count, search: None }, today).await?;
        if page.accounts.is_empty() {
            return Ok(rows);
        }
        start_index += page.accounts.len();
        rows.extend(page.accounts.into_iter().map(|r| (r.remote_id.clone(), r)));
    }
}

/// Asserts each listed account is classified as reported, but for those in `apart`.
fn compare(listed: &BTreeMap<String, AccountRow>, reported: &[AccountRow], apart: &[String]) {
    assert_eq!(listed.len(), reported.len(), "every account listed once: {listed:?}");
    for row in reported.iter().filter(|r| !apart.contains(&r.remote_id)) {
        let on_page = &listed[&row.remote_id];
        assert_eq!(
            (on_page.class, &on_page.person, &on_page.user_name),
            (row.class, &row.person, &row.user_name),
            "a page classifies {} as the report does",
            row.user_name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_list_agrees_with_the_report_sqlite() -> anyhow::Result<()> {
    the_live_list_agrees_with_the_report(TestBackend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_list_agrees_with_the_report_postgres() -> anyhow::Result<()> {
    the_live_list_agrees_with_the_report(TestBackend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_external_is_never_matched_or_taken_over_sqlite() -> anyhow::Result<()> {
    a_known_external_is_never_matched_or_taken_over(TestBackend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_apps_in_one_peer_sqlite() -> anyhow::Result<()> {
    several_apps_in_one_peer(TestBackend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_apps_in_one_peer_postgres() -> anyhow::Result<()> {
    several_apps_in_one_peer(TestBackend::Postgres).await
}
