//! Offboarding a person as an act: Tenure's own mark that the person holds no account anywhere,
//! laid over what the source says, and the plan of that person in every app where Tenure knows
//! an account of theirs.
//!
//! The mark is not a change to the directory: a source that still lists the person active (a
//! stale export, an IdP that has not caught up) cannot re-grant them, because every plan reads
//! people through [`Engine::people`], which turns an effective offboarding into
//! `PersonStatus::Offboarded`. A start date after the offboarding (a re-hire the source
//! announces) lifts it, as does `--undo`.

use std::collections::HashSet;

use tenure_core::guard::Coverage;
use tenure_core::reconcile::{AppState, DirectoryIndex, Prepared};
use tenure_core::*;
use tenure_store::{AppRecord, Offboarding};

use crate::{AppPlan, Clock, Engine, EngineError};

/// Lays effective offboardings over people as the source describes them.
pub(crate) fn overlay(people: &mut [Person], offboardings: &[Offboarding], today: time::Date) {
    if offboardings.is_empty() {
        return;
    }
    let by_person: std::collections::HashMap<PersonId, &Offboarding> =
        offboardings.iter().map(|o| (o.person_id, o)).collect();
    for person in people.iter_mut() {
        if let Some(o) = by_person.get(&person.id)
            && applies(person, o, today)
        {
            person.status = PersonStatus::Offboarded;
        }
    }
}

/// Whether an offboarding holds for the person today: effective, and not followed by a start
/// date the source gives later (a re-hire).
fn applies(person: &Person, offboarding: &Offboarding, today: time::Date) -> bool {
    offboarding.effective <= today && person.start_date.is_none_or(|start| start <= offboarding.effective)
}

impl Engine {
    /// The directory's people with Tenure's offboardings laid over them: what every plan reads.
    /// The sources an identity provider pushes into (SCIM), whose people's matches follow each
    /// app's correlation policy for pushed people.
    pub(crate) async fn pushed_sources(&self) -> Result<Vec<tenure_core::SourceId>, EngineError> {
        Ok(self.store.list_sources(self.tenant).await?.into_iter().filter(|s| s.kind == "scim").map(|s| s.id).collect())
    }

    pub(crate) async fn people(&self, today: time::Date) -> Result<Vec<Person>, EngineError> {
        let mut people = self.store.list_people(self.tenant).await?;
        let offboardings = self.store.offboardings(self.tenant).await?;
        overlay(&mut people, &offboardings, today);
        Ok(people)
    }

    /// One person's plan in every enabled app where they are known (linked accounts), against
    /// the accounts Tenure last saw or wrote, as propagation plans a person. `offboarded` plans
    /// them as offboarded whatever the store says (the preview of an offboarding not yet
    /// recorded). Manual apps are planned too: their operations become tasks, not queue work.
    pub(crate) async fn plan_person_everywhere(
        &self,
        person: PersonId,
        offboarded: bool,
        today: time::Date,
    ) -> Result<(Vec<AppPlan>, Vec<AppRecord>), EngineError> {
        let read_at_ms = crate::SystemClock.now_ms();
        let mut people = self.people(today).await?;
        if offboarded && let Some(p) = people.iter_mut().find(|p| p.id == person) {
            p.status = PersonStatus::Offboarded;
        }
        let groups = self.store.list_groups(self.tenant).await?;
        let dir = DirectoryIndex::new(&people, &groups).with_pushed_sources(self.pushed_sources().await?);
        let Some(who) = dir.person(person).or_else(|| people.iter().find(|p| p.id == person)) else {
            return Err(EngineError::NotFound(format!("person {person}")));
        };
        let apps: Vec<AppRecord> =
            self.store.list_apps(self.tenant).await?.into_iter().map(crate::app_auth::for_planning).collect();
        let holds = self.legal_holds().await?;
        let mut plans = Vec::new();
        let mut disabled = Vec::new();
        for record in apps {
            if record.disabled {
                disabled.push(record);
                continue;
            }
            let app = &record.app;
            let assignments = self.store.list_assignments(self.tenant, app.id).await?;
            let stored = self.store.list_accounts(self.tenant, app.id).await?;
            let links: Vec<AccountLink> = stored.iter().map(|a| a.link.clone()).collect();
            let observed: Vec<RemoteAccount> = stored
                .into_iter()
                .map(|a| RemoteAccount { remote_id: a.link.remote_id, active: a.active, attributes: a.attributes })
                .collect();
            let state = AppState { app, assignments: &assignments, links: &links, observed: &observed, groups: &[] };
            let prepared = Prepared::new(&dir, &state);
            let mut plan = prepared.plan_person(&dir, who, today);
            // In-app groups follow at the next full plan of the app; an offboarding's losses
            // take the person's accounts, and their group memberships with them.
            plan.group_ops.clear();
            holds.apply(&mut plan);
            // The catalog's notes (a loss that cannot be undone) reach the preview as they reach plans.
            let notes = crate::profile::notes(app, &plan, &links, Some(&observed));
            plans.push(AppPlan {
                app: app.clone(),
                plan,
                observed: observed
                    .into_iter()
                    .filter(|a| links.iter().any(|l| l.remote_id == a.remote_id && l.person_id == person))
                    .collect(),
                managed: links.len(),
                covered: Coverage::People(HashSet::from([person])),
                read_at_ms,
                notes,
            });
        }
        Ok((plans, disabled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> time::Date {
        time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).unwrap()
    }

    #[test]
    fn an_offboarding_holds_from_its_date_until_a_later_start() {
        let mut person = tenure_testkit_free_person();
        let o = Offboarding {
            person_id: person.id,
            email: person.email.clone(),
            effective: date("2026-03-10"),
            actor: "cli".into(),
            created_ms: 0,
        };
        assert!(!applies(&person, &o, date("2026-03-09")), "not before its date");
        assert!(applies(&person, &o, date("2026-03-10")));
        person.start_date = Some(date("2025-01-01"));
        assert!(applies(&person, &o, date("2026-04-01")), "an old start date changes nothing");
        person.start_date = Some(date("2026-05-01"));
        assert!(!applies(&person, &o, date("2026-05-02")), "re-hired by the source");
        let mut people = vec![person.clone()];
        person.start_date = None;
        people.push(Person { id: PersonId::new(), ..person });
        overlay(&mut people, &[o], date("2026-03-11"));
        assert_eq!(people[0].status, PersonStatus::Active);
        assert_eq!(people[1].status, PersonStatus::Active, "another person");
    }

    fn tenure_testkit_free_person() -> Person {
        Person {
            id: PersonId::new(),
            source_id: SourceId::new(),
            source_key: "E1".into(),
            user_name: "ann@example.com".into(),
            email: "ann@example.com".into(),
            given_name: None,
            family_name: None,
            display_name: None,
            department: None,
            title: None,
            employee_id: None,
            manager_key: None,
            org_unit: None,
            status: PersonStatus::Active,
            start_date: None,
            leave_date: None,
            custom: Default::default(),
        }
    }
}
