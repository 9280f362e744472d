//! Firing: which people a workflow's trigger names today, each started as a run with its
//! occasion. A run is unique per (workflow, person, occasion), so firing is idempotent.

use serde_json::json;
use tenure_core::{Person, PersonStatus};
use tenure_store::{AuditRecord, NewRun, Tx, WorkflowRecord};

use super::manager_of;
use super::model::{Definition, Trigger};
use crate::{Engine, EngineError};

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// An onboarding is looked for this many days after the start date at most: later, the
/// person is no new starter.
pub(crate) const ONBOARDING_DAYS: i64 = 30;

struct Due<'a> {
    workflow: &'a WorkflowRecord,
    person: &'a Person,
    occasion: String,
}

impl Engine {
    /// Starts the runs today's triggers call for; how many were new.
    pub(super) async fn fire(
        &self,
        workflows: &[WorkflowRecord],
        today: time::Date,
        now: i64,
        fence: &tenure_store::Fence,
    ) -> Result<usize, EngineError> {
        let mut defined = Vec::new();
        for w in workflows {
            match (serde_json::from_value::<Definition>(w.definition.clone()), time::Date::parse(&w.created_day, DATE))
            {
                (Ok(d), Ok(day)) => defined.push((w, d, day)),
                _ => tracing::warn!(workflow = %w.name, "workflow definition unreadable; skipped"),
            }
        }
        let people = self.store.list_people(self.tenant).await?;
        let mut due: Vec<Due<'_>> = Vec::new();
        let mut offboardings = None;
        for (workflow, def, created_day) in &defined {
            match &def.trigger {
                Trigger::StartDate { offset_days } | Trigger::LeaveDate { offset_days } => {
                    let leave = matches!(def.trigger, Trigger::LeaveDate { .. });
                    for person in &people {
                        let Some(date) = (if leave { person.leave_date } else { person.start_date }) else { continue };
                        let Some(day) = date.checked_add(time::Duration::days(*offset_days)) else { continue };
                        // From the day the workflow was made: dates long past do not all fire at once.
                        if day <= today && day >= *created_day {
                            let kind = if leave { "leave-date" } else { "start-date" };
                            due.push(Due { workflow, person, occasion: format!("{kind} {date}") });
                        }
                    }
                }
                Trigger::Offboarding => {
                    if offboardings.is_none() {
                        offboardings = Some(self.store.offboardings(self.tenant).await?);
                    }
                    for o in offboardings.iter().flatten() {
                        if o.effective > today || o.effective < *created_day {
                            continue;
                        }
                        if let Some(person) = people.iter().find(|p| p.id == o.person_id) {
                            due.push(Due { workflow, person, occasion: format!("offboarding {}", o.effective) });
                        }
                    }
                }
                Trigger::Onboarding => {
                    for person in &people {
                        let Some(start) = person.start_date else { continue };
                        let recent =
                            start <= today && start >= *created_day && (today - start).whole_days() <= ONBOARDING_DAYS;
                        if recent && person.status == PersonStatus::Active && self.accounts_ready(person, today).await?
                        {
                            due.push(Due { workflow, person, occasion: format!("onboarding {start}") });
                        }
                    }
                }
                Trigger::DepartmentChange | Trigger::OrgUnitChange | Trigger::ManagerChange => {}
            }
        }

        // Changes: what differs from the facts last seen, and the facts to record.
        let changes: Vec<_> = defined.iter().filter(|(_, d, _)| d.trigger.watched_fact().is_some()).collect();
        let mut seen_now = Vec::new();
        if !changes.is_empty() {
            let seen = self.store.workflow_facts(self.tenant).await?;
            for person in &people {
                let facts = facts_of(&people, person);
                let Some(old) = seen.get(&person.id) else {
                    // First seen: nothing changed yet.
                    seen_now.push((person.id, facts));
                    continue;
                };
                if *old == facts {
                    continue;
                }
                for (workflow, def, _) in &changes {
                    let Some(fact) = def.trigger.watched_fact() else { continue };
                    if old.get(fact) != facts.get(fact) {
                        let shown =
                            |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).unwrap_or("(none)").to_owned();
                        let occasion =
                            format!("{fact} {} -> {} on {today}", shown(old.get(fact)), shown(facts.get(fact)));
                        due.push(Due { workflow, person, occasion });
                    }
                }
                seen_now.push((person.id, facts));
            }
        }

        // Runs already started are left out before writing: a pass with nothing new writes nothing.
        let fired = self.store.run_keys(self.tenant).await?;
        due.retain(|d| !fired.contains(&(d.workflow.id, d.person.id, d.occasion.clone())));
        if due.is_empty() && seen_now.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_fenced(fence).await?;
        let mut started = 0;
        for d in due {
            started += self.start(&mut tx, d, &people, now).await?;
        }
        for (person, facts) in &seen_now {
            tx.set_workflow_facts(self.tenant, *person, facts, now).await?;
        }
        tx.commit().await?;
        Ok(started)
    }

    /// Starts one run unless it ran for this occasion already; 1 when it is new.
    async fn start(&self, tx: &mut Tx, due: Due<'_>, people: &[Person], now: i64) -> Result<usize, EngineError> {
        let manager = manager_of(people, due.person).map(|m| m.email.clone());
        let run = NewRun {
            workflow: due.workflow,
            person_id: due.person.id,
            person: &due.person.email,
            manager: manager.as_deref(),
            occasion: &due.occasion,
        };
        let Some(id) = tx.start_run(self.tenant, &run, now).await? else { return Ok(0) };
        let detail = json!({"run": id, "workflow": due.workflow.name, "occasion": due.occasion});
        tx.audit(
            self.tenant,
            AuditRecord {
                actor: &format!("workflow:{}", due.workflow.name),
                action: "workflow.run_started",
                subject: &id.to_string(),
                person: Some(&due.person.email),
                app: None,
                detail: &detail,
            },
        )
        .await?;
        tracing::info!(workflow = %due.workflow.name, run = %id, occasion = %due.occasion, "workflow run started");
        Ok(1)
    }

    /// Whether every account the policy grants the person exists and is active: their plan in
    /// every app asks for nothing, and they hold at least one account.
    async fn accounts_ready(&self, person: &Person, today: time::Date) -> Result<bool, EngineError> {
        Ok(self.ready_accounts(person, today).await?.is_some())
    }

    /// The person's active accounts (app, user name) when every account the policy grants them
    /// exists and is active; `None` while any is missing or they hold none.
    pub(crate) async fn ready_accounts(
        &self,
        person: &Person,
        today: time::Date,
    ) -> Result<Option<Vec<(String, String)>>, EngineError> {
        let (plans, _) = match self.plan_person_everywhere(person.id, false, today).await {
            Ok(planned) => planned,
            Err(EngineError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let pending = plans.iter().any(|p| p.plan.ops.iter().any(|o| o.person_id == person.id));
        let held: Vec<(String, String)> = plans
            .iter()
            .flat_map(|p| {
                p.observed.iter().filter(|a| a.active).map(|a| {
                    let name = if a.user_name().is_empty() { a.remote_id.clone() } else { a.user_name().to_owned() };
                    (p.app.name.clone(), name)
                })
            })
            .collect();
        Ok((!pending && !held.is_empty()).then_some(held))
    }
}

/// What change triggers watch, as last seen.
fn facts_of(people: &[Person], person: &Person) -> serde_json::Value {
    let manager = manager_of(people, person).map(|m| m.email.clone()).or_else(|| person.manager_key.clone());
    json!({"department": person.department, "org_unit": person.org_unit, "manager": manager})
}
