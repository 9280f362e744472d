//! `tenure guard`: the tenant-wide deprovisioning guard's limits and the holds it keeps.

use std::process::ExitCode;

use tenure_engine::admin::{GuardSpec, GuardView};
use tenure_engine::{Actor, Engine};

use crate::cli::GuardCommand;

pub async fn run(engine: &Engine, command: GuardCommand) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    let (view, json): (GuardView, bool) = match command {
        GuardCommand::Show { json } => (admin.guard().await?, json),
        GuardCommand::Set { percent, count, window, default } => {
            let spec =
                GuardSpec { max_percent: percent, max_count: count, window_s: window.map(|w| w.as_secs()), default };
            (admin.set_guard(spec).await?, false)
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    let g = view.global;
    println!(
        "global guard: at most {}% of the people with a managed account, and at most {} people, lose access within \
         {}s across every app; more waits for an admin",
        g.max_percent, g.max_count, g.window_s
    );
    println!("each app has its own guard as well (app add/edit --guard-percent, --guard-count, --guard-window)");
    crate::output::holds(&view.holds);
    Ok(ExitCode::SUCCESS)
}
