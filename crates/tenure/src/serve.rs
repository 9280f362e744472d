//! `tenure serve`.

use std::process::ExitCode;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::config::Settings;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

pub async fn run(args: ServeArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let listen = args.listen.or_else(|| settings.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    if args.outbound_deny_private {
        tenure_outbound::set_deny_private(true);
        tracing::info!("outbound requests to loopback and private addresses are refused");
    }
    let store = tenure_store::Store::connect(&settings.database_url()?).await?;
    // A fresh deployment has its default tenant from the start; every tenant is served.
    store.ensure_tenant(tenure_engine::admin::DEFAULT_TENANT).await?;
    let listener = bind(&listen).await?;
    let addr = listener.local_addr()?;
    println!("tenure listening on http://{addr} (database: {})", store.backend().name());
    tracing::info!(%addr, backend = store.backend().name(), "serving");
    let options =
        tenure_engine::WorkerOptions { workers: usize::from(args.workers), lease: args.lease, ..Default::default() };
    let public = public_url(args.public_url.as_deref(), addr)?;
    // One context per tenant, shared by the API's requests and the background work.
    let contexts = tenure_engine::TenantContexts::new(store.clone())
        .with_worker_options(options)
        .with_files_root(settings.data_dir.join("files"))
        .with_public_url(public.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let background_options = tenure_engine::BackgroundOptions {
        propagation: tenure_engine::PropagationOptions { reconcile_every: args.reconcile_every, ..Default::default() },
        run_workers: !args.no_workers,
        ..Default::default()
    };
    let runner = contexts.clone();
    let background = tokio::spawn(async move { runner.run_background(background_options, stopped).await });
    let mut state =
        tenure_server::ServerState::with_contexts(contexts).with_upload_limit(args.max_upload_mb * 1024 * 1024);
    match public {
        Some(url) => {
            tracing::info!(public_url = %url, "OAuth redirect URI: {url}{}", tenure_server::oauth::CALLBACK_PATH);
            state = state.with_public_url(url);
        }
        None => tracing::info!("no --public-url: OAuth app authorizations cannot be started from the API"),
    }
    if let Some(path) = &args.metrics_token_file {
        let token =
            std::fs::read_to_string(path).with_context(|| format!("--metrics-token-file {}", path.display()))?;
        let token = token.trim();
        anyhow::ensure!(!token.is_empty(), "--metrics-token-file {}: empty", path.display());
        state = state.with_metrics_token(tenure_core::Secret::new(token));
    }
    let serve_options = tenure_server::ServeOptions {
        header_read_timeout: args.header_read_timeout,
        shutdown_deadline: args.shutdown_deadline,
    };
    tenure_server::serve_with(listener, state, shutdown_signal(), serve_options).await?;
    // Operations in flight finish and are recorded; what is still queued waits for the next start.
    let _ = stop.send(true);
    let _ = background.await;
    store.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The URL browsers reach the server at: `--public-url`, or `http://ADDR` when listening on
/// loopback (a browser on this machine reaches that; on another interface the external name is
/// unknowable).
fn public_url(given: Option<&str>, addr: std::net::SocketAddr) -> anyhow::Result<Option<String>> {
    match given.map(str::trim).filter(|u| !u.is_empty()) {
        Some(raw) => {
            let url = url::Url::parse(raw).with_context(|| format!("--public-url {raw:?}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
                anyhow::bail!("--public-url {raw:?}: an http(s) URL without query or fragment");
            }
            Ok(Some(url.as_str().trim_end_matches('/').to_owned()))
        }
        None if addr.ip().is_loopback() => Ok(Some(format!("http://{addr}"))),
        None => Ok(None),
    }
}

pub async fn bind(listen: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))
}

/// Resolves on Ctrl-C or SIGTERM, so a service manager's stop is graceful too.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
