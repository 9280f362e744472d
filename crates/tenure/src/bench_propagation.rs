//! `tenure bench propagation`: the time from a change an IdP pushes to Tenure's SCIM endpoint
//! until every app that holds the person has it, at the size of a real company.
//!
//! The set-up is loaded in bulk, as a converged deployment would stand: N people pushed by the
//! IdP (their SCIM users and the people they feed, many rows a statement), A apps on one sandbox
//! app each granted to four departments of twenty (a fifth of everyone), each person's account
//! in the sandbox and Tenure's link to it in each app that grants them. Nothing is marked, so
//! nothing is planned until a change comes. Then the changes are measured one at a time through
//! the real path: a SCIM PATCH of the person's title → its dirty mark → a propagation pass →
//! the queue → the workers → one PATCH per app holding the person. A first change, not counted,
//! lets the first pass read the directory and the stored accounts, as after `serve` starts.
//!
//! One JSON line: `people`, `apps`, `accounts`, `load_s`, `warmup_ms`, `changes`, `p50_ms`,
//! `p99_ms`, `max_ms` (until every app holding the person has the change), `first_app_p99_ms`
//! (until the first one has), `peak_rss_mb` (this process: Tenure, its SCIM endpoint and the
//! sandbox app with every user).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenure_connectors::{ClientOptions, ScimClient};
use tenure_core::attributes::{self, Attributes};
use tenure_core::reconcile::desired_for;
use tenure_core::*;
use tenure_engine::Engine;
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::{StoredAccount, TokenScope};

use crate::bench_queue::{Workers, fresh_store, percentile, round1};
use crate::cli::BenchPropagationArgs;

const DEPARTMENTS: usize = 20;
/// Departments each app is granted to.
const PER_APP: usize = 4;
/// Rows handed to the store per call while loading.
const LOAD_CHUNK: usize = 10_000;

/// The departments app `a` is granted to: four of twenty, spread so each department is in a
/// fifth of the apps.
fn departments_of(a: usize) -> [usize; PER_APP] {
    [a % DEPARTMENTS, (a + 5) % DEPARTMENTS, (a + 10) % DEPARTMENTS, (a + 15) % DEPARTMENTS]
}

fn department(i: usize) -> usize {
    (i * 7) % DEPARTMENTS
}

/// Person `i` as the IdP pushes them.
fn scim_user(i: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": format!("person{i}@bench.example"),
        "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{i}")},
        "emails": [{"value": format!("person{i}@bench.example"), "type": "work", "primary": true}],
        "title": "Engineer",
        "active": true,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": format!("Department{}", department(i))},
    })
}

/// Person `i`'s account in the sandbox app, as Tenure would have created it.
fn app_user(i: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("person{i}@bench.example"),
        "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{i}")},
        "emails": [{"value": format!("person{i}@bench.example"), "type": "work", "primary": true}],
        "title": "Engineer",
        "active": true,
    })
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0).round())
}

pub async fn run(args: BenchPropagationArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.people > 0, "--people must be at least 1");
    let app_count = usize::try_from(args.apps)?;
    let (store, _dir) = fresh_store(args.database_url.as_deref()).await?;
    let tenant = store.ensure_tenant("bench").await?;
    let engine = Engine::new(store.clone(), tenant);

    // Tenure's SCIM endpoint, where the IdP pushes people.
    let token = tenure_server::tokens::generate();
    store.insert_token(tenant, TokenScope::Scim, &tenure_server::tokens::hash(&token), Some("bench")).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tenure_server::serve(listener, tenure_server::ServerState::new(store.clone()), async {
        let _ = server_stopped.await;
    }));
    let idp = ScimClient::new(&format!("http://{addr}/scim/v2"), Secret::new(token), ClientOptions::default())?;
    let sandbox = SandboxApp::spawn(SandboxOptions {
        profile: Profile::Notion,
        token: "bench-token".into(),
        rate_limit_per_sec: None,
        faults: None,
    })
    .await?;

    let started = Instant::now();
    let (ids, accounts) = load_company(&store, tenant, &sandbox, args.people, app_count).await?;
    let load_s = started.elapsed().as_secs_f64();
    eprintln!("loaded {} people, {} apps and {accounts} accounts in {load_s:.1} s", args.people, args.apps);

    let workers = Workers::start(&engine, Duration::from_millis(args.poll_ms));
    let bench = Measured { sandbox: &sandbox, idp: &idp, ids: &ids, apps: app_count };
    let (_, warmup) = bench.change(args.changes + 1).await?;
    eprintln!(
        "first change (the first pass reads the directory and stored accounts): {:.0} ms",
        warmup.as_secs_f64() * 1e3
    );

    let mut latencies = Vec::with_capacity(args.changes);
    let mut firsts = Vec::with_capacity(args.changes);
    for n in 0..args.changes {
        let (first, all) = bench.change(n).await?;
        firsts.push(first.as_secs_f64() * 1e3);
        latencies.push(all.as_secs_f64() * 1e3);
    }
    workers.stop().await;
    // Only the changes reached the app: no account was created or removed on the way.
    anyhow::ensure!(
        sandbox.user_count() == args.people,
        "the app holds {} users, not the {} loaded",
        sandbox.user_count(),
        args.people
    );
    let _ = stop_server.send(());
    server.await??;
    latencies.sort_by(f64::total_cmp);
    firsts.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&latencies, 50.0), percentile(&latencies, 99.0));
    eprintln!(
        "propagation over {} changes to every app holding the person: p50 {p50:.1} ms, p99 {p99:.1} ms (goal: p99 < 1000 ms)",
        latencies.len()
    );
    println!(
        "{}",
        json!({
            "bench": "propagation",
            "people": args.people,
            "apps": args.apps,
            "accounts": accounts,
            "backend": store.backend().name(),
            "load_s": round1(load_s),
            "warmup_ms": round1(warmup.as_secs_f64() * 1e3),
            "changes": latencies.len(),
            "p50_ms": round1(p50),
            "p99_ms": round1(p99),
            "max_ms": round1(latencies.last().copied().unwrap_or(0.0)),
            "first_app_p99_ms": round1(percentile(&firsts, 99.0)),
            "peak_rss_mb": peak_rss_mb(),
        })
    );
    sandbox.shutdown().await;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The set-up of a converged deployment, in bulk: `people_count` people pushed by the IdP (their
/// SCIM users and the people they feed), `apps` apps on `sandbox` each granted to four
/// departments, every account in the sandbox and Tenure's links to them, nothing marked.
/// Returns the people's ids (in the order of `scim_user`) and the number of accounts.
pub(crate) async fn load_company(
    store: &tenure_store::Store,
    tenant: TenantId,
    sandbox: &SandboxApp,
    people_count: usize,
    apps: usize,
) -> anyhow::Result<(Vec<PersonId>, usize)> {
    // The directory as the IdP pushed it, in bulk.
    let settings = AppSettings { user_name: UserNameFormat::Email, ..AppSettings::default() };
    let mut ids: Vec<PersonId> = Vec::with_capacity(people_count);
    let mut people: Vec<Person> = Vec::with_capacity(people_count);
    for from in (0..people_count).step_by(LOAD_CHUNK) {
        let to = (from + LOAD_CHUNK).min(people_count);
        let mut users = Vec::with_capacity(to - from);
        let mut pushed = Vec::with_capacity(to - from);
        for i in from..to {
            let id = PersonId::new();
            let mut resource = scim_user(i);
            resource["id"] = json!(id.to_string());
            let version = tenure_scim::etag::etag(&resource);
            let imported = tenure_sources::scim_push::person_from_user(&id.to_string(), &resource);
            people.push(imported.to_person(id, SourceId::new()));
            pushed.push((id, imported));
            users.push((id, resource, version));
            ids.push(id);
        }
        store.scim_load_users(tenant, &users).await?;
        store.scim_load_people(tenant, &pushed).await?;
    }
    let remote: Vec<String> = sandbox
        .load_users((0..people_count).map(app_user).collect())
        .map_err(|e| anyhow::anyhow!("loading the sandbox app: {e:?}"))?
        .iter()
        .map(|u| u["id"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("a sandbox user without id")))
        .collect::<anyhow::Result<_>>()?;

    // The apps, each granted to four departments, and the accounts Tenure linked in each.
    let mut accounts = 0usize;
    for a in 0..apps {
        let app = store
            .add_app(
                tenant,
                &format!("app{a:02}"),
                AppKind::Scim,
                &sandbox.base_url(),
                &Secret::new("bench-token"),
                &settings,
            )
            .await?;
        let granted = departments_of(a);
        let names: Vec<String> = granted.iter().map(|d| format!("\"Department{d}\"")).collect();
        let rule = expr::Rule::parse(&format!("department in [{}]", names.join(", ")))?;
        store.assign(tenant, app.id, &AssignmentTarget::Rule(rule), false, &AssignmentParams::default()).await?;
        let mut rows = Vec::new();
        for (i, person) in people.iter().enumerate() {
            if !granted.contains(&department(i)) {
                continue;
            }
            let mut attributes = desired_for(person, &settings).map_err(|e| anyhow::anyhow!(e))?;
            attributes.retain(|_, v| !v.is_empty());
            rows.push(StoredAccount {
                link: AccountLink {
                    app_id: app.id,
                    remote_id: remote[i].clone(),
                    person_id: person.id,
                    origin: AccountOrigin::Created,
                    deactivated_on: None,
                    granted_by: None,
                },
                user_name: person.email.clone(),
                active: true,
                attributes,
            });
        }
        accounts += rows.len();
        for chunk in rows.chunks(LOAD_CHUNK * 5) {
            store.load_accounts(tenant, chunk).await?;
        }
    }
    drop(people);
    // Converged: what adding the apps marked is already true of the loaded accounts.
    let marks = store.dirty_marks(tenant, i64::MAX).await?;
    store.clear_dirty(tenant, &marks).await?;
    store.analyze().await?;
    Ok((ids, accounts))
}

/// What one measured change needs.
pub(crate) struct Measured<'a> {
    pub sandbox: &'a SandboxApp,
    pub idp: &'a ScimClient,
    pub ids: &'a [PersonId],
    pub apps: usize,
}

impl Measured<'_> {
    /// Pushes change `n` (a new title) and waits until every app holding the person has it:
    /// the time to the first app's write and to the last.
    pub(crate) async fn change(&self, n: usize) -> anyhow::Result<(Duration, Duration)> {
        let i = (n * 7919) % self.ids.len();
        let title = format!("Title {n}");
        let want = (0..self.apps).filter(|&a| departments_of(a).contains(&department(i))).count() as u64;
        let before = self.sandbox.write_count();
        let t0 = Instant::now();
        self.idp.update_user(&self.ids[i].to_string(), &Attributes::from([(attributes::TITLE, title.clone())])).await?;
        let until = t0 + Duration::from_secs(60);
        let mut first = None;
        loop {
            let written = self.sandbox.write_count().saturating_sub(before);
            if first.is_none() && written > 0 {
                first = Some(t0.elapsed());
            }
            if written >= want {
                break;
            }
            anyhow::ensure!(Instant::now() < until, "change {n}: {written} of {want} apps within 60 s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let all = t0.elapsed();
        let user = self.sandbox.user_named(&format!("person{i}@bench.example"));
        anyhow::ensure!(
            user.is_some_and(|u| u.title.as_deref() == Some(title.as_str())),
            "change {n}: the app does not hold the new title"
        );
        Ok((first.unwrap_or(all), all))
    }
}
