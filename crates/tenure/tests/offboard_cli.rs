//! Offboarding through the binary, end to end with real parts: the independent `scim2-server`,
//! sandbox Slack (DELETE deactivates) and Notion (DELETE removes), a manual app, a real SMTP
//! server (`aiosmtpd`) and a webhook listener of the test's own. `tenure offboard --preview`
//! names every app; `--yes` leaves the person's accounts inactive or gone when it returns, with
//! the manager and the channel told (the webhook signed, retried after a 500); a stale source
//! re-grants nothing; `--undo` re-activates without duplicates. Once per backend.

mod common;

use std::sync::{Arc, Mutex};

use common::Cli;
use serde_json::{Value, json};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_testkit::{Scim2Server, SmtpServer, TestBackend, TestDb, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PEOPLE: &str = "\
employee_id,email,given_name,family_name,org_unit,manager_id
E1,ann@example.com,Ann,Lee,/Eng,E2
E2,mia@example.com,Mia,Boss,/Eng,
E3,bob@example.com,Bob,Stay,/Eng,E2
";

/// A request as received: its headers (names lower-cased) and body.
type Request = (Vec<(String, String)>, String);

/// A webhook receiver: answers 500 to the first request, 200 after; keeps every request.
#[derive(Clone, Default)]
struct Hook {
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Hook {
    async fn start(&self) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let requests = self.requests.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Headers, then the body by its Content-Length.
                let (head, body) = loop {
                    let Ok(n) = socket.read(&mut chunk).await else { break (String::new(), String::new()) };
                    if n == 0 {
                        break (String::new(), String::new());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let head = text[..end].to_owned();
                        let length: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break (head, String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned());
                        }
                    }
                };
                let headers: Vec<(String, String)> = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| {
                        l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    })
                    .collect();
                let first = {
                    let mut r = requests.lock().unwrap();
                    r.push((headers, body));
                    r.len() == 1
                };
                let status = if first { "500 Internal Server Error" } else { "200 OK" };
                let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        Ok(url)
    }
}

/// HMAC-SHA256 as Python's standard library computes it: an implementation not Tenure's.
async fn python_hmac(key: &str, message: &str) -> anyhow::Result<String> {
    let out = tokio::process::Command::new("python3")
        .args([
            "-c",
            "import hmac,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), 'sha256').hexdigest())",
            key,
            message,
        ])
        .output()
        .await?;
    anyhow::ensure!(out.status.success(), "python3: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn sandbox(profile: Profile, token: &str) -> anyhow::Result<SandboxApp> {
    Ok(SandboxApp::spawn(SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(profile, token) }).await?)
}

async fn peer_user(peer: &Scim2Server, user_name: &str) -> anyhow::Result<Vec<Value>> {
    let url = format!("{}/Users?filter=userName%20eq%20%22{user_name}%22", peer.base_url());
    let list: Value = http().get(url).bearer_auth(peer.token()).send().await?.json().await?;
    Ok(list["Resources"].as_array().cloned().unwrap_or_default())
}

async fn offboarding(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let dir = tempfile::tempdir()?;
    let peer = Scim2Server::start().await?;
    let slack = sandbox(Profile::Slack, "slack-token").await?;
    let notion = sandbox(Profile::Notion, "notion-token").await?;
    let smtp = SmtpServer::start().await?;
    let hook = Hook::default();
    let hook_url = hook.start().await?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let cli = Cli::new(db.url(), dir.path());

    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap()]).await;
    cli.ok(&["sync"]).await;
    cli.ok(&["app", "add", "scim", "peer", "--base-url", peer.base_url(), "--token", peer.token()]).await;
    cli.ok(&[
        "app",
        "add",
        "scim",
        "slack",
        "--vendor",
        "slack",
        "--deprovision",
        "delete",
        "--base-url",
        &slack.base_url(),
        "--token",
        slack.token(),
    ])
    .await;
    cli.ok(&[
        "app",
        "add",
        "scim",
        "notion",
        "--vendor",
        "notion",
        "--deprovision",
        "delete",
        "--base-url",
        &notion.base_url(),
        "--token",
        notion.token(),
    ])
    .await;
    cli.ok(&["app", "add", "manual", "legal", "--owner", "owner@example.com"]).await;
    for app in ["peer", "slack", "legal"] {
        cli.ok(&["assign", app, "--org-unit", "/Eng"]).await;
    }
    let applied = cli.json(&["apply", "--yes", "--json"]).await;
    let creates = |app: &str| {
        applied["apps"].as_array().unwrap().iter().find(|a| a["app"] == app).map(|a| a["succeeded"]["create"].clone())
    };
    assert_eq!((creates("peer"), creates("slack")), (Some(json!(3)), Some(json!(3))), "{applied}");
    // The manual app's creates are tasks; its owner does Ann's and closes the task.
    let tasks = cli.json(&["task", "list", "--json"]).await;
    let ann_create = tasks.as_array().unwrap().iter().find(|t| t["person"] == "ann@example.com").expect("ann's task");
    assert!(
        ann_create["text"].as_str().unwrap().contains("create an account for Ann Lee (ann@example.com)"),
        "{ann_create}"
    );
    assert_eq!(ann_create["assignee"], "owner@example.com");
    cli.ok(&["task", "close", &ann_create["id"].as_str().unwrap()[..8]]).await;
    // Notion is assigned to nobody: Ann's account there is one an admin adopted.
    let created: Value = http()
        .post(format!("{}/Users", notion.base_url()))
        .bearer_auth(notion.token())
        .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@example.com",
                      "emails": [{"value": "ann@example.com", "primary": true}], "active": true}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let notion_id = created["id"].as_str().unwrap().to_owned();
    cli.ok(&["adopt", "notion", &notion_id, "--person", "ann@example.com"]).await;

    let smtp_url = smtp.url();
    cli.ok(&[
        "notify",
        "add",
        "email",
        "ops",
        "--smtp-url",
        &smtp_url,
        "--from",
        "tenure@example.com",
        "--to",
        "ops@example.com",
        "--to",
        "manager",
    ])
    .await;
    let added = cli.ok(&["notify", "add", "webhook", "hook", "--url", &hook_url]).await;
    let key = added
        .split("signing key")
        .nth(1)
        .and_then(|s| s.rsplit(' ').next())
        .map(str::trim)
        .expect("key shown")
        .to_owned();
    let err = cli.fails(&["notify", "add", "webhook", "meta", "--url", "http://169.254.169.254/latest"]).await;
    assert!(err.contains("metadata"), "{err}");

    // The preview: every app, the account, what happens, who is told; nothing changes.
    let preview = cli.ok(&["offboard", "ann@example.com", "--preview"]).await;
    for needle in [
        "peer",
        "slack",
        "notion",
        "legal",
        "manual task",
        "delete",
        "deactivate",
        "mia@example.com",
        "ops@example.com (email ops)",
        "webhook hook",
    ] {
        assert!(preview.contains(needle), "{needle} missing from:\n{preview}");
    }
    let json_preview = cli.json(&["offboard", "ann@example.com", "--preview", "--json"]).await;
    let action = |v: &Value, app: &str| {
        v["apps"].as_array().unwrap().iter().find(|s| s["app"] == app).map(|s| s["action"].clone())
    };
    assert_eq!(action(&json_preview, "notion"), Some(json!("delete")), "Notion's DELETE removes: {json_preview}");
    assert_eq!(action(&json_preview, "slack"), Some(json!("deactivate")), "Slack's DELETE only deactivates");
    assert_eq!(action(&json_preview, "peer"), Some(json!("deactivate")));
    assert_eq!(action(&json_preview, "legal"), Some(json!("manual_task")));
    assert!(peer_user(&peer, "ann@example.com").await?[0]["active"] == true, "a preview changes nothing");
    assert!(!cli.run(&["offboard", "ann@example.com"]).await.status.success(), "without --yes nothing is done");

    let done = cli.json(&["offboard", "ann@example.com", "--yes", "--json"]).await;
    assert_eq!(done["status"], "done", "{done}");
    // When it returns, the accounts are inactive or gone, without a separate apply.
    let ann = peer_user(&peer, "ann@example.com").await?;
    assert!(ann.is_empty() || ann[0]["active"] == false, "{ann:?}");
    assert!(notion.users().iter().all(|u| u.user_name != "ann@example.com"), "Notion's account is gone");
    let in_slack: Vec<_> =
        slack.users().into_iter().filter(|u| u.emails.iter().any(|e| e.value == "ann@example.com")).collect();
    assert!(in_slack.len() == 1 && !in_slack[0].active, "Slack's account is inactive: {in_slack:?}");
    assert!(peer_user(&peer, "bob@example.com").await?[0]["active"] == true, "nobody else");
    let open = cli.json(&["task", "list", "--json"]).await;
    let deactivate = open
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["person"] == "ann@example.com" && t["op"] == "deactivate")
        .expect("a task for legal");
    assert!(
        deactivate["text"].as_str().unwrap().starts_with("legal: deactivate the account of Ann Lee"),
        "{deactivate}"
    );

    // The email reached the SMTP server: the fixed address and the manager, with the outcome.
    let mail = eventually(std::time::Duration::from_secs(10), || async {
        smtp.messages().into_iter().find(|m| m.text.contains("Subject: Offboarding of Ann Lee (ann@example.com): done"))
    })
    .await?;
    assert!(
        mail.rcpt_to.contains(&"ops@example.com".to_owned()) && mail.rcpt_to.contains(&"mia@example.com".to_owned()),
        "{mail:?}"
    );
    // Printed for the record (`--nocapture`): what the manager and ops read.
    println!("{}", mail.text);
    for needle in [
        "- peer: deactivate ann@example.com: done",
        "- notion: delete",
        "- legal: manual task",
        "Manager: mia@example.com",
    ] {
        assert!(mail.text.contains(needle), "{needle} missing from:\n{}", mail.text);
    }
    assert!(!mail.text.contains(peer.token()) && !mail.text.contains(slack.token()), "no secret in a message");
    // The webhook: refused once with a 500, delivered on the retry, signed.
    let requests = hook.requests.lock().unwrap().clone();
    assert!(requests.len() >= 3, "started, done, and a retry: {}", requests.len());
    let (headers, body) =
        requests.iter().rev().find(|(_, b)| b.contains("offboarding.done")).expect("done delivered").clone();
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let expected = python_hmac(&key, &format!("{}.{body}", header("x-tenure-timestamp"))).await?;
    assert_eq!(header("x-tenure-signature"), format!("sha256={expected}"));

    // A stale source still lists Ann: nothing comes back.
    cli.ok(&["sync"]).await;
    let plan = cli.json(&["plan", "--json"]).await;
    let ann_ops: Vec<&Value> = plan["apps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["ops"].as_array().unwrap())
        .filter(|o| o["person"] == "ann@example.com")
        .collect();
    assert!(ann_ops.iter().all(|o| o["op"] != "activate" && o["op"] != "create"), "{ann_ops:?}");

    // Re-hired: re-activated, not created again.
    let undone = cli.json(&["offboard", "ann@example.com", "--undo", "--json"]).await;
    assert_eq!(undone["status"], "undone", "{undone}");
    let ann = peer_user(&peer, "ann@example.com").await?;
    assert!(ann.len() == 1 && ann[0]["active"] == true, "{ann:?}");
    let in_slack: Vec<_> =
        slack.users().into_iter().filter(|u| u.emails.iter().any(|e| e.value == "ann@example.com")).collect();
    assert!(in_slack.len() == 1 && in_slack[0].active, "{in_slack:?}");
    let audit = cli.ok(&["audit", "--person", "ann@example.com"]).await;
    assert!(audit.contains("person.offboard") && audit.contains("person.offboard_undone"), "{audit}");
    for s in [slack, notion] {
        s.shutdown().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_offboarding() -> anyhow::Result<()> {
    offboarding(TestBackend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_offboarding() -> anyhow::Result<()> {
    offboarding(TestBackend::Postgres).await
}

/// `tenure offboard --yes` killed with SIGKILL while its app does not answer: the mark and the
/// queued work are in the store, and `tenure serve` finishes the offboarding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_offboarding_is_finished_by_serve() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let peer = Scim2Server::start().await?;
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap()]).await;
    cli.ok(&["sync"]).await;
    cli.ok(&["app", "add", "scim", "peer", "--base-url", peer.base_url(), "--token", peer.token()]).await;
    cli.ok(&["assign", "peer", "--org-unit", "/Eng"]).await;
    cli.ok(&["apply", "--yes"]).await;
    // The app stops answering: nothing listens where Tenure now looks for it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    cli.ok(&["app", "edit", "peer", "--base-url", &format!("http://{dead}/v2"), "--token", peer.token()]).await;

    let mut offboard = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["offboard", "ann@example.com", "--yes"])
        .env("TENURE_DATABASE_URL", db.url())
        .env("XDG_DATA_HOME", dir.path())
        .env("TENURE_MASTER_KEYS", tenure_testkit::TEST_MASTER_KEYS)
        .env_remove("TENURE_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    // In the middle: the offboarding is recorded and its work queued, the app still refusing.
    eventually(std::time::Duration::from_secs(30), || async {
        let audit = cli.ok(&["audit", "--format", "jsonl"]).await;
        (audit.contains("person.offboard") && audit.contains("plan.apply")).then_some(())
    })
    .await?;
    offboard.start_kill()?;
    let status = offboard.wait().await?;
    assert!(!status.success(), "killed, not finished: {status}");
    assert!(peer_user(&peer, "ann@example.com").await?[0]["active"] == true, "nothing done yet");

    cli.ok(&["app", "edit", "peer", "--base-url", peer.base_url(), "--token", peer.token()]).await;
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["serve", "--listen", "127.0.0.1:0", "--lease", "2s"])
        .env("TENURE_DATABASE_URL", db.url())
        .env("XDG_DATA_HOME", dir.path())
        .env("TENURE_MASTER_KEYS", tenure_testkit::TEST_MASTER_KEYS)
        .env_remove("TENURE_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    eventually(std::time::Duration::from_secs(60), || async {
        let ann = peer_user(&peer, "ann@example.com").await.ok()?;
        (ann.is_empty() || ann[0]["active"] == false).then_some(())
    })
    .await?;
    serve.start_kill()?;
    assert!(peer_user(&peer, "bob@example.com").await?[0]["active"] == true, "nobody else");
    assert_eq!(peer_user(&peer, "ann@example.com").await?.len(), 1, "deactivated once, not recreated");
    Ok(())
}
