//! A real server on port 0 with a fresh SQLite database and per-tenant contexts, for the admin
//! API's tests; and the router's routes, found by walking it.

#![allow(dead_code)] // each test file uses the part it needs

pub mod console;

use std::collections::BTreeSet;

use tenure_engine::TenantContexts;
use tenure_store::Store;
use tenure_testkit::{TestBackend, TestDb};

pub struct Server {
    pub base: String,
    pub store: Store,
    pub contexts: TenantContexts,
    _db: TestDb,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(TestBackend::Sqlite, None).await
    }

    pub async fn start_with_files(files: std::path::PathBuf) -> anyhow::Result<Self> {
        Self::start_with(TestBackend::Sqlite, Some(files)).await
    }

    pub async fn start_with(backend: TestBackend, files: Option<std::path::PathBuf>) -> anyhow::Result<Self> {
        let db = TestDb::new(backend).await?;
        let store = Store::connect_with_keys(
            db.url(),
            tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
        )
        .await?;
        let mut contexts = TenantContexts::new(store.clone());
        if let Some(files) = files {
            contexts = contexts.with_files_root(files);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let state = tenure_server::ServerState::with_contexts(contexts.clone()).with_public_url(base.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(tenure_server::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Ok(Self { base, store, contexts, _db: db, _stop: stop })
    }
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub async fn sandbox(profile: tenure_sandbox::Profile) -> anyhow::Result<tenure_sandbox::SandboxApp> {
    let token = tenure_engine::tokens::generate();
    let options = tenure_sandbox::SandboxOptions {
        rate_limit_per_sec: None,
        ..tenure_sandbox::SandboxOptions::new(profile, token)
    };
    Ok(tenure_sandbox::SandboxApp::spawn(options).await?)
}

/// Every (method, path template) the server's router answers, found by walking the router: its
/// path templates come from the router itself (its `Debug` form lists them), and each method is
/// tried on each path without a token, where a route answers 401 (or its own answer) and a
/// missing method 405.
pub async fn routes_in_router() -> anyhow::Result<BTreeSet<(String, String)>> {
    let server = Server::start().await?;
    let router = tenure_server::router(tenure_server::ServerState::new(server.store.clone()));
    let shown = format!("{router:?}");
    let mut paths = BTreeSet::new();
    for piece in shown.split('"').skip(1).step_by(2) {
        if piece.starts_with('/') && !piece.contains("__private__") {
            paths.insert(piece.to_owned());
        }
    }
    anyhow::ensure!(paths.contains("/api/v1/apps"), "walking the router found no admin routes: {paths:?}");
    let http = client();
    let mut routes = BTreeSet::new();
    for path in paths {
        let concrete: String =
            path.split('/').map(|seg| if seg.starts_with('{') { "x" } else { seg }).collect::<Vec<_>>().join("/");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let url = format!("{}{concrete}", server.base);
            let response = http.request(method.parse()?, &url).send().await?;
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            if status != 405 && !body.contains("no such endpoint") && !body.contains("no such SCIM endpoint") {
                routes.insert((method.to_owned(), path.clone()));
            }
        }
    }
    Ok(routes)
}
