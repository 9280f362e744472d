//! Tenure's HTTP server: `/healthz`, Prometheus `/metrics`, the admin JSON API under `/api/v1`
//! (described at `/api/v1/openapi.json`, rendered at `/api/docs/`) and the SCIM 2.0 service
//! provider under `/scim/v2`, and the web console for admins at `/` (`console/`). Handlers are thin: they authenticate, call the engine's admin
//! commands of the caller's tenant (one long-lived engine per tenant), and shape JSON.

pub mod api;
pub mod console;
mod docs;
mod metrics_layer;
pub mod oauth;
pub mod openapi;
pub mod routes;
mod scim;
pub mod tokens;

use std::future::Future;
use std::sync::OnceLock;

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
    /// Failed console sign-ins, per email and per client address.
    sign_in_limits: std::sync::Arc<console::SignInLimits>,
}

impl ServerState {
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
            sign_in_limits: std::sync::Arc::default(),
        }
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
        .merge(console::routes(state.clone()))
        .nest(
            "/scim/v2",
            scim::routes().layer(axum::middleware::from_fn_with_state(state.clone(), scim::push_audit::audit_push)),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": "no such endpoint"}))) })
        .layer(axum::middleware::from_fn(metrics_layer::record))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The request's span, as tower-http's default one (method, URI, version at DEBUG), except that
/// the OAuth callback's query, which carries a one-time code and state, is left out.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let uri = request.uri();
    let shown: &dyn std::fmt::Display = if uri.path() == oauth::CALLBACK_PATH { &uri.path() } else { uri };
    tracing::debug_span!("request", method = %request.method(), uri = %shown, version = ?request.version())
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The client's address limits console sign-in attempts per address.
    axum::serve(listener, router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz(State(state): State<ServerState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => {
            (StatusCode::OK, axum::Json(serde_json::json!({"status": "ok", "database": state.store.backend().name()})))
        }
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable", "error": e.to_string()})),
            )
        }
    }
}

async fn render_metrics(State(state): State<ServerState>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
