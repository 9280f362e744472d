//! The deprovisioning guard against losses that arrive one at a time, through the binary with
//! `tenure serve` running, as an admin would meet them:
//!
//! - an HR export applied in pieces (30 syncs, one more person suspended each time), with a
//!   SIGKILL of `serve` after the hold started, held people edited and one re-activated
//!   meanwhile, a joiner provisioned while the losses wait, then the approval;
//! - 20 losses held at once, five of the held people renamed one sync at a time;
//! - an IdP suspending people over SCIM, one request at a time.
//!
//! The app is the independent `scim2-server`; 60 people, the default guard (10%: six a day).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tenure_testkit::{Scim2Server, TestBackend, TestDb, eventually};
use tokio::io::AsyncBufReadExt;

mod common;
use common::Cli;

const PEOPLE: usize = 60;
const SETTLE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_export_applied_in_pieces_is_held_and_survives_sigkill() -> anyhow::Result<()> {
    export_in_pieces(TestBackend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_export_applied_in_pieces_is_held_and_survives_sigkill() -> anyhow::Result<()> {
    export_in_pieces(TestBackend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_held_people_renamed_one_at_a_time_keep_their_access() -> anyhow::Result<()> {
    renamed_while_held(TestBackend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_idp_suspending_people_one_request_at_a_time_is_held() -> anyhow::Result<()> {
    idp_trickle(TestBackend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_idp_suspending_people_one_request_at_a_time_is_held() -> anyhow::Result<()> {
    idp_trickle(TestBackend::Postgres).await
}

/// One person of the export: `E{n}`, in the group `staff`.
#[derive(Clone)]
struct Row {
    family: String,
    suspended: bool,
}

fn write_export(path: &Path, rows: &[Row]) -> anyhow::Result<()> {
    let mut csv = String::from("employee_id,email,given_name,family_name,status,groups\n");
    for (n, row) in rows.iter().enumerate() {
        let status = if row.suspended { "suspended" } else { "active" };
        csv.push_str(&format!("E{n},person{n}@example.com,Given{n},{},{status},staff\n", row.family));
    }
    std::fs::write(path, csv)?;
    Ok(())
}

/// A running `tenure serve`, killed when dropped.
struct Serve {
    child: tokio::process::Child,
    addr: String,
    log: PathBuf,
}

impl Serve {
    async fn start(url: &str, home: &Path) -> anyhow::Result<Self> {
        let log = home.join("serve.log");
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
            .args(["serve", "--listen", "127.0.0.1:0", "--lease", "2s"])
            .env("TENURE_DATABASE_URL", url)
            .env("TENURE_MASTER_KEYS", tenure_testkit::TEST_MASTER_KEYS)
            .env("XDG_DATA_HOME", home)
            .env("TENURE_LOG", "warn")
            .env_remove("TENURE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await??.unwrap_or_default();
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .ok_or_else(|| anyhow::anyhow!("serve printed {first:?}"))?
            .to_owned();
        // Keep reading so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, addr, log })
    }

    async fn kill(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?; // SIGKILL
        self.child.wait().await?;
        Ok(())
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log[log.len().saturating_sub(3000)..].to_owned()
    }
}

/// The peer's users by userName: whether each is active.
async fn peer_users(http: &reqwest::Client, peer: &Scim2Server) -> anyhow::Result<Vec<(String, bool)>> {
    let body: Value = http
        .get(format!("{}/Users", peer.base_url()))
        .query(&[("count", "1000")])
        .bearer_auth(peer.token())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(body["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| (u["userName"].as_str().unwrap_or_default().to_owned(), u["active"] != false))
        .collect())
}

async fn inactive(http: &reqwest::Client, peer: &Scim2Server) -> anyhow::Result<usize> {
    Ok(peer_users(http, peer).await?.iter().filter(|(_, active)| !active).count())
}

/// Waits until `serve` has planned every change and carried out every operation.
async fn settled(cli: &Cli<'_>, serve: &Serve) -> anyhow::Result<()> {
    eventually(SETTLE, || async {
        let status: Value = serde_json::from_str(&cli.ok(&["ops", "status", "--json"]).await).ok()?;
        (status["ready"] == 0 && status["waiting"] == 0 && status["dirty"] == 0).then_some(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\nserve log:\n{}", serve.log_tail()))
}

/// The held plans `tenure plan list --json` lists.
async fn held_plans(cli: &Cli<'_>) -> Vec<Value> {
    let plans = cli.json(&["plan", "list", "--json"]).await;
    plans.as_array().into_iter().flatten().filter(|p| p["status"] == "held").cloned().collect()
}

async fn held_losses(cli: &Cli<'_>, plan: &str) -> usize {
    let shown = cli.json(&["plan", "show", plan, "--json"]).await;
    shown["ops"].as_array().map_or(0, |ops| ops.iter().filter(|o| o["op"] == "deactivate").count())
}

struct Setup {
    _db: TestDb,
    peer: Scim2Server,
    dir: tempfile::TempDir,
    url: String,
    http: reqwest::Client,
}

impl Setup {
    async fn new(backend: TestBackend) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = TestDb::new(backend).await?;
        let url = db.url().to_owned();
        Ok(Self {
            _db: db,
            peer: Scim2Server::start().await?,
            dir: tempfile::tempdir()?,
            url,
            http: reqwest::Client::new(),
        })
    }

    fn cli(&self) -> Cli<'_> {
        Cli::new(&self.url, self.dir.path())
    }

    fn export(&self) -> PathBuf {
        self.dir.path().join("people.csv")
    }

    /// 60 people from a CSV export, all in `staff`, provisioned into the peer by `serve`.
    async fn provisioned_from_csv(&self) -> anyhow::Result<(Vec<Row>, Serve)> {
        let rows: Vec<Row> = (0..PEOPLE).map(|n| Row { family: format!("Family{n}"), suspended: false }).collect();
        write_export(&self.export(), &rows)?;
        let cli = self.cli();
        let export = self.export();
        cli.ok(&["source", "add", "csv", "hr", "--file", export.to_str().unwrap_or_default()]).await;
        cli.ok(&["sync", "hr"]).await;
        cli.ok(&["app", "add", "scim", "peer", "--base-url", self.peer.base_url(), "--token", self.peer.token()]).await;
        cli.ok(&["assign", "peer", "--group", "staff"]).await;
        let serve = Serve::start(&self.url, self.dir.path()).await?;
        eventually(SETTLE, || async {
            let users = peer_users(&self.http, &self.peer).await.ok()?;
            (users.len() == PEOPLE && users.iter().all(|(_, active)| *active)).then_some(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nserve log:\n{}", serve.log_tail()))?;
        settled(&cli, &serve).await?;
        Ok((rows, serve))
    }

    async fn sync(&self, rows: &[Row]) -> anyhow::Result<()> {
        write_export(&self.export(), rows)?;
        self.cli().ok(&["sync", "hr"]).await;
        Ok(())
    }
}

async fn export_in_pieces(backend: TestBackend) -> anyhow::Result<()> {
    let setup = Setup::new(backend).await?;
    let cli = setup.cli();
    let (mut rows, serve) = setup.provisioned_from_csv().await?;

    // Thirty syncs, each suspending one more person; serve plans each before the next.
    for n in 0..30 {
        rows[n].suspended = true;
        setup.sync(&rows).await?;
        settled(&cli, &serve).await?;
    }
    let lost = inactive(&setup.http, &setup.peer).await?;
    assert!(lost <= 6, "{lost} accounts deactivated; the guard allows 10% of 60 a day");
    assert_eq!(lost, 6, "the first six are within the limit");
    let held = held_plans(&cli).await;
    assert_eq!(held.len(), 1, "one held plan for the app, growing: {held:?}");
    let plan = held[0]["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(held_losses(&cli, &plan).await, 24);
    let status = cli.json(&["ops", "status", "--json"]).await;
    let why = status["holds"][0]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(why.starts_with("peer: 7 losses in") && why.contains("the guard allows 10% (6) a day"), "{why}");
    assert_eq!(status["holds"][0]["losses"], 24, "{status}");

    // Killed between holding and the next pass: the hold and its people survive.
    serve.kill().await?;
    let serve = Serve::start(&setup.url, setup.dir.path()).await?;
    // Held people edited afterwards keep their access; one re-activated leaves the hold; a
    // joiner gets an account while the losses wait.
    rows[10].family = "Renamed".into();
    rows[11].suspended = false;
    rows.push(Row { family: "Joiner".into(), suspended: false });
    setup.sync(&rows).await?;
    settled(&cli, &serve).await?;
    let out = cli.run(&["apply", "--yes", "--json"]).await;
    assert!(!out.status.success(), "losses wait: apply says so with its exit code");
    let full: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(full["held_losses"], 23, "a full reconciliation holds them too: {full}");
    settled(&cli, &serve).await?;
    let users = peer_users(&setup.http, &setup.peer).await?;
    assert_eq!(users.iter().filter(|(_, active)| !active).count(), 6, "nobody held lost access");
    assert!(users.iter().any(|(name, active)| name == "person60@example.com" && *active), "the joiner: {users:?}");
    assert_eq!(held_losses(&cli, &plan).await, 23, "the re-activated person left the hold");

    cli.ok(&["plan", "approve", &plan]).await;
    cli.ok(&["apply", "--yes"]).await;
    settled(&cli, &serve).await?;
    let users = peer_users(&setup.http, &setup.peer).await?;
    let lost: Vec<&str> = users.iter().filter(|(_, active)| !active).map(|(n, _)| n.as_str()).collect();
    assert_eq!(lost.len(), 29, "every suspended person but the one re-activated: {lost:?}");
    assert!(!lost.contains(&"person11@example.com"), "re-activated before the approval, not deprovisioned");
    let decided: Value = cli.json(&["plan", "list", "--json"]).await;
    let record = decided.as_array().into_iter().flatten().find(|p| p["id"] == plan.as_str()).expect("the plan");
    assert_eq!(record["status"], "approved_applied", "{record}");
    serve.kill().await?;
    Ok(())
}

async fn renamed_while_held(backend: TestBackend) -> anyhow::Result<()> {
    let setup = Setup::new(backend).await?;
    let cli = setup.cli();
    let (mut rows, serve) = setup.provisioned_from_csv().await?;
    for row in rows.iter_mut().take(20) {
        row.suspended = true;
    }
    setup.sync(&rows).await?;
    settled(&cli, &serve).await?;
    assert_eq!(inactive(&setup.http, &setup.peer).await?, 0, "20 at once is over the limit: all held");
    let held = held_plans(&cli).await;
    let plan = held[0]["id"].as_str().unwrap_or_default().to_owned();
    for n in 0..5 {
        rows[n].family = format!("Renamed{n}");
        setup.sync(&rows).await?;
        settled(&cli, &serve).await?;
        assert_eq!(inactive(&setup.http, &setup.peer).await?, 0, "rename {n}: a held person keeps access");
    }
    assert_eq!(held_losses(&cli, &plan).await, 20);
    // Rejected, the accounts stay, and a full reconciliation does not hold them again.
    cli.ok(&["plan", "reject", &plan]).await;
    let applied = cli.ok(&["apply", "--yes"]).await;
    assert!(applied.contains("20 loss(es) of access an admin rejected were not carried out"), "{applied}");
    settled(&cli, &serve).await?;
    assert_eq!(inactive(&setup.http, &setup.peer).await?, 0);
    assert!(held_plans(&cli).await.is_empty(), "a rejected loss is not due again until its person changes");
    // A person who changes in the source is weighed again: one loss, under the limit, goes.
    rows[0].family = "Changed".into();
    setup.sync(&rows).await?;
    settled(&cli, &serve).await?;
    assert_eq!(inactive(&setup.http, &setup.peer).await?, 1);
    serve.kill().await?;
    Ok(())
}

async fn idp_trickle(backend: TestBackend) -> anyhow::Result<()> {
    let setup = Setup::new(backend).await?;
    let cli = setup.cli();
    cli.ok(&["app", "add", "scim", "peer", "--base-url", setup.peer.base_url(), "--token", setup.peer.token()]).await;
    let token = cli.ok(&["token", "create", "--scope", "scim"]).await.trim().to_owned();
    let serve = Serve::start(&setup.url, setup.dir.path()).await?;
    let scim = format!("http://{}/scim/v2", serve.addr);
    let http = &setup.http;
    let mut ids = Vec::new();
    for n in 0..PEOPLE {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "externalId": format!("idp-{n}"),
            "userName": format!("person{n}@example.com"),
            "name": {"givenName": format!("Given{n}"), "familyName": format!("Family{n}")},
            "emails": [{"value": format!("person{n}@example.com"), "type": "work", "primary": true}],
            "active": true,
        });
        let created: Value = http
            .post(format!("{scim}/Users"))
            .bearer_auth(&token)
            .json(&user)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        ids.push(created["id"].as_str().unwrap_or_default().to_owned());
    }
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let group =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "staff", "members": members});
    http.post(format!("{scim}/Groups")).bearer_auth(&token).json(&group).send().await?.error_for_status()?;
    cli.ok(&["assign", "peer", "--group", "staff"]).await;
    eventually(SETTLE, || async {
        let users = peer_users(http, &setup.peer).await.ok()?;
        (users.len() == PEOPLE).then_some(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\nserve log:\n{}", serve.log_tail()))?;
    settled(&cli, &serve).await?;

    // The IdP suspends 30 people, one PATCH at a time, as Entra ID sends it.
    for id in ids.iter().take(30) {
        let patch = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        });
        http.patch(format!("{scim}/Users/{id}")).bearer_auth(&token).json(&patch).send().await?.error_for_status()?;
        settled(&cli, &serve).await?;
    }
    assert_eq!(inactive(http, &setup.peer).await?, 6, "10% of 60 a day, whichever path the losses take");
    let held = held_plans(&cli).await;
    assert_eq!(held.len(), 1, "{held:?}");
    let plan = held[0]["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(held_losses(&cli, &plan).await, 24);
    cli.ok(&["plan", "approve", &plan]).await;
    eventually(SETTLE, || async { (inactive(http, &setup.peer).await.ok()? == 30).then_some(()) })
        .await
        .map_err(|e| anyhow::anyhow!("{e}: the approval is carried out by serve\nserve log:\n{}", serve.log_tail()))?;
    serve.kill().await?;
    Ok(())
}
