//! A GitHub organization's invitation lifecycle through the engine, against the GitHub REST fake:
//! a joiner is invited (once), shows as invited, is linked once they accept (by the invited
//! email), is invited again once the invitation is stale, and an invitation is cancelled when
//! the person leaves before accepting; members who leave are removed. GitHub's rate limits
//! (primary and secondary) are waited out, and listings follow `Link` pages. Both backends.

use std::collections::BTreeMap;

use serde_json::json;
use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_core::*;
use tenure_engine::{AccountClass, Engine};
use tenure_store::Store;
use tenure_testkit::github_fake::GitHubFake;
use tenure_testkit::{TestBackend, TestDb};

const TOKEN: &str = "ghp_test_token";

struct Fixture {
    _db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    fake: GitHubFake,
    source: SourceId,
}

impl Fixture {
    async fn new(backend: TestBackend, reinvite_after_days: u32) -> anyhow::Result<Self> {
        let db = TestDb::new(backend).await?;
        let store = Store::connect_with_keys(
            db.url(),
            tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
        )
        .await?;
        let tenant = store.ensure_tenant("acme").await?;
        let wide = tenure_core::guard::GuardLimits { max_percent: 100, max_count: 1000, ..Default::default() };
        let options = tenure_connectors::ClientOptions {
            initial_backoff: std::time::Duration::from_millis(50),
            max_retry_wait: std::time::Duration::from_secs(3),
            ..Default::default()
        };
        let engine = Engine::new(store.clone(), tenant).with_global_guard(wide).with_client_options(options);
        let fake = GitHubFake::start("acme-corp", TOKEN).await?;
        let settings = AppSettings {
            guard: Some(wide),
            github: Some(GitHubOrgTarget { org: "acme-corp".into(), reinvite_after_days }),
            ..AppSettings::default()
        };
        let app = store
            .add_app(tenant, "github", AppKind::GithubOrg, &fake.api_url(), &Secret::new(TOKEN), &settings)
            .await?;
        let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
        let eng = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Eng")?);
        store.assign(tenant, app.id, &eng, false, &AssignmentParams::default()).await?;
        Ok(Self { _db: db, store, tenant, engine, fake, source })
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

    async fn classes(&self) -> anyhow::Result<BTreeMap<String, AccountClass>> {
        let report = self.engine.account_report(None, tenure_engine::today()).await?;
        Ok(report.into_iter().map(|r| (r.person.unwrap_or(r.user_name), r.class)).collect())
    }
}

fn person(key: &str, email: &str) -> ImportedPerson {
    tenure_testkit::person(key, email)
}

async fn lifecycle(backend: TestBackend) -> anyhow::Result<()> {
    let f = Fixture::new(backend, 7).await?;
    // 150 members joined without Tenure: two pages of 100 behind `Link`.
    for i in 0..150 {
        f.fake.add_member(&format!("old-timer-{i}"), None);
    }
    f.import(vec![person("E1", "al@example.com"), person("E2", "bo@example.com")]).await?;

    // Joiners are invited, once.
    let kinds = f.plan_kinds().await?;
    assert_eq!(
        (kinds["al@example.com"].clone(), kinds["bo@example.com"].clone()),
        (vec!["create"], vec!["create"]),
        "{kinds:?}"
    );
    // A secondary limit on the first write is waited out (retry-after: 1).
    f.fake.secondary_limit_next_writes(1);
    f.apply().await?;
    let mut sent = f.fake.sent();
    sent.sort();
    assert_eq!(sent, ["al@example.com", "bo@example.com"]);
    assert!(f.plan_kinds().await?.is_empty(), "a pending invitation is not sent twice");
    let classes = f.classes().await?;
    assert_eq!((classes["al@example.com"], classes["bo@example.com"]), (AccountClass::Invited, AccountClass::Invited));
    assert_eq!(classes.values().filter(|c| **c == AccountClass::Unmanaged).count(), 150, "both pages read");

    // Al accepts as al-gh, showing the invited address: linked, never invited again.
    assert!(f.fake.accept("al@example.com", "al-gh", Some("al@example.com")));
    let kinds = f.plan_kinds().await?;
    assert_eq!(kinds.get("al@example.com").cloned(), Some(vec!["link"]), "{kinds:?}");
    f.apply().await?;
    assert!(f.plan_kinds().await?.is_empty());
    assert_eq!(f.classes().await?["al@example.com"], AccountClass::Managed);

    // Bo's invitation: three days old is still pending; at seven GitHub expires it and the next
    // plan invites again.
    f.fake.age_invitation("bo@example.com", 3);
    assert!(f.plan_kinds().await?.is_empty());
    f.fake.age_invitation("bo@example.com", 4);
    assert!(f.fake.pending().is_empty(), "GitHub expired it");
    assert_eq!(f.plan_kinds().await?.get("bo@example.com").cloned(), Some(vec!["create"]));
    // The primary limit runs out mid-apply: waited out until x-ratelimit-reset.
    f.fake.exhaust_primary_after(1);
    f.apply().await?;
    assert_eq!(f.fake.sent().iter().filter(|e| *e == "bo@example.com").count(), 2);
    assert_eq!(f.fake.pending().len(), 1);

    // Bo leaves before accepting: the invitation is cancelled. Al leaves: removed.
    f.import(vec![person("E1", "al@example.com")]).await?;
    let kinds = f.plan_kinds().await?;
    assert_eq!(kinds.get("bo@example.com").cloned(), Some(vec!["delete"]), "{kinds:?}");
    f.apply().await?;
    assert!(f.fake.pending().is_empty(), "cancelled");
    assert!(f.plan_kinds().await?.is_empty());
    let mut leaving = person("E1", "al@example.com");
    leaving.status = PersonStatus::Suspended;
    f.import(vec![leaving]).await?;
    f.apply().await?;
    assert!(!f.fake.members().contains(&"al-gh".to_owned()), "removed from the organization");
    assert!(f.plan_kinds().await?.is_empty());
    Ok(())
}

async fn reinvite_after_configured_days(backend: TestBackend) -> anyhow::Result<()> {
    let f = Fixture::new(backend, 3).await?;
    f.import(vec![person("E1", "cy@example.com")]).await?;
    f.apply().await?;
    let first = f.fake.pending();
    assert_eq!(first.len(), 1);
    f.fake.age_invitation("cy@example.com", 2);
    assert!(f.plan_kinds().await?.is_empty(), "two days: still fresh");
    f.fake.age_invitation("cy@example.com", 1);
    // Still pending at GitHub (under 7 days), but stale by the app's setting: cancelled and sent
    // again, never two pending at once.
    assert_eq!(f.plan_kinds().await?.get("cy@example.com").cloned(), Some(vec!["create"]));
    f.apply().await?;
    let now = f.fake.pending();
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].id, first[0].id);
    assert_eq!(f.fake.sent().len(), 2);
    assert!(f.plan_kinds().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn invitation_lifecycle_on_sqlite() -> anyhow::Result<()> {
    lifecycle(TestBackend::Sqlite).await
}

#[tokio::test]
async fn invitation_lifecycle_on_postgres() -> anyhow::Result<()> {
    lifecycle(TestBackend::Postgres).await
}

#[tokio::test]
async fn reinvite_after_configured_days_on_sqlite() -> anyhow::Result<()> {
    reinvite_after_configured_days(TestBackend::Sqlite).await
}

#[tokio::test]
async fn reinvite_after_configured_days_on_postgres() -> anyhow::Result<()> {
    reinvite_after_configured_days(TestBackend::Postgres).await
}
