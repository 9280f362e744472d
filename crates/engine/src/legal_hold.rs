//! Legal holds in plans: a person on hold loses nothing, whatever asks for it. Plans that people
//! read ([`Engine::plan`], an offboarding's preview) show the held person's losses as withheld,
//! saying why; [`Engine::enqueue_with`], the one door to the queue, withholds them again against
//! the holds its own transaction reads, so no path (propagation, reconciliation, `apply`,
//! offboarding, a reclaim) can queue one.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;
use tenure_core::{AppId, PersonId, Plan, PlannedOp, Withheld, WithheldBy};
use tenure_store::{GuardTx, LegalHold, NewAuditEntry};

use crate::{AppPlan, Engine, EngineError};

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// The day a hold started, as its views and reasons show it.
pub(crate) fn since_date(hold: &LegalHold) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(hold.since_ms) * 1_000_000)
        .ok()
        .and_then(|at| at.date().format(DATE).ok())
        .unwrap_or_else(|| hold.since_ms.to_string())
}

/// The holds in force, by person.
#[derive(Debug, Default)]
pub(crate) struct Holds(HashMap<PersonId, LegalHold>);

impl Holds {
    pub(crate) fn new(holds: Vec<LegalHold>) -> Self {
        Self(holds.into_iter().map(|h| (h.person_id, h)).collect())
    }

    /// Why `op` must not be carried out, if it takes access away from a person on hold.
    pub(crate) fn withholds(&self, op: &PlannedOp) -> Option<Withheld> {
        if !op.kind.is_deprovision() {
            return None;
        }
        let hold = self.0.get(&op.person_id)?;
        let why = format!("held: legal hold since {} by {} ({})", since_date(hold), hold.actor, hold.reason);
        Some(Withheld { op: op.clone(), by: WithheldBy::LegalHold, why })
    }

    /// Moves the plan's losses of held people to its withheld operations.
    pub(crate) fn apply(&self, plan: &mut Plan) {
        if self.0.is_empty() {
            return;
        }
        let mut kept = Vec::with_capacity(plan.ops.len());
        for op in std::mem::take(&mut plan.ops) {
            match self.withholds(&op) {
                Some(withheld) => plan.withheld.push(withheld),
                None => kept.push(op),
            }
        }
        plan.ops = kept;
    }
}

impl Engine {
    /// The tenant's legal holds, by person.
    pub(crate) async fn legal_holds(&self) -> Result<Holds, EngineError> {
        Ok(Holds::new(self.store.legal_holds(self.tenant).await?))
    }

    /// Withholds held people's losses in plans about to be shown or handed on.
    pub(crate) async fn withhold_held(&self, plans: &mut [AppPlan]) -> Result<(), EngineError> {
        let holds = self.legal_holds().await?;
        for p in plans {
            holds.apply(&mut p.plan);
        }
        Ok(())
    }
}

/// One audit entry per held person whose losses a call withheld, naming each loss and the hold.
pub(crate) async fn audit_withheld(
    tx: &mut GuardTx,
    withheld: &[Withheld],
    apps: &HashMap<AppId, &str>,
    actor: &str,
) -> Result<(), EngineError> {
    let mut by_person: BTreeMap<&str, Vec<&Withheld>> = BTreeMap::new();
    for w in withheld.iter().filter(|w| w.by == WithheldBy::LegalHold) {
        by_person.entry(w.op.person.as_str()).or_default().push(w);
    }
    for (person, losses) in by_person {
        let detail = json!({
            "why": losses[0].why,
            "losses": losses.iter().map(|w| json!({
                "app": apps.get(&w.op.app_id),
                "op": w.op.kind.name(),
                "account": w.op.kind.remote_id(),
                "reason": w.op.reason.to_string(),
            })).collect::<Vec<_>>(),
        });
        let mut entry = NewAuditEntry::new(actor, "legal_hold.withheld", person, &detail);
        entry.person = Some(person);
        tx.audit(&entry).await?;
    }
    Ok(())
}
