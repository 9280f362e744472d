//! `tenure serve`.

use std::process::ExitCode;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::config::Settings;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

pub async fn run(args: ServeArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let listen = args.listen.or_else(|| settings.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let store = tenure_store::Store::connect(&settings.database_url()?).await?;
    let tenant = store.ensure_tenant(&settings.tenant).await?;
    let watcher = tenure_engine::Engine::new(store.clone(), tenant);
    let watcher =
        tokio::spawn(async move { watcher.watch_sources(tenure_engine::WATCH_INTERVAL, shutdown_signal()).await });
    let listener = bind(&listen).await?;
    let addr = listener.local_addr()?;
    println!("tenure listening on http://{addr} (database: {})", store.backend().name());
    tracing::info!(%addr, backend = store.backend().name(), "serving");
    tenure_server::serve(listener, tenure_server::ServerState::new(store.clone()), shutdown_signal()).await?;
    watcher.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
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
