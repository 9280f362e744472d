//! `tenure bench scim-bounds`: what one tenant's heavy SCIM requests cost everyone else. Starts
//! the server on a fresh SQLite store on 127.0.0.1:0 (two SCIM tenants), keeps a client asking
//! `/healthz` every 20 ms, and meanwhile sends, from the first tenant:
//!
//! - two concurrent PATCHes of 20,000 `add` operations on `emails` (refused: over the cap);
//! - two concurrent PATCHes of 1,000 `add` operations on `emails` (the cap: applied);
//! - two concurrent PATCHes of 1,000 `remove` operations by `members[value eq "..."]` on a group
//!   of `--members` members;
//! - a filter of 1,000 `or` terms (answered) and one of 1,001 (400 `invalidFilter`);
//!
//! while the second tenant reads one of its users every 20 ms. Prints one JSON line: each
//! request's status and time, and the slowest `/healthz` and other-tenant answers.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenure_store::TokenScope;

use crate::cli::BenchBoundsArgs;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Polls `url` until `stop`, keeping the slowest answer in microseconds; a failed request
/// counts as the time it took to fail.
fn watch(
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    stop: Arc<AtomicBool>,
) -> (Arc<AtomicU64>, tokio::task::JoinHandle<u64>) {
    let slowest = Arc::new(AtomicU64::new(0));
    let seen = slowest.clone();
    let task = tokio::spawn(async move {
        let mut count = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let mut request = client.get(&url);
            if let Some(t) = &token {
                request = request.bearer_auth(t);
            }
            let _ = request.send().await.map(|r| r.status());
            seen.fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            count += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        count
    });
    (slowest, task)
}

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, f64, Value)> {
    let started = Instant::now();
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.header("content-type", "application/scim+json").body(serde_json::to_vec(body)?);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, ms, body))
}

/// Two requests at once; their statuses and times.
async fn pair(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> anyhow::Result<Value> {
    let (a, b) = tokio::join!(
        send(client, reqwest::Method::PATCH, url, token, Some(body)),
        send(client, reqwest::Method::PATCH, url, token, Some(body))
    );
    let (a, b) = (a?, b?);
    Ok(json!({
        "statuses": [a.0, b.0],
        "ms": [round(a.1), round(b.1)],
        "scim_type": a.2.get("scimType").cloned().unwrap_or(Value::Null),
    }))
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

fn email_adds(n: usize, tag: &str) -> Value {
    let ops: Vec<Value> = (0..n)
        .map(|i| json!({"op": "add", "path": "emails", "value": [{"value": format!("{tag}{i}@bench.example"), "type": "other"}]}))
        .collect();
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

pub async fn run(args: BenchBoundsArgs) -> anyhow::Result<ExitCode> {
    let (store, _cleanup) = crate::bench_queue::fresh_store(None).await?;
    let heavy = store.ensure_tenant("heavy").await?;
    let other = store.ensure_tenant("other").await?;
    let heavy_token = tenure_server::tokens::generate();
    let other_token = tenure_server::tokens::generate();
    store.insert_token(heavy, TokenScope::Scim, &tenure_server::tokens::hash(&heavy_token), Some("bench")).await?;
    store.insert_token(other, TokenScope::Scim, &tenure_server::tokens::hash(&other_token), Some("bench")).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(tenure_server::serve(listener, tenure_server::ServerState::new(store.clone()), async move {
            let _ = stopped.await;
        }));
    let base = format!("http://{addr}/scim/v2");
    // reqwest is built without a crypto provider; an already installed one is fine too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().pool_max_idle_per_host(8).build()?;

    // Set-up: a user to patch, the group's members, the other tenant's user.
    let user = |name: &str| json!({"schemas": [tenure_scim::schemas::USER], "userName": name, "emails": [{"value": name, "type": "work", "primary": true}]});
    let (status, _, created) = send(
        &client,
        reqwest::Method::POST,
        &format!("{base}/Users"),
        &heavy_token,
        Some(&user("patched@bench.example")),
    )
    .await?;
    anyhow::ensure!(status == 201, "creating the user answered {status}: {created}");
    let user_url = format!("{base}/Users/{}", created["id"].as_str().unwrap_or_default());
    let (status, _, theirs) = send(
        &client,
        reqwest::Method::POST,
        &format!("{base}/Users"),
        &other_token,
        Some(&user("theirs@bench.example")),
    )
    .await?;
    anyhow::ensure!(status == 201, "creating the other tenant's user answered {status}: {theirs}");
    let their_url = format!("{base}/Users/{}", theirs["id"].as_str().unwrap_or_default());
    let setup = Instant::now();
    // Members are created over HTTP (as an IdP would), eight at a time: they must be people of
    // the directory for the group to name them.
    let mut member_ids = Vec::with_capacity(args.members);
    let mut next = 0;
    while next < args.members {
        let mut batch = tokio::task::JoinSet::new();
        for i in next..(next + 8).min(args.members) {
            let (client, url, token, body) = (
                client.clone(),
                format!("{base}/Users"),
                heavy_token.clone(),
                user(&format!("member{i}@bench.example")),
            );
            batch.spawn(async move { send(&client, reqwest::Method::POST, &url, &token, Some(&body)).await });
        }
        while let Some(done) = batch.join_next().await {
            let (status, _, created) = done??;
            anyhow::ensure!(status == 201, "creating a member answered {status}: {created}");
            member_ids.push(created["id"].as_str().unwrap_or_default().to_owned());
        }
        next = (next + 8).min(args.members);
    }
    let members: Vec<Value> = member_ids.iter().map(|id| json!({"value": id})).collect();
    let group = json!({"schemas": [tenure_scim::schemas::GROUP], "displayName": "everyone", "members": members});
    let (status, group_ms, created) =
        send(&client, reqwest::Method::POST, &format!("{base}/Groups"), &heavy_token, Some(&group)).await?;
    anyhow::ensure!(status == 201, "creating the group answered {status}: {created}");
    let group_url = format!("{base}/Groups/{}", created["id"].as_str().unwrap_or_default());
    let setup_s = setup.elapsed().as_secs_f64();

    // The watchers.
    let stop = Arc::new(AtomicBool::new(false));
    let (health_max, health_task) = watch(client.clone(), format!("http://{addr}/healthz"), None, stop.clone());
    let (other_max, other_task) = watch(client.clone(), their_url, Some(other_token.clone()), stop.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;

    let over_cap = pair(&client, &user_url, &heavy_token, &email_adds(20_000, "over")).await?;
    let at_cap = {
        let (first, second) = (email_adds(1_000, "a"), email_adds(1_000, "b"));
        let (a, b) = tokio::join!(
            send(&client, reqwest::Method::PATCH, &user_url, &heavy_token, Some(&first)),
            send(&client, reqwest::Method::PATCH, &user_url, &heavy_token, Some(&second))
        );
        let (a, b) = (a?, b?);
        json!({"statuses": [a.0, b.0], "ms": [round(a.1), round(b.1)]})
    };
    let removals = |from: usize| {
        let ops: Vec<Value> = member_ids
            .iter()
            .skip(from)
            .take(1_000)
            .map(|id| json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")}))
            .collect();
        json!({"schemas": [PATCH_OP], "Operations": ops})
    };
    let group_removals = {
        let (first, second) = (removals(0), removals(1_000));
        let slim = format!("{group_url}?excludedAttributes=members");
        let (a, b) = tokio::join!(
            send(&client, reqwest::Method::PATCH, &slim, &heavy_token, Some(&first)),
            send(&client, reqwest::Method::PATCH, &slim, &heavy_token, Some(&second))
        );
        let (a, b) = (a?, b?);
        json!({"statuses": [a.0, b.0], "ms": [round(a.1), round(b.1)]})
    };
    let terms = |n: usize| -> String {
        (0..n).map(|i| format!("userName eq \"member{i}@bench.example\"")).collect::<Vec<_>>().join(" or ")
    };
    let filter = |n: usize| {
        let client = client.clone();
        let url = format!("{base}/Users");
        let token = heavy_token.clone();
        async move {
            let started = Instant::now();
            let response = client
                .get(&url)
                .bearer_auth(&token)
                .query(&[("filter", terms(n)), ("count", "10".to_owned())])
                .send()
                .await?;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            anyhow::Ok(json!({
                "terms": n,
                "status": status,
                "ms": round(started.elapsed().as_secs_f64() * 1000.0),
                "total_results": body.get("totalResults").cloned().unwrap_or(Value::Null),
                "scim_type": body.get("scimType").cloned().unwrap_or(Value::Null),
            }))
        }
    };
    let filter_cap = filter(1_000).await?;
    let filter_over = filter(1_001).await?;

    stop.store(true, Ordering::Relaxed);
    let health_polls = health_task.await?;
    let other_polls = other_task.await?;
    let _ = stop_server.send(());
    let _ = server.await;
    let out = json!({
        "bench": "scim-bounds",
        "group_members": args.members,
        "setup_s": round(setup_s),
        "group_create_ms": round(group_ms),
        "patch_20000_adds_x2": over_cap,
        "patch_1000_adds_x2": at_cap,
        "patch_1000_member_removals_x2": group_removals,
        "filter_1000_terms": filter_cap,
        "filter_1001_terms": filter_over,
        "healthz_max_ms": round(health_max.load(Ordering::Relaxed) as f64 / 1000.0),
        "healthz_polls": health_polls,
        "other_tenant_get_max_ms": round(other_max.load(Ordering::Relaxed) as f64 / 1000.0),
        "other_tenant_polls": other_polls,
    });
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}
