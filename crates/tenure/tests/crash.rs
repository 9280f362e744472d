//! The queue survives being killed: a `tenure serve` child provisions 2,000 people into the
//! independent `scim2-server` and is killed with SIGKILL at several random moments, then started
//! again. In the end every account exists exactly once, is linked to its person, and holds the
//! right attributes (a fresh plan has nothing to do). Once per backend.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use tenure_testkit::{Scim2Server, TestBackend, TestDb};

const PEOPLE: usize = 2000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill() -> anyhow::Result<()> {
    survives_sigkill(TestBackend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_sigkill() -> anyhow::Result<()> {
    survives_sigkill(TestBackend::Postgres).await
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

/// How many users the peer holds.
async fn peer_count(http: &reqwest::Client, peer: &Scim2Server) -> anyhow::Result<u64> {
    let body: Value = http
        .get(format!("{}/Users", peer.base_url()))
        .query(&[("count", "0")])
        .bearer_auth(peer.token())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    body["totalResults"].as_u64().ok_or_else(|| anyhow::anyhow!("no totalResults in {body}"))
}

async fn survives_sigkill(backend: TestBackend) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = TestDb::new(backend).await?;
    let peer = Scim2Server::start().await?;
    let dir = tempfile::tempdir()?;
    let home = dir.path();
    let url = db.url();
    let mut csv = String::from("employee_id,email,given_name,family_name,department,title,org_unit,groups\n");
    for n in 0..PEOPLE {
        csv.push_str(&format!(
            "E{n},person{n}@example.com,Given{n},Family{n},Dept{},Title {n},/Org/U{},staff\n",
            n % 7,
            n % 13
        ));
    }
    let people = home.join("people.csv");
    std::fs::write(&people, csv)?;
    ok(url, home, &["source", "add", "csv", "hr", "--file", people.to_str().unwrap_or_default()]).await?;
    ok(url, home, &["sync"]).await?;
    ok(url, home, &["app", "add", "scim", "peer", "--base-url", peer.base_url(), "--token", peer.token()]).await?;
    ok(url, home, &["assign", "peer", "--group", "staff"]).await?;

    let http = reqwest::Client::new();
    let log_path = home.join("serve.log");
    let serve = || -> anyhow::Result<tokio::process::Child> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
        Ok(tenure(url, home)
            .args(["serve", "--listen", "127.0.0.1:0", "--lease", "2s"])
            .env("TENURE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?)
    };
    let log_tail = || {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        log[log.len().saturating_sub(4000)..].to_owned()
    };

    // Kill points: random progress counts, so the kills land in every phase of the work.
    let mut kill_at: Vec<u64> = {
        let mut rng = rand::rng();
        (0..3).map(|_| rng.random_range(1..(PEOPLE as u64 - 100))).collect()
    };
    kill_at.sort_unstable();
    for threshold in kill_at {
        let mut child = serve()?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let count = loop {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("tenure serve exited by itself ({status})\nserve log:\n{}", log_tail());
            }
            if let Ok(count) = peer_count(&http, &peer).await
                && count >= threshold
            {
                break count;
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!("no progress to {threshold} accounts\nserve log:\n{}", log_tail());
            }
            // Polling the peer; the kill lands wherever the work has got to by then.
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        child.start_kill()?; // SIGKILL
        child.wait().await?;
        eprintln!("killed tenure serve at {count} accounts (threshold {threshold})");
    }

    // The last start finishes the work.
    let mut child = serve()?;
    let converged = tenure_testkit::eventually(Duration::from_secs(180), || async {
        let status = ok(url, home, &["ops", "status", "--json"]).await.ok()?;
        let status: Value = serde_json::from_str(&status).ok()?;
        let idle = status["ready"] == 0 && status["waiting"] == 0 && status["dirty"] == 0;
        (idle && peer_count(&http, &peer).await.ok()? >= PEOPLE as u64).then_some(())
    })
    .await;
    converged.map_err(|e| anyhow::anyhow!("{e}\nserve log:\n{}", log_tail()))?;
    child.start_kill()?;
    child.wait().await?;

    // Exactly once: as many accounts as people, each userName once, each linked to its person.
    assert_eq!(peer_count(&http, &peer).await?, PEOPLE as u64, "no duplicates in the app");
    let users: Value = serde_json::from_str(&ok(url, home, &["app", "users", "peer", "--json"]).await?)?;
    let users = users.as_array().expect("users");
    assert_eq!(users.len(), PEOPLE);
    let mut names: Vec<&str> = users.iter().filter_map(|u| u["user_name"].as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), PEOPLE, "each userName once");
    for u in users {
        assert_eq!(u["person"], u["user_name"], "linked to its person: {u}");
        assert_eq!(u["active"], true, "{u}");
    }
    // The right attributes, and nothing lost: a fresh plan against the app has nothing to do.
    let plan: Value = serde_json::from_str(&ok(url, home, &["plan", "--json"]).await?)?;
    let totals = plan["totals"].as_object().expect("totals");
    assert!(totals.values().all(|v| v == 0), "a converged app needs no operation: {totals:?}");
    let failed: Value = serde_json::from_str(&ok(url, home, &["ops", "list", "--failed", "--json"]).await?)?;
    assert_eq!(failed.as_array().map(Vec::len), Some(0), "{failed}");
    Ok(())
}
