//! Lifecycle workflows: a trigger (a date in the tenant's timezone, a change in the directory,
//! an offboarding, an onboarding) starts a run for a person, and the run's steps are carried
//! out one after the other by whichever node holds the [`WORKFLOWS`](crate::nodes::WORKFLOWS)
//! duty.
//!
//! - Firing is idempotent: a run is unique per (workflow, person, occasion), so a pass that
//!   fires again, or a second node, starts nothing new (`fire.rs`).
//! - A step runs at most once: its row is inserted when it is claimed (`runner.rs`). Steps
//!   whose effect is a store write (notify, task, wait, approval) commit the effect, the claim
//!   and the cursor's move in one transaction; a step that acts outside (deprovision) commits
//!   its claim first, and a claim found stale after a restart is recorded `interrupted`, never
//!   run again. A deprovisioning queues its operations and waits for them over later passes
//!   (`waiting for N operations`) instead of holding the pass up.
//! - Every write of a pass is fenced by the duty's term: a node that lost the duty advances
//!   nothing.

mod fire;
pub(crate) use fire::ONBOARDING_DAYS;
pub mod model;
mod queued;
mod runner;
mod targets;
pub mod tz;

pub(crate) use runner::approvers;

use std::time::Duration;

use tenure_core::Person;

use crate::{Engine, EngineError};
use tenure_store::Fence;

/// How often the holder of the duty looks for dates that came and runs that are due: a local
/// midnight is acted on within this.
pub const WORKFLOW_TICK: Duration = Duration::from_secs(30);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkflowPass {
    /// Runs started.
    pub started: usize,
    /// Steps carried out (or recorded as interrupted).
    pub steps: usize,
    /// Approval reminders sent.
    pub reminded: usize,
}

/// A person's manager, from the directory's manager link: the person whose source key the link
/// names, in the person's own source first.
pub(crate) fn manager_of<'a>(people: &'a [Person], person: &Person) -> Option<&'a Person> {
    let key = person.manager_key.as_ref()?;
    people
        .iter()
        .find(|m| &m.source_key == key && m.source_id == person.source_id)
        .or_else(|| people.iter().find(|m| &m.source_key == key))
}

impl Engine {
    /// One pass of the workflows at the engine's clock, when this node holds the
    /// [`WORKFLOWS`](crate::nodes::WORKFLOWS) duty (nothing otherwise): see
    /// [`Self::workflow_pass_under`]. Tests call it with a hand-driven clock.
    pub async fn workflow_pass(&self) -> Result<WorkflowPass, EngineError> {
        let Some(duty) = self.hold_duty(crate::nodes::WORKFLOWS).await? else { return Ok(WorkflowPass::default()) };
        self.workflow_pass_under(duty.fence()).await
    }

    /// One pass under the duty's `fence`: fire what triggers came, carry due runs forward,
    /// remind waiting approvals. Every write is refused ([`tenure_store::StoreError::Fenced`])
    /// once another node has taken the duty over. The duty's holder runs it every
    /// [`WORKFLOW_TICK`].
    pub async fn workflow_pass_under(&self, fence: &Fence) -> Result<WorkflowPass, EngineError> {
        let now = self.now_ms();
        let workflows = self.store.workflows(self.tenant).await?;
        let mut pass = WorkflowPass::default();
        if !workflows.is_empty() {
            let today = self.local_day(now).await?;
            pass.started = self.fire(&workflows, today, now, fence).await?;
        }
        pass.steps = self.advance_runs(now, fence).await?;
        pass.reminded = self.remind_approvals(now, fence).await?;
        Ok(pass)
    }

    /// Runs workflow passes while this node holds the duty, until `shutdown` turns true.
    /// The duty is looked at every [`DUTY_RENEW`](crate::nodes::DUTY_RENEW), as the other
    /// duties are, so that a dead holder's duty is taken over within seconds; a pass runs every
    /// [`WORKFLOW_TICK`] while held, and at once on taking the duty over.
    pub async fn run_workflows(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut last_pass: Option<tokio::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.hold_duty(crate::nodes::WORKFLOWS).await {
                Ok(Some(duty)) if last_pass.is_none_or(|at| at.elapsed() >= WORKFLOW_TICK) => {
                    last_pass = Some(tokio::time::Instant::now());
                    match self.workflow_pass_under(duty.fence()).await {
                        Ok(pass) if pass != WorkflowPass::default() => tracing::info!(?pass, "workflow pass"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "workflow pass failed; tried again at the next tick"),
                    }
                    // Dated notices ride this duty: they are the same kind of clock-driven tenant
                    // work, and one holder is what keeps them from going out once per node.
                    match self.notice_pass().await {
                        Ok(pass) if pass != crate::notify::NoticePass::default() => {
                            tracing::info!(?pass, "dated notices")
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "dated notices failed; tried again at the next tick"),
                    }
                    // License reclaims past their deadline release their seats: clock-driven too.
                    match self.reclaim_pass().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(released = n, "license reclaims past their deadline"),
                        Err(e) => {
                            tracing::warn!(error = %e, "license reclaim pass failed; tried again at the next tick")
                        }
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => last_pass = None,
                Err(e) => tracing::warn!(error = %e, "cannot take the workflows duty"),
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                () = tokio::time::sleep(crate::nodes::DUTY_RENEW) => {}
            }
        }
    }
}
