//! Tenure's HTTP server: `/healthz`, Prometheus `/metrics`, the admin JSON API under `/api/v1`
//! (described at `/api/v1/openapi.json`, rendered at `/api/docs/`) and the SCIM 2.0 service
//! provider under `/scim/v2`, and the web console for admins at `/` (`console/`). Handlers are thin: they authenticate, call the engine's admin
//! commands of the caller's tenant (one long-lived engine per tenant), and shape JSON.

pub mod api;
pub mod console;
mod docs;
mod hooks;
mod metrics_layer;
pub mod oauth;
pub mod openapi;
pub mod routes;
mod scim;
pub mod tokens;

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tenure_engine::TenantContexts;
use tenure_store::Store;
use tokio::net::TcpListener;

#[derive(Clone)]
pub struct ServerState {
    pub store: Store,
    /// Each tenant's long-lived engine, shared with `serve`'s background work.
    pub contexts: TenantContexts,
    metrics: PrometheusHandle,
    scim_tokens: std::sync::Arc<scim::TokenCache>,
    /// The URL browsers reach this server at (`--public-url`): OAuth redirect URIs start with it.
    public_url: Option<String>,
    /// The bearer token `/metrics` wants from clients not on this machine.
    metrics_token: Option<std::sync::Arc<tenure_core::Secret>>,
    /// Failed console sign-ins, per email and per client address.
    sign_in_limits: std::sync::Arc<console::SignInLimits>,
    /// Syncs and applies started from the console, with their outcomes.
    console_jobs: std::sync::Arc<console::Jobs>,
    /// The largest CSV upload accepted, in bytes.
    upload_limit: u64,
}

impl ServerState {
    /// The engine of the tenant an unsigned path names (`/hooks/...`, `/reclaim/...`), or `None`
    /// when no such tenant exists: no context is made for a made-up id.
    pub(crate) async fn existing_tenant(
        &self,
        tenant: &str,
    ) -> Result<Option<tenure_engine::Engine>, tenure_engine::EngineError> {
        let Ok(id) = tenant.parse::<tenure_core::TenantId>() else { return Ok(None) };
        let tenants = tenure_engine::admin::list_tenants(&self.store).await?;
        Ok(tenants.iter().any(|t| t.id == id).then(|| self.contexts.engine(id)))
    }

    /// A server with tenant contexts of its own.
    pub fn new(store: Store) -> Self {
        Self::with_contexts(TenantContexts::new(store))
    }

    /// A server sharing `contexts` (and so each tenant's rate limiters and connector clients)
    /// with the background work that runs beside it.
    pub fn with_contexts(contexts: TenantContexts) -> Self {
        Self {
            store: contexts.store().clone(),
            contexts,
            metrics: prometheus(),
            scim_tokens: scim::token_cache(),
            public_url: None,
            metrics_token: None,
            sign_in_limits: std::sync::Arc::default(),
            console_jobs: std::sync::Arc::default(),
            upload_limit: routes::sources::DEFAULT_UPLOAD_LIMIT,
        }
    }

    /// The largest CSV upload accepted, in bytes (default 512 MiB): a larger one is refused with
    /// 413 as soon as it passes the limit, before anything is imported.
    pub fn with_upload_limit(mut self, bytes: u64) -> Self {
        self.upload_limit = bytes;
        self
    }

    /// The token `/metrics` asks of clients that are not on this machine (without one, only
    /// loopback clients are answered).
    pub fn with_metrics_token(mut self, token: tenure_core::Secret) -> Self {
        self.metrics_token = Some(std::sync::Arc::new(token));
        self
    }

    /// The URL browsers reach this server at, e.g. `https://tenure.example.com`.
    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Whether browsers reach this server over TLS (a proxy in front terminates it): the
    /// console's cookie is then `Secure`.
    pub fn served_over_tls(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }
}

/// The process-wide metrics recorder. Installed once, however many servers a process runs
/// (tests start several).
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding program's); ours then only
            // renders what it sees, which is nothing, and /metrics stays valid.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .route("/api/v1/openapi.json", get(openapi::serve_document))
        .nest("/api/v1", routes::router())
        .merge(docs::routes())
        .merge(oauth::callback_routes())
        .merge(hooks::routes())
        .merge(routes::reclaim_links::routes())
        .merge(console::routes(state.clone()))
        .nest("/scim/v2", scim::routes())
        .fallback(|| async { (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": "no such endpoint"}))) })
        .layer(axum::middleware::from_fn(metrics_layer::record))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The request's span, as tower-http's default one (method, URI, version at DEBUG), except that
/// the OAuth callback's query, which carries a one-time code and state, and reclaim links'
/// tokens are left out.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let uri = request.uri();
    // A reclaim link's token answers a question: no log keeps it.
    let reclaim = uri.path().starts_with("/reclaim/");
    let shown: &dyn std::fmt::Display = if uri.path() == oauth::CALLBACK_PATH {
        &uri.path()
    } else if reclaim {
        &"/reclaim/..."
    } else {
        uri
    };
    tracing::debug_span!("request", method = %request.method(), uri = %shown, version = ?request.version())
}

/// How long the server waits on its clients. `axum::serve` has no header or idle timeouts, so a
/// client that sends half a request header held its socket forever; connections are served by
/// hyper's HTTP/1 builder with a timer instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// From the first byte of a request head to its end; also how long an idle keep-alive
    /// connection waits for its next request. Then the connection is closed.
    pub header_read_timeout: Duration,
    /// After the shutdown signal, how long requests in flight may take before the server stops
    /// anyway.
    pub shutdown_deadline: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self { header_read_timeout: Duration::from_secs(30), shutdown_deadline: Duration::from_secs(30) }
    }
}

/// Serves until `shutdown` resolves, then finishes the requests in flight (within the default
/// shutdown deadline).
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, shutdown, ServeOptions::default()).await
}

/// [`serve`] with its timeouts.
pub async fn serve_with(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let app = router(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(options.header_read_timeout).keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The peer's address travels with each request (ConnectInfo), for what is answered by
        // where it comes from: /metrics, and the console's sign-in limits per address.
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            tower_service::Service::call(&mut app.clone(), request)
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.shutdown_deadline) => {
            tracing::warn!(deadline_s = options.shutdown_deadline.as_secs(), "requests still in flight at the shutdown deadline: stopping anyway");
        }
    }
    Ok(())
}

async fn healthz(State(state): State<ServerState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({
                "status": "ok",
                "database": state.store.backend().name(),
                "node": tenure_engine::nodes::node_id(),
            })),
        ),
        Err(e) => {
            // The database's error text stays in the log: it can name hosts, users and paths.
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable", "error": "database unreachable"})),
            )
        }
    }
}

/// Metrics name tenants and apps and show their activity: a client on this machine (a local
/// Prometheus or agent) reads them freely, any other one needs the metrics token.
async fn render_metrics(State(state): State<ServerState>, request: axum::extract::Request) -> axum::response::Response {
    let peer = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !metrics_allowed(state.metrics_token.as_deref(), presented, peer) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({
                "error": "metrics are served to this machine, or with the metrics token (TENURE_METRICS_TOKEN_FILE)"
            })),
        )
            .into_response();
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

fn metrics_allowed(
    token: Option<&tenure_core::Secret>,
    presented: Option<&str>,
    peer: Option<std::net::SocketAddr>,
) -> bool {
    match (token, presented) {
        (Some(token), Some(given)) => constant_time_eq(token.expose().as_bytes(), given.trim().as_bytes()),
        // Served in-process (no peer) or to this machine.
        (_, None) | (None, _) => peer.is_none_or(|p| p.ip().is_loopback()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod metrics_tests {
    use super::metrics_allowed;
    use tenure_core::Secret;

    #[test]
    fn metrics_go_to_this_machine_or_to_the_token() {
        let local = Some("127.0.0.1:5000".parse().unwrap());
        let remote = Some("203.0.113.9:5000".parse().unwrap());
        let token = Secret::new("m-token");
        assert!(metrics_allowed(None, None, local));
        assert!(!metrics_allowed(None, None, remote));
        assert!(!metrics_allowed(None, Some("anything"), remote));
        assert!(!metrics_allowed(Some(&token), None, remote));
        assert!(!metrics_allowed(Some(&token), Some("wrong"), remote));
        assert!(!metrics_allowed(Some(&token), Some("wrong"), local));
        assert!(metrics_allowed(Some(&token), Some("m-token"), remote));
    }
}
