//! `tenure`: the command line and the server in one binary.

mod access;
mod app_catalog;
mod app_check;
mod app_oauth;
mod apps;
mod audit;
mod backup;
mod bench;
mod bench_bounds;
mod bench_import;
mod bench_licenses;
mod bench_memory;
mod bench_nodes;
mod bench_offboard;
mod bench_propagation;
mod bench_queue;
mod bench_scim;
mod bench_tenants;
mod bench_users;
mod cli;
mod cloud_sources;
mod commands;
mod config;
mod demo;
mod github_app;
mod google_app;
mod guard;
mod keys;
mod licenses;
mod lifecycle;
mod m365_app;
mod ops;
mod output;
mod people;
mod report;
mod rest_app;
mod serve;
mod workflows;

use std::process::ExitCode;

use clap::Parser;
use tenure_core::TenantId;
use tenure_store::Store;

use crate::cli::{Cli, Command, LogFormat};
use crate::config::Settings;

fn main() -> ExitCode {
    end_quietly_when_the_reader_stops();
    warn_secret_flags(std::env::args());
    let cli = Cli::parse();
    let settings = match Settings::resolve(&cli.global) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    init_logging(&cli.command, settings.log_format);
    // The outbound address policy holds for every command that reaches an app or a source.
    match tenure_outbound::deny_private_from_env() {
        Ok(deny) => tenure_outbound::set_deny_private(deny),
        Err(e) => return fail(&anyhow::anyhow!(e)),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e).context("starting the async runtime")),
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

/// A reader that stops early (`tenure app catalog --json | head`) closes the pipe, and `println!`
/// turns the next write into a panic. Stopping is the reader's choice, not a fault of Tenure's:
/// end as a Unix tool ended by SIGPIPE does (status 141), with no panic message on stderr. Every
/// other panic keeps the default report.
fn end_quietly_when_the_reader_stops() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// A secret given as a flag is visible to every user of the machine (`ps`, /proc/PID/cmdline)
/// and lands in shell history: say so, and where it should come from instead.
fn warn_secret_flags(args: impl Iterator<Item = String>) {
    for arg in args.skip(1) {
        if arg == "--" {
            break;
        }
        if arg == "--token" || arg.starts_with("--token=") {
            eprintln!(
                "warning: --token puts the secret on the command line, where other users of this machine can read it; \
                 use --token-file FILE, TENURE_APP_TOKEN_FILE or TENURE_APP_TOKEN instead"
            );
        }
    }
}

/// One clear line on stderr: the error and its causes. A cause whose text the line already
/// carries (many errors quote their source) is not repeated.
fn fail(e: &anyhow::Error) -> ExitCode {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    eprintln!("error: {}", line.replace('\n', " "));
    ExitCode::FAILURE
}

fn init_logging(command: &Command, format: LogFormat) {
    // Servers log what they do; one-shot commands print results and log only problems.
    let default = match command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TENURE_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Demo(args) => demo::run(args, &settings).await,
        Command::Serve(args) => serve::run(args, &settings).await,
        // Compiled-in vendor documentation: no database needed.
        Command::App(cli::AppCommand::Catalog { json }) => app_catalog::run(json),
        Command::Bench(cli::BenchCommand::Plan(args)) => bench::run(args),
        Command::Bench(cli::BenchCommand::Scim(args)) => bench_scim::run(args).await,
        Command::Bench(cli::BenchCommand::Import(args)) => {
            bench_import::run(args, settings.explicit_database_url()).await
        }
        Command::Bench(cli::BenchCommand::Propagation(args)) => bench_propagation::run(args).await,
        Command::Bench(cli::BenchCommand::Throughput(args)) if args.nodes.is_some() => {
            bench_nodes::throughput(args).await
        }
        Command::Bench(cli::BenchCommand::Throughput(args)) => bench_queue::throughput(args).await,
        Command::Bench(cli::BenchCommand::Nodes(args)) => bench_nodes::side_by_side(args).await,
        Command::Bench(cli::BenchCommand::Users(args)) => bench_users::run(args).await,
        Command::Bench(cli::BenchCommand::Tenants(args)) => bench_tenants::run(args).await,
        Command::Bench(cli::BenchCommand::Licenses(args)) => bench_licenses::run(args).await,
        Command::Bench(cli::BenchCommand::ScimBounds(args)) => bench_bounds::run(args).await,
        Command::Bench(cli::BenchCommand::Offboard(args)) => bench_offboard::run(args).await,
        Command::Bench(cli::BenchCommand::Memory(args)) => bench_memory::run(args).await,
        other => {
            let store = Store::connect(&settings.database_url()?).await?;
            // Tenants are not tenant-scoped: `tenant create` must work whatever --tenant says.
            let result = match other {
                Command::Tenant(command) if !command.scoped() => access::tenant(&store, command).await,
                // The whole database, every tenant; a restore needs it empty.
                Command::Backup(args) => backup::backup(&store, args).await,
                Command::Restore(args) => backup::restore(&store, args).await,
                Command::Db(backup::DbCommand::Copy(args)) => backup::copy(&store, args).await,
                other => match open_tenant(&store, &settings).await {
                    Ok(tenant) => {
                        commands::run(
                            other,
                            &tenure_engine::Engine::new(store.clone(), tenant)
                                .with_public_url(std::env::var("TENURE_PUBLIC_URL").ok()),
                        )
                        .await
                    }
                    Err(e) => Err(e),
                },
            };
            store.close().await;
            result
        }
    }
}

/// The tenant `--tenant` names: the default one (made on first use), or one that exists.
pub async fn open_tenant(store: &Store, settings: &Settings) -> anyhow::Result<TenantId> {
    Ok(tenure_engine::admin::resolve_tenant(store, &settings.tenant).await?)
}
