//! `tenure workflow` and `tenure tenant set|show`: adapters of the engine's workflow and tenant
//! settings commands.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use tenure_engine::admin::{RunView, SettingsChange, WorkflowSpec};
use tenure_engine::{Actor, Engine};

use crate::output::time_ms;

#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Define a workflow: a trigger and ordered steps, e.g. `tenure workflow add leavers
    /// --trigger leave-date --offset-days -3 --step notify:manager --step wait:2
    /// --step approval:org-admin --step deprovision`.
    Add(WorkflowAddArgs),
    /// The tenant's workflows.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a workflow; its unfinished runs are cancelled.
    Remove { name: String },
    /// Runs, newest first: each step, its result, who approved, what failed and why.
    Runs {
        /// Only this person's runs (by email).
        #[arg(long, value_name = "EMAIL")]
        person: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Approve the approval a run waits for (an org admin, or the person's manager for
    /// `approval:manager`).
    Approve {
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Reject the approval a run waits for (whoever may approve it): the run ends `rejected`
    /// and none of its later steps runs.
    Reject {
        run: String,
        /// Why; kept in the run's step and the audit trail.
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct WorkflowAddArgs {
    pub name: String,
    /// start-date, leave-date, department-change, org-unit-change, manager-change, offboarding,
    /// onboarding (every account of a new starter ready).
    #[arg(long)]
    pub trigger: String,
    /// For date triggers: days after the date (negative: before; default 0, on the day, in the
    /// tenant's timezone).
    #[arg(long, allow_hyphen_values = true)]
    pub offset_days: Option<i64>,
    /// A step, in order (repeatable): notify:WHO[,WHO...] (manager, person, org-admins,
    /// app-admins, license-admins, an address), deprovision, task:APP:TEXT, wait:DAYS,
    /// approval:manager|org-admin[:REMIND_DAYS], remove-groups:APP|all,
    /// reassign-license:APP:manager|department-head|EMAIL,
    /// reassign-role:APP:manager|department-head|EMAIL; end one with +continue to go on when
    /// it fails.
    #[arg(long = "step", value_name = "STEP", required = true)]
    pub steps: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(engine: &Engine, command: WorkflowCommand) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    match command {
        WorkflowCommand::Add(a) => {
            let spec = WorkflowSpec { name: a.name, trigger: a.trigger, offset_days: a.offset_days, steps: a.steps };
            let w = admin.add_workflow(spec).await?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&w)?);
            } else {
                println!("added workflow {} (on {}): {}", w.name, w.when, w.steps.join(" -> "));
            }
        }
        WorkflowCommand::List { json } => {
            let workflows = admin.workflows().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&workflows)?);
            } else if workflows.is_empty() {
                println!("no workflow; add one with `tenure workflow add NAME --trigger ... --step ...`");
            } else {
                for w in workflows {
                    println!("{:<20} on {:<28} {}", w.name, w.when, w.steps.join(" -> "));
                }
            }
        }
        WorkflowCommand::Remove { name } => {
            let cancelled = admin.remove_workflow(&name).await?;
            println!("removed workflow {name} ({cancelled} unfinished run(s) cancelled)");
        }
        WorkflowCommand::Runs { person, limit, json } => {
            let runs = admin.workflow_runs(person.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else if runs.is_empty() {
                println!("no workflow run");
            } else {
                for r in &runs {
                    print_run(r);
                }
            }
        }
        WorkflowCommand::Approve { run, json } => {
            let r = admin.approve_run(&run).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("approved; the run goes on at the next workflow pass of `tenure serve`");
                print_run(&r);
            }
        }
        WorkflowCommand::Reject { run, reason, json } => {
            let r = admin.reject_run(&run, &reason).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("rejected; none of the run's later steps will run");
                print_run(&r);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_run(r: &RunView) {
    println!(
        "{}  {} for {} ({}): {}  started {}",
        r.id,
        r.workflow,
        r.person,
        r.occasion,
        r.status,
        time_ms(r.created_ms)
    );
    for s in &r.steps {
        let mut line = format!("  {}. {:<28} {}", s.index + 1, s.step, s.status);
        if let Some(result) = &s.result {
            line.push_str(&format!(": {result}"));
        }
        if let Some(by) = &s.approver {
            line.push_str(&format!(" (approved by {by})"));
        }
        if let Some(error) = &s.error {
            line.push_str(&format!(" — failed: {error}"));
        }
        println!("{line}");
    }
}

/// `tenure tenant set --timezone ZONE` and `tenure tenant show`, on the --tenant tenant.
pub async fn tenant_settings(engine: &Engine, timezone: Option<String>, json: bool) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    let settings = match timezone {
        Some(tz) => admin.set_tenant_settings(SettingsChange { timezone: Some(tz) }).await?,
        None => admin.tenant_settings().await?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&settings)?);
    } else {
        println!("timezone {} (leave and start dates, and workflows' dates, act on the day there)", settings.timezone);
    }
    Ok(ExitCode::SUCCESS)
}
