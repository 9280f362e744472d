//! `tenure person`: person-level switches (the legal hold), adapters of the engine's commands.

use std::process::ExitCode;

use clap::Subcommand;
use tenure_engine::admin::{LegalHoldSpec, LegalHoldView};
use tenure_engine::{Actor, Engine};

#[derive(Debug, Subcommand)]
pub enum PersonCommand {
    /// Put a person on legal hold: nothing takes access away from them in any app (no
    /// deactivation, deletion or license removal by any path) until the hold is released.
    Hold {
        /// The person, by email.
        email: String,
        /// Why (a case or ticket): quoted by the audit log and by every loss the hold withholds.
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Release a person's legal hold: the next propagation pass carries out what the policy says.
    Release {
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// People on legal hold.
    Holds {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(engine: &Engine, command: PersonCommand) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    match command {
        PersonCommand::Hold { email, reason, json } => {
            let view = admin.place_legal_hold(&email, LegalHoldSpec { reason }).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                println!("{} is on legal hold since {}: {}", view.person, view.since, view.reason);
                if view.dismissed > 0 {
                    println!("{} loss(es) of theirs waiting in the queue were dismissed", view.dismissed);
                }
            }
        }
        PersonCommand::Release { email, json } => {
            let view = admin.lift_legal_hold(&email).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                println!(
                    "{}'s legal hold (since {}, by {}) is released: the next propagation pass plans them again",
                    view.person, view.since, view.actor
                );
            }
        }
        PersonCommand::Holds { json } => {
            let holds = admin.legal_holds().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&holds)?);
            } else {
                print_holds(&holds);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_holds(holds: &[LegalHoldView]) {
    if holds.is_empty() {
        println!("nobody is on legal hold");
        return;
    }
    let width = holds.iter().map(|h| h.person.len()).max().unwrap_or(0);
    for h in holds {
        println!("{:width$}  since {}  by {}  {}", h.person, h.since, h.actor, h.reason);
    }
}
