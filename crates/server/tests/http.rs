//! The server over real HTTP on port 0: health, metrics, admin API authentication, graceful stop.

use tenure_store::{Store, TokenScope};
use tenure_testkit::{TestBackend, TestDb};

struct Running {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _db: TestDb,
    store: Store,
}

async fn start() -> anyhow::Result<Running> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task =
        tokio::spawn(tenure_server::serve(listener, tenure_server::ServerState::new(store.clone()), async move {
            let _ = stopped.await;
        }));
    Ok(Running { base, stop, task, _db: db, store })
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[tokio::test]
async fn health_and_metrics_answer() -> anyhow::Result<()> {
    let server = start().await?;
    let http = client();
    let health = http.get(format!("{}/healthz", server.base)).send().await?;
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await?;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "sqlite");
    let metrics = http.get(format!("{}/metrics", server.base)).send().await?.text().await?;
    assert!(metrics.contains("tenure_http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/healthz\""), "{metrics}");
    let missing = http.get(format!("{}/nope", server.base)).send().await?;
    assert_eq!(missing.status(), 404);

    server.stop.send(()).ok();
    server.task.await??;
    Ok(())
}

#[tokio::test]
async fn the_admin_api_wants_an_admin_token_of_the_tenant() -> anyhow::Result<()> {
    let server = start().await?;
    let http = client();
    let acme = server.store.ensure_tenant("acme").await?;
    let other = server.store.ensure_tenant("other").await?;
    let admin = tenure_server::tokens::generate();
    let scim = tenure_server::tokens::generate();
    server.store.insert_token(acme, TokenScope::Admin, &tenure_server::tokens::hash(&admin), None).await?;
    server.store.insert_token(acme, TokenScope::Scim, &tenure_server::tokens::hash(&scim), None).await?;
    server.store.add_source(other, "hr", "csv", &serde_json::json!({})).await?;
    server
        .store
        .add_app(
            other,
            "slack",
            tenure_core::AppKind::Scim,
            "http://x",
            &tenure_core::Secret::new("s"),
            &Default::default(),
        )
        .await?;

    let url = format!("{}/api/v1/apps", server.base);
    let none = http.get(&url).send().await?;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let wrong = http.get(&url).bearer_auth("tnr_not-a-token").send().await?;
    assert_eq!(wrong.status(), 401);
    // A SCIM token is refused on the admin API, saying why.
    let scim_scope = http.get(&url).bearer_auth(&scim).send().await?;
    assert_eq!(scim_scope.status(), 403);
    let body: serde_json::Value = scim_scope.json().await?;
    assert!(body["error"].as_str().is_some_and(|e| e.contains("SCIM token")), "{body}");

    let ok = http.get(&url).bearer_auth(&admin).send().await?;
    assert_eq!(ok.status(), 200);
    let apps: serde_json::Value = ok.json().await?;
    assert_eq!(apps, serde_json::json!([]), "another tenant's app must not show");
    let missing = http.get(format!("{}/api/v1/apps/slack/accounts", server.base)).bearer_auth(&admin).send().await?;
    assert_eq!(missing.status(), 404);
    let people = http.get(format!("{}/api/v1/people", server.base)).bearer_auth(&admin).send().await?;
    assert_eq!(people.status(), 200);

    // explain: both parameters are required; an app of another tenant is not found.
    let explain = format!("{}/api/v1/explain", server.base);
    let missing = http.get(&explain).query(&[("person", "a@x.com")]).bearer_auth(&admin).send().await?;
    assert_eq!(missing.status(), 400);
    let other_tenants =
        http.get(&explain).query(&[("person", "a@x.com"), ("app", "slack")]).bearer_auth(&admin).send().await?;
    assert_eq!(other_tenants.status(), 404);

    // Approving a held plan: a bad id is 400, an unknown plan 404.
    let approve = |id: &str| format!("{}/api/v1/plans/{id}/approve", server.base);
    assert_eq!(http.post(approve("nope")).bearer_auth(&admin).send().await?.status(), 400);
    let unknown = approve(&tenure_core::PlanId::new().to_string());
    assert_eq!(http.post(unknown).bearer_auth(&admin).send().await?.status(), 404);
    Ok(())
}

#[tokio::test]
async fn failed_operations_are_listed_retried_and_dismissed() -> anyhow::Result<()> {
    use tenure_core::*;
    let server = start().await?;
    let http = client();
    let acme = server.store.ensure_tenant("acme").await?;
    let admin = tenure_server::tokens::generate();
    server.store.insert_token(acme, TokenScope::Admin, &tenure_server::tokens::hash(&admin), None).await?;
    let app = server
        .store
        .add_app(acme, "slack", AppKind::Scim, "http://127.0.0.1:9", &Secret::new("s"), &Default::default())
        .await?;
    let op = |n: usize| PlannedOp {
        app_id: app.id,
        person_id: PersonId::new(),
        person: format!("p{n}@x.com"),
        kind: OpKind::Deactivate { remote_id: format!("U{n}") },
        reason: Reason::Revoked { revocation: Revocation::Unassigned, by: None },
    };
    server.store.save_plan(acme, &[op(1), op(2)], &serde_json::json!({})).await?;
    let lease = std::time::Duration::from_secs(60);
    for rec in server.store.claim_operations(acme, "w", 10, lease, None).await? {
        let error = "DELETE returned HTTP 400 (invalidValue): no such user";
        server.store.settle_operation(acme, rec.id, "w", tenure_store::Settlement::failed(error)).await?;
    }
    let get = |path: &str| http.get(format!("{}/api/v1{path}", server.base)).bearer_auth(&admin).send();
    let failed: serde_json::Value = get("/operations?status=failed").await?.json().await?;
    let failed = failed.as_array().expect("a list").clone();
    assert_eq!(failed.len(), 2);
    assert!(failed[0]["last_error"].as_str().is_some_and(|e| e.contains("invalidValue")), "{failed:?}");
    let queue: serde_json::Value = get("/queue").await?.json().await?;
    assert_eq!(queue["failed"], 2, "{queue}");
    assert_eq!(get("/operations?status=stuck").await?.status(), 400);
    assert_eq!(get("/operations?limit=0").await?.status(), 400);

    let post = |path: String| http.post(format!("{}/api/v1{path}", server.base)).bearer_auth(&admin).send();
    let first = failed[0]["id"].as_str().expect("id").to_owned();
    let second = failed[1]["id"].as_str().expect("id").to_owned();
    let retried: serde_json::Value = post(format!("/operations/{first}/retry")).await?.json().await?;
    assert_eq!(retried["requeued"], 1);
    assert_eq!(post(format!("/operations/{first}/retry")).await?.status(), 404, "no longer failed");
    assert_eq!(post(format!("/operations/{second}/dismiss")).await?.status(), 200);
    assert_eq!(post("/operations/not-an-id/dismiss".to_owned()).await?.status(), 400);
    let queue: serde_json::Value = get("/queue").await?.json().await?;
    assert_eq!((queue["failed"].as_i64(), queue["ready"].as_i64()), (Some(0), Some(1)), "{queue}");
    let audit = server.store.list_audit(acme, 20).await?;
    assert!(
        audit.iter().any(|e| e.action == "operation.retry") && audit.iter().any(|e| e.action == "operation.dismiss")
    );
    server.stop.send(()).ok();
    server.task.await??;
    Ok(())
}

/// The live user list, the report as CSV, adopting and marking accounts, over HTTP, with
/// malformed requests answered 400 and contradictions 409.
#[tokio::test]
async fn app_accounts_are_listed_adopted_and_marked() -> anyhow::Result<()> {
    use tenure_core::*;
    use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
    let server = start().await?;
    let http = client();
    let acme = server.store.ensure_tenant("acme").await?;
    let admin = tenure_server::tokens::generate();
    server.store.insert_token(acme, TokenScope::Admin, &tenure_server::tokens::hash(&admin), None).await?;
    let app = SandboxApp::spawn(SandboxOptions {
        profile: Profile::Notion,
        token: "t0ken".into(),
        rate_limit_per_sec: None,
        faults: None,
    })
    .await?;
    server
        .store
        .add_app(acme, "notion", AppKind::Scim, &app.base_url(), &Secret::new("t0ken"), &Default::default())
        .await?;
    let source = server.store.add_source(acme, "hr", "csv", &serde_json::json!({})).await?;
    let person = tenure_core::import::ImportedPerson {
        source_key: "E1".into(),
        user_name: "ada@example.com".into(),
        email: "ada@example.com".into(),
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        display_name: None,
        department: None,
        title: None,
        employee_id: None,
        manager_key: None,
        org_unit: None,
        status: PersonStatus::Active,
        start_date: None,
        leave_date: None,
        custom: Default::default(),
        groups: vec![],
    };
    let batch = tenure_core::import::ImportBatch { people: vec![person], groups: vec![] };
    server.store.apply_import(acme, source, &batch).await?;
    // Two accounts made in the app by hand: one is Ada's under another name, one a partner's.
    let scim = tenure_connectors::ScimClient::new(&app.base_url(), Secret::new("t0ken"), Default::default())?;
    let make = |name: &'static str| {
        let scim = scim.clone();
        async move {
            let attrs = tenure_core::attributes::Attributes::from([("userName", name), ("email", name)]);
            scim.create_user(&attrs).await.map(|a| a.remote_id)
        }
    };
    let ada_own = make("ada.l@example.com").await?;
    let partner = make("=cmd@partner.example").await?;

    let api = |path: &str| format!("{}/api/v1{path}", server.base);
    let users: serde_json::Value =
        http.get(api("/apps/notion/users?search=partner")).bearer_auth(&admin).send().await?.json().await?;
    assert_eq!(users["total"], 1, "{users}");
    assert_eq!(users["accounts"][0]["class"], "unmanaged", "{users}");
    for bad in ["count=0", "count=501", "start_index=0", "count=x", "colour=red"] {
        let res = http.get(api(&format!("/apps/notion/users?{bad}"))).bearer_auth(&admin).send().await?;
        assert_eq!(res.status(), 400, "{bad}");
    }
    assert_eq!(http.get(api("/apps/nope/users")).bearer_auth(&admin).send().await?.status(), 404);

    let adopt = |account: &str| http.post(api(&format!("/apps/notion/accounts/{account}/adopt"))).bearer_auth(&admin);
    assert_eq!(adopt(&ada_own).body("{").header("content-type", "application/json").send().await?.status(), 400);
    let adopted = adopt(&ada_own).json(&serde_json::json!({"person": "ada@example.com"})).send().await?;
    assert_eq!(adopted.status(), 200);
    let again = adopt(&partner).json(&serde_json::json!({"person": "ada@example.com"})).send().await?;
    assert_eq!(again.status(), 409, "ada already has an account: {}", again.text().await?);
    let nobody = adopt(&partner).json(&serde_json::json!({"person": "zed@example.com"})).send().await?;
    assert_eq!(nobody.status(), 404);

    let external = |account: &str| api(&format!("/apps/notion/accounts/{account}/external"));
    let marked =
        http.put(external(&partner)).bearer_auth(&admin).json(&serde_json::json!({"note": "auditor"})).send().await?;
    assert_eq!(marked.status(), 200);
    let linked = http.put(external(&ada_own)).bearer_auth(&admin).json(&serde_json::json!({})).send().await?;
    assert_eq!(linked.status(), 409, "a linked account belongs to its person");
    let csv = http.get(api("/report?format=csv")).bearer_auth(&admin).send().await?;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await?;
    assert!(csv.contains(",'=cmd@partner.example,"), "formula-looking cells are neutralised: {csv}");
    assert!(csv.contains(",known_external,") && csv.contains(",auditor\n"), "{csv}");
    assert!(csv.contains(",unassigned_but_active,ada@example.com,"), "adopted but not assigned: {csv}");
    assert_eq!(http.get(api("/report?format=xml")).bearer_auth(&admin).send().await?.status(), 400);
    let cleared: serde_json::Value = http.delete(external(&partner)).bearer_auth(&admin).send().await?.json().await?;
    assert_eq!(cleared["cleared"], true);
    server.stop.send(()).ok();
    server.task.await??;
    Ok(())
}

/// A client that sends half a request header and then nothing is disconnected once the
/// header-read timeout passes; a whole request on another connection is still answered, and
/// the server stops within its shutdown deadline even with such a client connected.
#[tokio::test]
async fn half_a_request_header_is_closed_after_the_header_read_timeout() -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = tenure_server::ServeOptions {
        header_read_timeout: std::time::Duration::from_millis(500),
        shutdown_deadline: std::time::Duration::from_secs(2),
    };
    let task = tokio::spawn(tenure_server::serve_with(
        listener,
        tenure_server::ServerState::new(store.clone()),
        async move {
            let _ = stopped.await;
        },
        options,
    ));

    let started = std::time::Instant::now();
    let mut slow = tokio::net::TcpStream::connect(addr).await?;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await?;
    // The server closes the connection (EOF, or a 408 and then EOF) within the deadline.
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut buf = [0u8; 512];
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the half-sent request still holds its socket after 10 s");
    let waited = started.elapsed();
    assert!(waited >= std::time::Duration::from_millis(400), "closed before the timeout: {waited:?}");
    let answer = String::from_utf8_lossy(&seen);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A whole request is answered meanwhile, and a half-sent one does not hold up the stop.
    let health = client().get(format!("http://{addr}/healthz")).send().await?;
    assert_eq!(health.status(), 200);
    let mut idle = tokio::net::TcpStream::connect(addr).await?;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHo").await?;
    let _ = stop.send(());
    tokio::time::timeout(std::time::Duration::from_secs(10), task).await.expect("stopped within the deadline")??;
    Ok(())
}
