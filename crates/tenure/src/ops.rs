//! `tenure ops`: the provisioning queue as an admin sees it.

use std::process::ExitCode;

use anyhow::anyhow;
use tenure_core::OperationId;
use tenure_engine::Engine;
use tenure_store::OperationStatus;

use crate::cli::OpsCommand;

pub async fn run(engine: &Engine, command: OpsCommand) -> anyhow::Result<ExitCode> {
    match command {
        OpsCommand::Status { json } => {
            let status = engine.admin(&tenure_engine::Actor::cli()).queue_status().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                let c = status.counts;
                println!(
                    "queued: {} due, {} waiting for a retry; failed: {}; changes to plan: {}",
                    c.ready, c.waiting, c.failed, status.dirty
                );
                for app in &status.failing_apps {
                    let paused = match app.paused_until_ms {
                        Some(until) => format!("paused until {}", crate::output::time_ms(until)),
                        None => "running".to_owned(),
                    };
                    println!(
                        "  {}: {} failures in a row, {paused}; last error: {}",
                        app.app,
                        app.failures,
                        app.last_error.as_deref().unwrap_or("-")
                    );
                }
                crate::output::holds(&status.holds);
                for app in &status.refused_apps {
                    println!("  {}: not planned: {}", app.app, app.reason);
                }
                for wait in &status.budget_waits {
                    let until = std::time::UNIX_EPOCH + std::time::Duration::from_millis(wait.until_ms.max(0) as u64);
                    println!(
                        "  {}: waiting for its {} request budget ({} requests) until {}",
                        wait.app,
                        wait.window,
                        wait.requests,
                        tenure_connectors::ratelimit::clock(until)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OpsCommand::List { failed, status, app, limit, json } => {
            let status = match (failed, status) {
                (true, _) => Some(OperationStatus::Failed),
                (false, Some(raw)) => Some(
                    serde_json::from_value(serde_json::json!(raw))
                        .map_err(|_| anyhow!("--status {raw:?}: expected pending, succeeded, failed or dismissed"))?,
                ),
                (false, None) => None,
            };
            if !(1..=100_000).contains(&limit) {
                anyhow::bail!("--limit {limit}: must be between 1 and 100000");
            }
            let ops = engine.admin(&tenure_engine::Actor::cli()).operations(status, app.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ops)?);
                return Ok(ExitCode::SUCCESS);
            }
            if ops.is_empty() {
                println!("No operations.");
            }
            for rec in &ops {
                let next = if rec.status == OperationStatus::Pending && rec.not_before_ms > 0 {
                    format!(", next try {}", crate::output::time_ms(rec.not_before_ms))
                } else {
                    String::new()
                };
                println!(
                    "{}  {:9}  {:10}  {}  (attempts {}{next})",
                    rec.id,
                    rec.status.as_str(),
                    rec.op.kind.name(),
                    rec.op.person,
                    rec.attempts
                );
                if let Some(error) = &rec.last_error {
                    println!("    {error}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OpsCommand::Retry { id, all } => {
            let op = if all { None } else { id.as_deref().map(parse_id).transpose()? };
            let n = engine.admin(&tenure_engine::Actor::cli()).retry_operations(op).await?;
            println!("{n} operation(s) back in the queue; `tenure serve` runs them");
            Ok(ExitCode::SUCCESS)
        }
        OpsCommand::Dismiss { id } => {
            engine.admin(&tenure_engine::Actor::cli()).dismiss_operation(parse_id(&id)?).await?;
            println!("dismissed {id}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn parse_id(raw: &str) -> anyhow::Result<OperationId> {
    raw.trim().parse().map_err(|_| anyhow!("{raw:?} is not an operation id (see `tenure ops list`)"))
}
