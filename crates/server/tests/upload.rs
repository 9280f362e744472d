//! `POST /api/v1/sources/{name}/upload` (and `/upload-groups`) over real HTTP on port 0.

use tenure_core::TenantId;
use tenure_engine::CsvSourceConfig;
use tenure_store::{Store, TokenScope};
use tenure_testkit::{TestBackend, TestDb};

struct Running {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _db: TestDb,
    dir: tempfile::TempDir,
    store: Store,
    tenant: TenantId,
    token: String,
    http: reqwest::Client,
}

const GOOD: &str = "employee_id,email,groups\nE1,a@x.io,eng\nE2,b@x.io,eng\nE3,c@x.io,\n";

/// A server whose tenant has the CSV source `hr` (GOOD imported, guard at 50%) with a groups
/// file, and an admin token.
async fn start() -> anyhow::Result<Running> {
    start_with_limit(None).await
}

async fn start_with_limit(limit: Option<u64>) -> anyhow::Result<Running> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let token = tenure_server::tokens::generate();
    store.insert_token(tenant, TokenScope::Admin, &tenure_server::tokens::hash(&token), None).await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("people.csv"), GOOD)?;
    std::fs::write(dir.path().join("groups.csv"), "name,parents\neng,\n")?;
    let config = CsvSourceConfig {
        file: dir.path().join("people.csv"),
        groups_file: Some(dir.path().join("groups.csv")),
        mapping: Default::default(),
        scope: Default::default(),
        min_share_percent: Some(50),
        format: Default::default(),
        watch_dir: None,
    };
    store.add_source(tenant, "hr", "csv", &serde_json::to_value(&config)?).await?;
    tenure_engine::Engine::new(store.clone(), tenant).sync(Some("hr")).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut state = tenure_server::ServerState::new(store.clone());
    if let Some(limit) = limit {
        state = state.with_upload_limit(limit);
    }
    let task = tokio::spawn(tenure_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(Running { base, stop, task, _db: db, dir, store, tenant, token, http: reqwest::Client::new() })
}

impl Running {
    async fn post(&self, path: &str, body: &str) -> anyhow::Result<(u16, serde_json::Value)> {
        let res = self
            .http
            .post(format!("{}/api/v1/sources/{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "text/csv")
            .body(body.to_owned())
            .send()
            .await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await?))
    }

    async fn emails(&self) -> anyhow::Result<Vec<String>> {
        let mut emails: Vec<String> = self
            .store
            .list_people(self.tenant)
            .await?
            .into_iter()
            .filter(|p| p.status != tenure_core::PersonStatus::Deleted)
            .map(|p| p.email)
            .collect();
        emails.sort();
        Ok(emails)
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.stop.send(()).ok();
        self.task.await??;
        Ok(())
    }
}

#[tokio::test]
async fn a_good_upload_is_imported_and_answers_the_summary() -> anyhow::Result<()> {
    let server = start().await?;
    let (status, body) =
        server.post("hr/upload", "employee_id;email;groups\nE1;a@x.io;eng\nE2;b@x.io;\nE4;d@x.io;\n").await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["source"].as_str(), body["created"].as_u64(), body["left"].as_u64()),
        (Some("hr"), Some(1), Some(1))
    );
    assert_eq!(server.emails().await?, ["a@x.io", "b@x.io", "d@x.io"]);
    let audit = server.store.list_audit(server.tenant, 10).await?;
    assert!(audit.iter().any(|a| a.action == "source.upload"), "{audit:?}");

    // The groups file alone: nesting changes, the people are those of the current file.
    let (status, body) = server.post("hr/upload-groups", "name,parents\neng,everyone\n").await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["groups"].as_u64(), Some(2), "{body}");
    assert_eq!(std::fs::read_to_string(server.dir.path().join("groups.csv"))?, "name,parents\neng,everyone\n");
    server.stop().await
}

#[tokio::test]
async fn a_bad_upload_is_422_with_every_problem_and_changes_nothing() -> anyhow::Result<()> {
    let server = start().await?;
    let bad = "employee_id,email,start_date\nE1,a@x.io,2024-01-01\nE2,nope,2024-02-30\nE1,c@x.io,\n";
    let (status, body) = server.post("hr/upload", bad).await?;
    assert_eq!(status, 422, "{body}");
    let problems = body["problems"].as_array().expect("problems");
    let found: Vec<(u64, &str)> =
        problems.iter().map(|p| (p["line"].as_u64().unwrap(), p["column"].as_str().unwrap())).collect();
    assert_eq!(found, [(3, "email"), (3, "start_date"), (4, "employee_id")], "{body}");
    assert_eq!(problems[2]["message"], "duplicate employee_id \"E1\" (first seen on line 2)");
    assert_eq!(problems[0]["file"], "people CSV");
    assert!(body["error"].as_str().unwrap().starts_with("people CSV: 3 problems"), "{body}");
    assert_eq!(server.emails().await?, ["a@x.io", "b@x.io", "c@x.io"]);
    assert_eq!(std::fs::read_to_string(server.dir.path().join("people.csv"))?, GOOD);

    let (status, body) = server.post("hr/upload-groups", "name,parents\neng,eng\n").await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["problems"][0]["file"], "groups CSV");
    server.stop().await
}

#[tokio::test]
async fn the_source_guard_refuses_a_shrunken_upload_unless_forced() -> anyhow::Result<()> {
    let server = start().await?;
    let one = "employee_id,email\nE1,a@x.io\n";
    let (status, body) = server.post("hr/upload", one).await?;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("returned 1 people where the last sync had 3"), "{body}");
    assert_eq!(server.emails().await?.len(), 3);
    let (status, body) = server.post("hr/upload?force=true", one).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.emails().await?, ["a@x.io"]);
    server.stop().await
}

#[tokio::test]
async fn uploads_need_an_admin_token_and_a_known_csv_source() -> anyhow::Result<()> {
    let server = start().await?;
    let url = format!("{}/api/v1/sources/hr/upload", server.base);
    assert_eq!(server.http.post(&url).body(GOOD).send().await?.status(), 401);
    let (status, _) = server.post("nope/upload", GOOD).await?;
    assert_eq!(status, 404);
    // Another tenant's source of the same name is not reachable with this token.
    let other = server.store.ensure_tenant("other").await?;
    let other_token = tenure_server::tokens::generate();
    server.store.insert_token(other, TokenScope::Admin, &tenure_server::tokens::hash(&other_token), None).await?;
    let res = server.http.post(&url).bearer_auth(&other_token).body(GOOD).send().await?;
    assert_eq!(res.status(), 404);
    server.stop().await
}

/// Sends `chunks` as a chunked body (no `Content-Length`, so the server learns the size only as
/// it reads) over a raw connection; the answer's status line and body.
async fn post_chunked(server: &Running, path: &str, chunks: &[Vec<u8>]) -> anyhow::Result<(u16, serde_json::Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    let head = format!(
        "POST /api/v1/sources/{path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.token
    );
    conn.write_all(head.as_bytes()).await?;
    // The server may answer and close before the last chunk: a write error then is expected.
    for chunk in chunks {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(chunk);
        framed.extend_from_slice(b"\r\n");
        if conn.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    // A chunked answer frames its JSON; the object is what lies between the outer braces.
    let json = match (body.find('{'), body.rfind('}')) {
        (Some(start), Some(end)) => serde_json::from_str(&body[start..=end]).unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    Ok((status, json))
}

#[tokio::test]
async fn an_upload_over_the_limit_is_413_naming_it_and_changes_nothing() -> anyhow::Result<()> {
    let server = start_with_limit(Some(1024)).await?;
    // Streamed: the server finds out only as the bytes arrive.
    let mut big = b"employee_id,email\n".to_vec();
    let rows: Vec<Vec<u8>> = (0..200).map(|n| format!("E{n},person{n}@x.io\n").into_bytes()).collect();
    let mut chunks = vec![std::mem::take(&mut big)];
    chunks.extend(rows);
    let (status, body) = post_chunked(&server, "hr/upload", &chunks).await?;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["limit_bytes"], 1024, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("1024 bytes"), "{body}");
    // Announced: refused before the body is read.
    let (status, body) = server.post("hr/upload", &"x".repeat(2000)).await?;
    assert_eq!(status, 413, "{body}");
    assert_eq!(server.emails().await?, ["a@x.io", "b@x.io", "c@x.io"]);
    assert_eq!(std::fs::read_to_string(server.dir.path().join("people.csv"))?, GOOD);
    let audit = server.store.list_audit(server.tenant, 50).await?;
    assert!(!audit.iter().any(|a| a.action == "source.upload"), "{audit:?}");
    // Under the limit, streamed the same way, it is imported.
    let small = vec![b"employee_id,email\n".to_vec(), b"E1,a@x.io\nE2,b@x.io\n".to_vec(), b"E9,z@x.io\n".to_vec()];
    let (status, body) = post_chunked(&server, "hr/upload", &small).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.emails().await?, ["a@x.io", "b@x.io", "z@x.io"]);
    let audit = server.store.list_audit(server.tenant, 50).await?;
    let upload = audit.iter().find(|a| a.action == "source.upload").expect("the upload's entry");
    assert_eq!(upload.detail["bytes"], 48, "{:?}", upload.detail);
    assert_eq!(upload.detail["summary"]["created"], 1, "{:?}", upload.detail);
    server.stop().await
}
