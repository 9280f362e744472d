//! In-app group changes as queued operations, against the independent scim2-server: queued in
//! the same pass as the creates of the members they add and run only after them, shown among
//! the operations with their audit entry, and retried with backoff when the app fails them (a
//! proxy in front of scim2-server answers the first group writes with 503).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tenure_connectors::ClientOptions;
use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_core::*;
use tenure_engine::{Engine, Executor, WorkerOptions};
use tenure_store::{OperationStatus, Store};
use tenure_testkit::{TestBackend, TestDb};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Postgres).await })*
        }
    };
}

on_both_backends!(
    a_group_change_waits_for_the_creates_of_its_new_members_and_is_listed,
    a_failing_group_change_is_retried_with_backoff,
);

fn person(n: usize) -> ImportedPerson {
    ImportedPerson {
        source_key: format!("E{n}"),
        user_name: format!("user{n}@x.com"),
        email: format!("user{n}@x.com"),
        given_name: Some(format!("Given{n}")),
        family_name: Some("Tester".into()),
        display_name: None,
        department: Some("Engineering".into()),
        title: None,
        employee_id: Some(format!("E{n}")),
        manager_key: None,
        org_unit: None,
        status: PersonStatus::Active,
        start_date: None,
        leave_date: None,
        custom: BTreeMap::new(),
        groups: vec!["staff".into()],
    }
}

fn fast_worker() -> WorkerOptions {
    WorkerOptions {
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(300),
        max_attempts: 20,
        idle_poll: Duration::from_millis(20),
        ..WorkerOptions::default()
    }
}

struct Fixture {
    _db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    peer: tenure_testkit::Scim2Server,
}

/// `people` people granted the app through the staff group, whose assignment names the in-app
/// group `eng-team`; the app at `base_url` (scim2-server, or a proxy in front of it).
async fn fixture(backend: TestBackend, people: usize, proxy: Option<&FailingProxy>) -> anyhow::Result<Fixture> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    // No retries inside a request: a failure reaches the queue, which retries it.
    let client = ClientOptions { max_retries: 0, timeout: Duration::from_secs(5), ..ClientOptions::default() };
    let engine = Engine::new(store.clone(), tenant).with_client_options(client).with_worker_options(fast_worker());
    let peer = tenure_testkit::Scim2Server::start().await?;
    let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
    let batch = ImportBatch { people: (0..people).map(person).collect(), groups: vec![] };
    store.apply_import(tenant, source, &batch).await?;
    let base = match proxy {
        Some(p) => {
            p.target(peer.base_url());
            p.url.clone()
        }
        None => peer.base_url().to_owned(),
    };
    let app = store
        .add_app(tenant, "peer", AppKind::Scim, &base, &Secret::new(peer.token()), &AppSettings::default())
        .await?;
    let staff = store.group_by_name(tenant, "staff").await?.expect("staff");
    let params = AssignmentParams { groups: vec!["eng-team".into()], ..AssignmentParams::default() };
    store.assign(tenant, app.id, &AssignmentTarget::Group(staff), false, &params).await?;
    Ok(Fixture { _db: db, store, tenant, engine, peer })
}

impl Fixture {
    /// The userNames in the app's `eng-team` group, and how many such groups there are.
    async fn members(&self) -> anyhow::Result<(usize, Vec<String>)> {
        let client = tenure_connectors::ScimClient::new(
            self.peer.base_url(),
            Secret::new(self.peer.token()),
            ClientOptions::default(),
        )?;
        let groups = client.list_groups().await?;
        let team: Vec<_> = groups.iter().filter(|g| g.name == "eng-team").collect();
        let ids: HashSet<&String> = team.iter().flat_map(|g| g.members.iter()).collect();
        let mut names: Vec<String> = client
            .list_users()
            .await?
            .into_iter()
            .filter(|u| ids.contains(&u.remote_id))
            .map(|u| u.user_name().to_owned())
            .collect();
        names.sort();
        Ok((team.len(), names))
    }
}

async fn a_group_change_waits_for_the_creates_of_its_new_members_and_is_listed(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let f = fixture(backend, 3, None).await?;
    let pass = f.engine.propagate_once(tenure_engine::today()).await?;
    assert_eq!((pass.queued_ops, pass.group_ops), (4, 1), "3 creates and the group's change: {pass:?}");

    // Queued after the creates, in the same plan, and not claimable while they wait.
    let queued = f.store.list_operations(f.tenant, &Default::default()).await?;
    let group = queued.iter().find(|r| r.op.kind.name() == "group_members").expect("the group change is queued");
    assert_eq!(group.op.person, "group eng-team");
    assert!(queued.iter().filter(|r| r.op.kind.name() == "create").all(|c| c.seq < group.seq), "{queued:#?}");
    let claimed = f.store.claim_operations(f.tenant, "probe", 100, Duration::from_millis(1), None).await?;
    assert_eq!(claimed.len(), 3, "only the creates can run first: {claimed:#?}");
    assert!(claimed.iter().all(|r| r.op.kind.name() == "create"));
    tokio::time::sleep(Duration::from_millis(5)).await;

    // The workers run the creates, then the group change with the new accounts in it.
    let executor = Executor::new(f.engine.clone(), fast_worker());
    assert!(executor.drain(None, Duration::from_secs(30)).await?, "the queue empties");
    assert_eq!(f.members().await?, (1, vec!["user0@x.com".into(), "user1@x.com".into(), "user2@x.com".into()]));

    // Shown in the operations list as done, and audited once.
    let listed = f.engine.list_operations(None, Some("peer"), 100).await?;
    let done = listed.iter().find(|r| r.op.kind.name() == "group_members").expect("listed");
    assert_eq!(done.status, OperationStatus::Succeeded, "{done:?}");
    let audit = f.store.list_audit(f.tenant, 100).await?;
    let entries: Vec<_> = audit.iter().filter(|e| e.action == "group.members").collect();
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0].detail["add"].as_array().map(Vec::len), Some(3), "{:?}", entries[0].detail);

    // Nothing more to do: planning again queues no group change.
    let again = f.engine.propagate_once(tenure_engine::today()).await?;
    assert_eq!(again.group_ops, 0, "{again:?}");
    f.store.mark_dirty(f.tenant, &[tenure_store::DirtyMark::everything()]).await?;
    let full = f.engine.propagate_once(tenure_engine::today()).await?;
    assert_eq!((full.queued_ops, full.group_ops), (0, 0), "{full:?}");
    Ok(())
}

async fn a_failing_group_change_is_retried_with_backoff(backend: TestBackend) -> anyhow::Result<()> {
    let proxy = FailingProxy::start(2).await?;
    let f = fixture(backend, 2, Some(&proxy)).await?;
    f.engine.propagate_once(tenure_engine::today()).await?;
    let executor = Executor::new(f.engine.clone(), fast_worker());
    assert!(executor.drain(None, Duration::from_secs(30)).await?, "the queue empties");
    assert_eq!(proxy.failed.load(Ordering::SeqCst), 2, "the app failed the group write twice");
    assert_eq!(f.members().await?, (1, vec!["user0@x.com".into(), "user1@x.com".into()]));
    let ops = f.engine.list_operations(None, Some("peer"), 100).await?;
    let group = ops.iter().find(|r| r.op.kind.name() == "group_members").expect("listed");
    assert_eq!((group.status, group.attempts), (OperationStatus::Succeeded, 3), "{group:?}");
    // One group made, whatever the failed attempts did.
    let audit = f.store.list_audit(f.tenant, 100).await?;
    assert_eq!(audit.iter().filter(|e| e.action == "group.members").count(), 1, "only the outcome is audited");
    Ok(())
}

/// Forwards to scim2-server, answering the first `fail` writes to `/Groups` with 503 without
/// passing them on.
struct FailingProxy {
    url: String,
    shared: Arc<ProxyState>,
    failed: Arc<AtomicUsize>,
    _server: tokio::task::JoinHandle<()>,
}

struct ProxyState {
    target: std::sync::Mutex<String>,
    fail: usize,
    failed: Arc<AtomicUsize>,
    client: reqwest::Client,
}

impl FailingProxy {
    async fn start(fail: usize) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let failed = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(ProxyState {
            target: std::sync::Mutex::new(String::new()),
            fail,
            failed: failed.clone(),
            client: reqwest::Client::new(),
        });
        let app = axum::Router::new().fallback(forward).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, shared, failed, _server: server })
    }

    fn target(&self, base: &str) {
        *self.shared.target.lock().unwrap_or_else(|p| p.into_inner()) = base.trim_end_matches('/').to_owned();
    }
}

async fn forward(
    State(state): State<Arc<ProxyState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path().starts_with("/Groups")
        && method != Method::GET
        && state.failed.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < state.fail).then_some(n + 1)).is_ok()
    {
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "503", "detail": "try later",
        });
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    let target = state.target.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let url = format!("{target}{}", uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut request = state.client.request(method, url).body(body);
    for name in [axum::http::header::AUTHORIZATION, axum::http::header::CONTENT_TYPE, axum::http::header::ACCEPT] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = answer.headers().get(reqwest::header::CONTENT_TYPE).cloned();
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            if let Some(value) = content_type {
                response.headers_mut().insert(axum::http::header::CONTENT_TYPE, value);
            }
            response
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
