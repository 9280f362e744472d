//! Notices that come from time passing rather than from an action: a new starter whose
//! accounts are all ready, a task past its due time. Run by the workflows duty's holder, so
//! that several nodes do not each send them; each is given at most once (`notify_once`).

use serde_json::json;
use tenure_core::PersonStatus;

use super::{Notice, events_of, sends};
use crate::workflows::manager_of;
use crate::{Engine, EngineError};

/// What one pass told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoticePass {
    /// New starters whose accounts are ready.
    pub onboarding_ready: usize,
    /// Overdue tasks reminded to their assignee.
    pub overdue: usize,
    /// Overdue tasks escalated.
    pub escalated: usize,
}

impl Engine {
    /// One pass at the engine's clock: new starters whose accounts are all ready, overdue and
    /// escalated tasks. Nothing is looked at while no channel would send it.
    pub async fn notice_pass(&self) -> Result<NoticePass, EngineError> {
        let now = self.now_ms();
        let channels = self.store.channels(self.tenant).await?;
        let wanted = |event: &str| channels.iter().any(|c| sends(events_of(&c.config).as_deref(), event));
        let mut pass = NoticePass::default();
        if wanted("onboarding.ready") {
            pass.onboarding_ready = self.tell_onboarding_ready(now).await?;
        }
        if wanted("task.overdue") || wanted("task.escalated") {
            let told = self.remind_overdue_tasks(now).await?;
            pass.overdue = told.reminded;
            pass.escalated = told.escalated;
        }
        Ok(pass)
    }

    /// Tells, once per person and start date, that a new starter (started within the last
    /// month, active) holds every account the policy grants them, and which.
    async fn tell_onboarding_ready(&self, now: i64) -> Result<usize, EngineError> {
        let today = self.local_day(now).await?;
        let people = self.store.list_people(self.tenant).await?;
        let given = self.store.notices_given(self.tenant, "onboarding.ready:").await?;
        let candidates: Vec<&tenure_core::Person> = people
            .iter()
            .filter(|p| {
                p.status == PersonStatus::Active
                    && p.start_date.is_some_and(|start| {
                        start <= today && (today - start).whole_days() <= crate::workflows::ONBOARDING_DAYS
                    })
                    && p.start_date.is_some_and(|start| !given.contains(&ready_key(p, start)))
            })
            .collect();
        if candidates.is_empty() {
            return Ok(0);
        }
        // Planning a person reads every app's stored accounts: only those who hold an active
        // account already are worth it (one read for all of them).
        let ids: Vec<tenure_core::PersonId> = candidates.iter().map(|p| p.id).collect();
        let holding: std::collections::HashSet<tenure_core::PersonId> = self
            .store
            .accounts_of_people(self.tenant, &ids)
            .await?
            .into_values()
            .flatten()
            .filter(|a| a.active)
            .map(|a| a.link.person_id)
            .collect();
        let mut told = 0;
        for person in candidates {
            let Some(start) = person.start_date else { continue };
            if !holding.contains(&person.id) {
                continue;
            }
            let key = ready_key(person, start);
            let Some(accounts) = self.ready_accounts(person, today).await? else { continue };
            let manager = manager_of(&people, person).map(|m| m.email.clone());
            let mut notice = Notice::new(
                "onboarding.ready",
                format!("{} is ready: {} account(s) set up", person.email, accounts.len()),
            );
            notice.lines = vec![format!(
                "{} ({}), who started {start}, now has every account the policy gives them, all active:",
                person.display(),
                person.email
            )];
            notice.lines.extend(accounts.iter().map(|(app, user)| format!("- {app}: {user}")));
            if let Some(m) = &manager {
                notice.lines.push(format!("Manager: {m}."));
            }
            notice.path = Some(format!("/people/{}", person.email));
            notice.person = Some(person.email.clone());
            notice.manager = manager;
            notice.data = json!({
                "person": person.email,
                "start_date": start.to_string(),
                "accounts": accounts.iter().map(|(app, user)| json!({"app": app, "user_name": user})).collect::<Vec<_>>(),
            });
            if self.notify_once(&key, &notice).await? {
                told += 1;
            }
        }
        Ok(told)
    }
}

fn ready_key(person: &tenure_core::Person, start: time::Date) -> String {
    format!("onboarding.ready:{}:{start}", person.id)
}
