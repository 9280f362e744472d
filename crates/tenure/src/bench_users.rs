//! `tenure bench users`: an app's live user list at size. A sandbox app (Notion's profile: pages
//! of at most 100) holds N accounts Tenure provisioned plus a tenth more nobody manages; measured:
//! the full classified report of the app, the first page of the live list, and searches by email.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use tenure_connectors::{ScimClient, UserQuery};
use tenure_core::attributes::Attributes;
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::{AccountClass, Engine};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};

use crate::bench_queue::{fresh_store, percentile, person, round1};
use crate::cli::BenchUsersArgs;

pub async fn run(args: BenchUsersArgs) -> anyhow::Result<ExitCode> {
    let accounts = usize::try_from(args.accounts)?;
    let search_count = usize::try_from(args.searches)?;
    let (store, _dir) = fresh_store(args.database_url.as_deref()).await?;
    let tenant = store.ensure_tenant("bench").await?;
    let engine = Engine::new(store.clone(), tenant);
    let sandbox = SandboxApp::spawn(SandboxOptions {
        profile: Profile::Notion,
        token: "bench-token".into(),
        rate_limit_per_sec: None,
        faults: None,
    })
    .await?;
    let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
    let batch = ImportBatch { people: (0..accounts).map(person).collect(), groups: vec![] };
    store.apply_import(tenant, source, &batch).await?;
    let settings = AppSettings {
        user_name: UserNameFormat::Email,
        vendor: Some("notion".into()),
        limits: Some(AppLimits { per_second: None, burst: None, concurrency: Some(32), shared_key: None }),
        ..AppSettings::default()
    };
    let app = store
        .add_app(tenant, "notion", AppKind::Scim, &sandbox.base_url(), &Secret::new("bench-token"), &settings)
        .await?;
    let everyone = store.group_by_name(tenant, "everyone").await?.context("the everyone group")?;
    store.assign(tenant, app.id, &AssignmentTarget::Group(everyone), false, &AssignmentParams::default()).await?;

    eprintln!("provisioning {accounts} accounts");
    let provisioned = Instant::now();
    let report = engine.apply(engine.plan(Some("notion"), tenure_engine::today()).await?).await?;
    anyhow::ensure!(report.failed() == 0 && report.queued == 0, "provisioning did not finish: {report:?}");
    let unmanaged = accounts / 10;
    let client = ScimClient::new(&sandbox.base_url(), Secret::new("bench-token"), Default::default())?;
    for i in 0..unmanaged {
        let email = format!("contractor{i}@partner.example");
        client.create_user(&Attributes::from([("userName", email.as_str()), ("email", email.as_str())])).await?;
    }
    eprintln!("{} accounts in the app after {:.1} s", sandbox.user_count(), provisioned.elapsed().as_secs_f64());

    let today = tenure_engine::today();
    let started = Instant::now();
    let rows = engine.account_report(Some("notion"), today).await?;
    let report_ms = started.elapsed().as_secs_f64() * 1e3;
    let managed = rows.iter().filter(|r| r.class == AccountClass::Managed).count();
    let unmanaged_seen = rows.iter().filter(|r| r.class == AccountClass::Unmanaged).count();
    anyhow::ensure!(
        managed == accounts && unmanaged_seen == unmanaged,
        "the report classified {managed} managed and {unmanaged_seen} unmanaged accounts"
    );

    let started = Instant::now();
    let page = engine.app_users("notion", &UserQuery { start_index: 1, count: 100, search: None }, today).await?;
    let first_page_ms = started.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(page.accounts.len() == 100, "a first page of {} accounts", page.accounts.len());

    let mut searches = Vec::with_capacity(search_count);
    for i in 0..search_count {
        let wanted = format!("person{}@", (i * 7919) % accounts);
        let query = UserQuery { start_index: 1, count: 20, search: Some(wanted.clone()) };
        let started = Instant::now();
        let found = engine.app_users("notion", &query, today).await?;
        searches.push(started.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(found.accounts.len() == 1, "search {wanted}: {} accounts", found.accounts.len());
        anyhow::ensure!(found.accounts[0].class == AccountClass::Managed, "search {wanted}: {:?}", found.accounts[0]);
    }
    searches.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "accounts": rows.len(),
            "report_ms": round1(report_ms),
            "first_page_ms": round1(first_page_ms),
            "search_p50_ms": round1(percentile(&searches, 50.0)),
            "search_p99_ms": round1(percentile(&searches, 99.0)),
            "searches": search_count,
        })
    );
    sandbox.shutdown().await;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
