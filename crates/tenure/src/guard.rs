//! `tenure guard`: the tenant-wide deprovisioning guard's limits and the holds it keeps.

use std::process::ExitCode;

use serde_json::json;
use tenure_engine::Engine;

use crate::cli::GuardCommand;

pub async fn run(engine: &Engine, command: GuardCommand) -> anyhow::Result<ExitCode> {
    match command {
        GuardCommand::Show { json } => {
            let limits = engine.global_guard().await?;
            let holds: Vec<tenure_engine::HoldView> =
                engine.holds(100).await?.into_iter().filter(|h| h.status == "held" || h.status == "approved").collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&json!({"global": limits, "holds": holds}))?);
            } else {
                println!(
                    "global guard: at most {}% of the people with a managed account, and at most {} people, lose access \
                     within {}s across every app; more waits for an admin",
                    limits.max_percent, limits.max_count, limits.window_s
                );
                println!("each app has its own guard as well (app add --guard-percent, --guard-count, --guard-window)");
                crate::output::holds(&holds);
            }
        }
        GuardCommand::Set { percent, count, window, default } => {
            let limits = if default {
                None
            } else {
                let current = engine.global_guard().await?;
                Some(tenure_core::guard::GuardLimits {
                    max_percent: percent.unwrap_or(current.max_percent),
                    max_count: count.unwrap_or(current.max_count),
                    window_s: window.map_or(current.window_s, |w| w.as_secs()),
                })
            };
            let set = engine.set_global_guard(limits, "cli").await?;
            println!(
                "global guard: {}%, {} people, within {}s{}",
                set.max_percent,
                set.max_count,
                set.window_s,
                if default { " (the defaults)" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
