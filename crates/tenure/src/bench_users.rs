//! `tenure bench users`: an app's live user list at size. A sandbox app (Notion's profile: pages
//! of at most 100) holds N accounts Tenure provisioned plus a tenth more nobody manages, loaded
//! in bulk with Tenure's links to them; measured: the full classified report of the app, the
//! first page of the live list (the first one after start, which reads the directory and the
//! stored accounts, and the next), pages across the whole list and searches by email, each
//! beside the time the app alone takes to answer the same request, and Tenure's time beyond it.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use tenure_connectors::{Connector, ScimClient, UserQuery};
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::{AccountClass, Engine};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};

use crate::bench_queue::{fresh_store, percentile, person, round1};
use crate::cli::BenchUsersArgs;

pub async fn run(args: BenchUsersArgs) -> anyhow::Result<ExitCode> {
    let accounts = usize::try_from(args.accounts)?;
    let search_count = usize::try_from(args.searches)?;
    let page_count = usize::try_from(args.pages)?;
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
        limits: Some(AppLimits {
            per_second: None,
            burst: None,
            concurrency: Some(32),
            shared_key: None,
            creates_per_second: None,
            updates_per_second: None,
            deletes_per_second: None,
            windows: Vec::new(),
        }),
        ..AppSettings::default()
    };
    let app = store
        .add_app(tenant, "notion", AppKind::Scim, &sandbox.base_url(), &Secret::new("bench-token"), &settings)
        .await?;
    let everyone = store.group_by_name(tenant, "everyone").await?.context("the everyone group")?;
    store.assign(tenant, app.id, &AssignmentTarget::Group(everyone), false, &AssignmentParams::default()).await?;

    // The accounts Tenure provisioned, and a tenth more nobody manages, loaded in bulk: the app
    // holds them and Tenure's links name them, as after provisioning.
    eprintln!("loading {accounts} accounts");
    let provisioned = Instant::now();
    let unmanaged = accounts / 10;
    let user =
        |email: String| json!({"userName": email, "emails": [{"value": email, "primary": true}], "active": true});
    let mut users: Vec<serde_json::Value> = (0..accounts).map(|i| user(format!("person{i}@bench.example"))).collect();
    users.extend((0..unmanaged).map(|i| user(format!("contractor{i}@partner.example"))));
    let loaded = sandbox.load_users(users).map_err(|e| anyhow::anyhow!("loading the sandbox app: {e:?}"))?;
    let people = store.list_people(tenant).await?;
    let by_email: std::collections::HashMap<&str, &Person> = people.iter().map(|p| (p.email.as_str(), p)).collect();
    let mut links = Vec::with_capacity(accounts);
    for resource in &loaded[..accounts] {
        let (Some(id), Some(email)) = (resource["id"].as_str(), resource["userName"].as_str()) else {
            anyhow::bail!("a sandbox user without id or userName");
        };
        let person = by_email.get(email).with_context(|| format!("no person {email}"))?;
        let mut attributes = tenure_core::reconcile::desired_for(person, &settings).map_err(|e| anyhow::anyhow!(e))?;
        attributes.retain(|_, v| !v.is_empty());
        links.push(tenure_store::StoredAccount {
            link: AccountLink {
                app_id: app.id,
                remote_id: id.to_owned(),
                person_id: person.id,
                origin: AccountOrigin::Created,
                deactivated_on: None,
                granted_by: None,
            },
            user_name: email.to_owned(),
            active: true,
            attributes,
        });
    }
    store.load_accounts(tenant, &links).await?;
    let marks = store.dirty_marks(tenant, i64::MAX).await?;
    store.clear_dirty(tenant, &marks).await?;
    store.analyze().await?;
    let client = ScimClient::new(&sandbox.base_url(), Secret::new("bench-token"), Default::default())?;
    eprintln!("{} accounts in the app after {:.1} s", sandbox.user_count(), provisioned.elapsed().as_secs_f64());

    let today = tenure_engine::today();
    // What the app alone takes to answer the same requests: the figure the goal is "beyond".
    let first = UserQuery { start_index: 1, count: 100, search: None };
    let started = Instant::now();
    client.list_users_page(&first).await?;
    let app_page_ms = started.elapsed().as_secs_f64() * 1e3;
    // The first read of the directory and the stored accounts, as after `serve` starts.
    let started = Instant::now();
    engine.app_users("notion", &first, today).await?;
    let cold_page_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let page = engine.app_users("notion", &first, today).await?;
    let first_page_ms = started.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(page.accounts.len() == 100, "a first page of {} accounts", page.accounts.len());

    // Pages across the whole list (the unmanaged accounts sort first, the managed after), each
    // read from the app alone and then through Tenure: Tenure's time beyond the app's is the
    // difference of the pair.
    let mut app_pages = Vec::with_capacity(page_count);
    let mut pages = Vec::with_capacity(page_count);
    let mut page_beyond = Vec::with_capacity(page_count);
    let listed = accounts + unmanaged;
    for i in 0..page_count {
        let query = UserQuery { start_index: 1 + (i * listed / page_count), count: 100, search: None };
        let (app_ms, tenure_ms, page) = paired(&client, &engine, &query, today).await?;
        let expected = 100.min(listed + 1 - query.start_index);
        anyhow::ensure!(
            page.accounts.len() == expected,
            "page at {}: {} accounts",
            query.start_index,
            page.accounts.len()
        );
        app_pages.push(app_ms);
        pages.push(tenure_ms);
        page_beyond.push((tenure_ms - app_ms).max(0.0));
    }

    let mut searches = Vec::with_capacity(search_count);
    let mut app_searches = Vec::with_capacity(search_count);
    let mut search_beyond = Vec::with_capacity(search_count);
    for i in 0..search_count {
        let wanted = format!("person{}@", (i * 7919) % accounts);
        let query = UserQuery { start_index: 1, count: 20, search: Some(wanted.clone()) };
        let (app_ms, tenure_ms, found) = paired(&client, &engine, &query, today).await?;
        app_searches.push(app_ms);
        searches.push(tenure_ms);
        search_beyond.push((tenure_ms - app_ms).max(0.0));
        anyhow::ensure!(found.accounts.len() == 1, "search {wanted}: {} accounts", found.accounts.len());
        anyhow::ensure!(found.accounts[0].class == AccountClass::Managed, "search {wanted}: {:?}", found.accounts[0]);
    }
    for figures in [&mut app_pages, &mut pages, &mut page_beyond, &mut searches, &mut app_searches, &mut search_beyond]
    {
        figures.sort_by(f64::total_cmp);
    }

    let started = Instant::now();
    let rows = engine.account_report(Some("notion"), today).await?;
    let report_ms = started.elapsed().as_secs_f64() * 1e3;
    let managed = rows.iter().filter(|r| r.class == AccountClass::Managed).count();
    let unmanaged_seen = rows.iter().filter(|r| r.class == AccountClass::Unmanaged).count();
    anyhow::ensure!(
        managed == accounts && unmanaged_seen == unmanaged,
        "the report classified {managed} managed and {unmanaged_seen} unmanaged accounts"
    );

    println!(
        "{}",
        json!({
            "accounts": rows.len(),
            "report_ms": round1(report_ms),
            "app_page_ms": round1(app_page_ms),
            "cold_page_ms": round1(cold_page_ms),
            "first_page_ms": round1(first_page_ms),
            "pages": page_count,
            "app_page_p50_ms": round1(percentile(&app_pages, 50.0)),
            "page_p50_ms": round1(percentile(&pages, 50.0)),
            "page_p99_ms": round1(percentile(&pages, 99.0)),
            "page_beyond_app_p50_ms": round1(percentile(&page_beyond, 50.0)),
            "page_beyond_app_p99_ms": round1(percentile(&page_beyond, 99.0)),
            "search_beyond_app_p50_ms": round1(percentile(&search_beyond, 50.0)),
            "search_beyond_app_p99_ms": round1(percentile(&search_beyond, 99.0)),
            "app_search_p50_ms": round1(percentile(&app_searches, 50.0)),
            "search_p50_ms": round1(percentile(&searches, 50.0)),
            "app_search_p99_ms": round1(percentile(&app_searches, 99.0)),
            "search_p99_ms": round1(percentile(&searches, 99.0)),
            "searches": search_count,
        })
    );
    sandbox.shutdown().await;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// One request to the app alone, then the same through Tenure's live list: the app's time,
/// Tenure's (which includes its own request to the app), and Tenure's page.
async fn paired(
    client: &ScimClient,
    engine: &Engine,
    query: &UserQuery,
    today: time::Date,
) -> anyhow::Result<(f64, f64, tenure_engine::UsersPage)> {
    let started = Instant::now();
    client.list_users_page(query).await?;
    let app_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let page = engine.app_users("notion", query, today).await?;
    Ok((app_ms, started.elapsed().as_secs_f64() * 1e3, page))
}
