//! What the CLI prints: tables for people, stable JSON for scripts.

use std::collections::BTreeMap;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tenure_core::PlannedOp;
use tenure_engine::{AppPlan, ApplyReport};

use tenure_engine::admin::views::KINDS;

/// A spinner on stderr for long work; invisible when stderr is not a terminal.
pub fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// `tenure sync`'s progress on stderr: a bar over the sources on a terminal; otherwise a plain
/// line per source when there are several (one source's result or error line says it all, and
/// a bad export stays one line), none with `--json`, whose reader wants stdout only.
pub struct SyncProgress {
    bar: Option<ProgressBar>,
    plain: bool,
    total: usize,
}

impl SyncProgress {
    pub fn new(total: usize, json: bool) -> Self {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) = ProgressStyle::with_template("{spinner} [{pos}/{len}] syncing {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            return Self { bar: Some(bar), plain: false, total };
        }
        Self { bar: None, plain: !json && total > 1, total }
    }

    pub fn start(&self, index: usize, source: &str) {
        if let Some(bar) = &self.bar {
            bar.set_position(index as u64);
            bar.set_message(source.to_owned());
        } else if self.plain {
            eprintln!("syncing {source} ({}/{})", index + 1, self.total);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn totals<'a>(ops: impl Iterator<Item = &'a PlannedOp>) -> BTreeMap<&'static str, usize> {
    let mut totals: BTreeMap<&'static str, usize> = KINDS.iter().map(|k| (*k, 0)).collect();
    for op in ops {
        *totals.entry(op.kind.name()).or_default() += 1;
    }
    totals
}

/// Held plans: how many losses wait, for which app, since when, and why.
pub fn holds(holds: &[tenure_engine::HoldView]) {
    for h in holds {
        let scope = h.app.as_deref().unwrap_or("every app (global guard)");
        let verb = match h.status.as_str() {
            "held" => "wait for an admin's approval",
            "approved" => "approved, being carried out",
            "rejected" => "rejected: not due until their people change in the source",
            other => other,
        };
        println!("  {} losses in {scope} {verb} since {} (plan {})", h.losses, time_ms(h.since_ms), h.plan_id);
        if !h.reason.is_empty() {
            println!("    why: {}", h.reason);
        }
        if h.status == "held" {
            println!(
                "    decide: `tenure plan show {0}`, then `tenure plan approve {0}` or `tenure plan reject {0}`",
                h.plan_id
            );
        }
    }
}

pub fn plan_table(plans: &[AppPlan]) {
    if plans.is_empty() {
        println!("No apps; add one with `tenure app add scim NAME --base-url URL --token TOKEN`.");
        return;
    }
    for p in plans {
        if let Some(reason) = &p.plan.refused {
            println!("{}: not planned: {reason}", p.app.name);
            continue;
        }
        println!("{} ({} accounts in the app)", p.app.name, p.observed_count());
        if p.plan.is_empty() && p.plan.withheld.is_empty() {
            println!("  in step: nothing to do");
        }
        ops_by_kind(&p.plan.ops, "  ");
        for w in &p.plan.withheld {
            println!("  withheld {} {}: {}", w.op.kind.name(), w.op.person, w.why);
        }
        for g in &p.plan.group_ops {
            let added: Vec<String> = g
                .add
                .iter()
                .map(|m| match m {
                    tenure_core::MemberRef::Account { remote_id } => remote_id.clone(),
                    tenure_core::MemberRef::NewAccountOf { person, .. } => format!("{person} (new account)"),
                })
                .collect();
            let verb = if g.remote_id.is_none() { "create group" } else { "group" };
            print!("  {verb} {}:", g.group);
            if !added.is_empty() {
                print!(" add {}", added.join(", "));
            }
            if !g.remove.is_empty() {
                print!(" remove {}", g.remove.join(", "));
            }
            println!();
        }
        for case in &p.plan.cases {
            println!(
                "  needs an admin: {} {} on {} {:?}: {}; link or adopt the right one",
                case.people.join(", "),
                if case.accounts.len() == 1 { "matches account" } else { "matches accounts" },
                case.key,
                case.value,
                case.accounts.join(", ")
            );
        }
        for problem in &p.plan.problems {
            println!("  problem: {}", problem.message);
        }
        if !p.plan.unmanaged.is_empty() {
            println!("  unmanaged accounts (no matching person; left alone): {}", p.plan.unmanaged.len());
        }
        for note in &p.notes {
            println!("  ! {note}");
        }
    }
    let all = totals(plans.iter().flat_map(|p| p.plan.ops.iter()));
    let parts: Vec<String> = all.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{n} {k}")).collect();
    println!("Total: {}", if parts.is_empty() { "nothing to do".to_owned() } else { parts.join(", ") });
}

/// Operations grouped by kind, each with its person and reason.
pub fn ops_by_kind(ops: &[PlannedOp], indent: &str) {
    for kind in KINDS {
        let of_kind: Vec<&PlannedOp> = ops.iter().filter(|o| o.kind.name() == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        println!("{indent}{kind} ({})", of_kind.len());
        let width = of_kind.iter().map(|o| o.person.len()).max().unwrap_or(0);
        for op in of_kind {
            println!("{indent}  {:width$}  {}", op.person, op.reason);
        }
    }
}

pub fn apply_summary(report: &ApplyReport) {
    for app in &report.apps {
        let done: Vec<String> = app.succeeded.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!(
            "{}: {}{}",
            app.app,
            if done.is_empty() { "nothing done".to_owned() } else { done.join(", ") },
            if app.failed.is_empty() { String::new() } else { format!(", {} failed", app.failed.len()) }
        );
        for f in &app.failed {
            println!("  FAILED {} {}: {}", f.op, f.person, f.error);
        }
    }
    if report.queued > 0 {
        println!(
            "{} operation(s) wait in the queue for a retry; `tenure serve` carries them on (`tenure ops list`)",
            report.queued
        );
    }
    if report.dry_run > 0 {
        println!("{} operation(s) of dry-run apps were logged, not applied", report.dry_run);
    }
    if report.rejected_losses > 0 {
        println!(
            "{} loss(es) of access an admin rejected were not carried out: they are not due again until their people \
             change in the source",
            report.rejected_losses
        );
    }
}

pub fn users_table(app: &str, rows: &[tenure_engine::AccountRow], start: usize, total: Option<usize>) {
    match total {
        Some(total) if rows.len() < total => {
            println!("{app}: accounts {}-{} of {total}", start, start + rows.len().saturating_sub(1));
        }
        _ => println!("{app}: {} accounts", rows.len()),
    }
    let width = rows.iter().map(|r| r.user_name.len()).max().unwrap_or(8);
    for r in rows {
        let state = if r.active { "active" } else { "inactive" };
        let person = match (&r.person, r.origin) {
            (Some(p), Some(o)) => format!("{p} ({})", o.as_str()),
            (Some(p), None) => p.clone(),
            (None, _) => "-".to_owned(),
        };
        let others =
            if r.other_apps.is_empty() { String::new() } else { format!("  also: {}", r.other_apps.join(", ")) };
        println!("  {:width$}  {state:8}  {:22}  {person}{others}", r.user_name, r.class.as_str());
    }
}

/// A store timestamp (milliseconds since the epoch) as RFC 3339, UTC, to the second.
pub fn time_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}
