//! Taking someone out of a pool's waiting line out of order, safely and on the record: a
//! workflow's reassignment that names who gets the seat, an offboarding's successor, and a pool
//! whose freed seats go first to the leaver's department or team (`freed_to`). The chosen person
//! is put ahead in the line (the others keep their order), inside the deprovisioning guard's
//! transaction where seats are given, so the seat the leaver frees is theirs through the normal
//! path (planned, seated, created or changed through the queue); each skip is audited
//! (`license.line_skip`, who went ahead of whom and why) and told to license admins.

use std::collections::HashMap;

use serde_json::json;
use tenure_core::licenses::waiting::{self, ordinal};
use tenure_core::licenses::{FreedTo, LicensePool};
use tenure_core::{AppId, OpKind, Person, PersonId, PlannedOp};
use tenure_store::{GuardTx, NewAuditEntry, WaitingRow};

use crate::license_lines::{held_from, pool_name};
use crate::notify::Notice;
use crate::{Engine, EngineError};

/// Who went ahead in a line, and of whom.
#[derive(Debug, Clone)]
pub(crate) struct LineSkip {
    pub pool: String,
    pub person: String,
    /// Their place before (from 1), or `None` when they joined the line to go ahead.
    pub from_place: Option<usize>,
    pub to_place: usize,
    /// Those they went ahead of, in line order.
    pub skipped: Vec<String>,
}

impl LineSkip {
    /// "ann@x skipped the line of notion plus from 3rd to 1st place (ahead of a@x, b@x)".
    pub fn words(&self) -> String {
        let from = match self.from_place {
            Some(p) => format!("from {} to {} place", ordinal(p), ordinal(self.to_place)),
            None => format!("joining it in {} place", ordinal(self.to_place)),
        };
        let ahead =
            if self.skipped.is_empty() { String::new() } else { format!(" (ahead of {})", self.skipped.join(", ")) };
        format!("{} skipped the line of {} {from}{ahead}", self.person, self.pool)
    }
}

/// A person's department, or org unit, compared without case: `None` when the directory says
/// nothing.
pub(crate) fn org_key(person: &Person, by: FreedTo) -> Option<String> {
    let raw = match by {
        FreedTo::Department => person.department.clone(),
        FreedTo::Team => person.org_unit.as_ref().map(ToString::to_string),
        FreedTo::Line => None,
    }?;
    let key = raw.trim().to_lowercase();
    (!key.is_empty()).then_some(key)
}

impl Engine {
    /// Puts `person` at place `at` (from 0) of the line of `app`'s `pool`, joining them to it
    /// when they do not wait in it, ahead of whoever is there: audited with `why`. `None` when
    /// nothing moved (they were there or ahead already, or joined an empty line's end).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn put_ahead_in_line(
        &self,
        tx: &mut GuardTx,
        app: (AppId, &str),
        pool: &LicensePool,
        person: (PersonId, &str),
        at: usize,
        why: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<Option<LineSkip>, EngineError> {
        let (app_id, app_name) = app;
        let (person_id, email) = person;
        let mut line: Vec<WaitingRow> =
            tx.license_waiting_of(app_id).await?.into_iter().filter(|w| w.tier == pool.tier).collect();
        let from = line.iter().position(|w| w.person_id == person_id);
        if from.is_none() {
            let row =
                WaitingRow { app_id, tier: pool.tier.clone(), person_id, email: email.to_owned(), since_ms: now_ms };
            tx.join_waiting(&row, 0).await?;
            line.push(row);
        }
        let index = from.unwrap_or(line.len() - 1);
        if index <= at && from.is_some() {
            return Ok(None);
        }
        if index > at && !tx.put_ahead(app_id, pool.tier.as_deref(), person_id, line[at].person_id).await? {
            return Err(EngineError::Internal(format!("{email} could not be put ahead in the line of {app_name}")));
        }
        let to_place = index.min(at) + 1;
        let skip = LineSkip {
            pool: pool_name(pool),
            person: email.to_owned(),
            from_place: from.map(|i| i + 1),
            to_place,
            skipped: line.get(at..index).unwrap_or_default().iter().map(|w| w.email.clone()).collect(),
        };
        let detail = json!({
            "app": app_name,
            "pool": skip.pool,
            "tier": pool.tier,
            "person": email,
            "from_place": skip.from_place,
            "to_place": skip.to_place,
            "skipped": skip.skipped,
            "why": why,
        });
        let mut entry = NewAuditEntry::new(actor, "license.line_skip", email, &detail);
        entry.person = Some(email);
        entry.app = Some(app_name);
        tx.audit(&entry).await?;
        Ok(Some(skip))
    }

    /// After a guarded transaction queued `ops`: each seat one of them frees (an account
    /// deactivated or deleted, a license removed or moved to another pool) in a pool whose
    /// freed seats go first to the leaver's department or team is steered to the earliest person
    /// of the line from there, put ahead of the others (one per freed seat). Returns the notices.
    pub(crate) async fn steer_freed_seats(
        &self,
        tx: &mut GuardTx,
        ops: &[PlannedOp],
        actor: &str,
        now_ms: i64,
    ) -> Result<Vec<Notice>, EngineError> {
        let frees_any = |o: &PlannedOp| {
            matches!(o.kind, OpKind::Deactivate { .. } | OpKind::Delete { .. } | OpKind::ChangeLicense { .. })
        };
        if !ops.iter().any(frees_any) {
            return Ok(Vec::new());
        }
        let pools = self.store.license_pools(self.tenant).await?;
        let steered: Vec<AppId> =
            pools.iter().filter(|(_, p)| p.freed_to != FreedTo::Line).map(|(app, _)| *app).collect();
        let mut apps: Vec<AppId> = ops.iter().map(|o| o.app_id).filter(|a| steered.contains(a)).collect();
        apps.sort();
        apps.dedup();
        let mut skips: Vec<(LicensePool, LineSkip)> = Vec::new();
        for app in apps {
            let line = tx.license_waiting_of(app).await?;
            if line.is_empty() {
                continue;
            }
            let app_pools: Vec<&LicensePool> = pools.iter().filter(|(a, _)| *a == app).map(|(_, p)| p).collect();
            let held = held_from(tx.accounts_of(app).await?, &[]);
            let seats = held.seats(&app_pools, &line);
            let frees: Vec<(usize, PersonId)> = ops
                .iter()
                .filter(|o| o.app_id == app)
                .filter_map(|o| freed_pool(o, &held, &seats).map(|pool| (pool, o.person_id)))
                .filter(|(pool, _)| app_pools[*pool].freed_to != FreedTo::Line)
                .collect();
            if frees.is_empty() {
                continue;
            }
            let mut ids: Vec<PersonId> = line.iter().map(|w| w.person_id).collect();
            ids.extend(frees.iter().map(|(_, p)| *p));
            let people: HashMap<PersonId, Person> =
                self.store.people_by_ids(self.tenant, &ids).await?.into_iter().map(|p| (p.id, p)).collect();
            let app_name = app_pools[0].app.clone();
            let mut promoted: HashMap<usize, Vec<PersonId>> = HashMap::new();
            for (index, leaver) in frees {
                let pool = app_pools[index];
                let Some(leaver) = people.get(&leaver) else { continue };
                let Some(key) = org_key(leaver, pool.freed_to) else { continue };
                let done = promoted.entry(index).or_default();
                let chosen = seats[index].line.iter().copied().find(|p| {
                    *p != leaver.id
                        && !done.contains(p)
                        && people.get(p).and_then(|p| org_key(p, pool.freed_to)).as_deref() == Some(key.as_str())
                });
                let Some(chosen) = chosen.and_then(|p| people.get(&p)) else { continue };
                let at = done.len();
                done.push(chosen.id);
                let why = format!(
                    "the seat {} frees goes first to their {} ({}): the pool's freed_to is {}",
                    leaver.email,
                    if pool.freed_to == FreedTo::Team { "team" } else { "department" },
                    key,
                    pool.freed_to
                );
                let skip = self
                    .put_ahead_in_line(tx, (app, &app_name), pool, (chosen.id, &chosen.email), at, &why, actor, now_ms)
                    .await?;
                if let Some(skip) = skip {
                    skips.push((pool.clone(), skip));
                }
            }
        }
        Ok(skips.iter().map(|(pool, skip)| line_skip_notice(pool, skip, "the pool's freed_to")).collect())
    }
}

/// The pool whose seat an operation frees, by index in `seats`: a deactivation or deletion of
/// an active account, or a license change of one to a tier another pool takes (or none).
fn freed_pool(op: &PlannedOp, held: &crate::license_lines::Held, seats: &[waiting::PoolSeats]) -> Option<usize> {
    let remote = op.kind.remote_id()?;
    let (active, tier) = held.accounts.get(remote)?;
    if !active {
        return None;
    }
    let now = waiting::pool_of(seats, tier.as_deref());
    match &op.kind {
        OpKind::Deactivate { .. } | OpKind::Delete { .. } => now,
        OpKind::ChangeLicense { license, .. } if waiting::pool_of(seats, license.as_deref()) != now => now,
        _ => None,
    }
}

/// The notice license admins get of a skip: who went ahead, and why.
pub(crate) fn line_skip_notice(pool: &LicensePool, skip: &LineSkip, by: &str) -> Notice {
    let mut notice =
        Notice::new("license.line_skip", format!("{} went ahead in the line of {}", skip.person, skip.pool));
    notice.lines = vec![format!("{}, by {by}.", skip.words())];
    notice.path = Some("/licenses".into());
    notice.data = json!({
        "app": pool.app,
        "tier": pool.tier,
        "owner": pool.owner,
        "person": skip.person,
        "from_place": skip.from_place,
        "to_place": skip.to_place,
        "skipped": skip.skipped,
    });
    notice
}
