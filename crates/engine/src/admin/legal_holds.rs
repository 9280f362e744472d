//! Legal holds: an org admin's "never deprovision" switch on a person (litigation, an
//! investigation). While it stands nothing takes access away from the person by any path (see
//! `crate::legal_hold`); placing it dismisses the person's losses still waiting in the queue, and
//! lifting it has the person planned again, so what the policy says comes due at once.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenure_store::{DirtyMark, LegalHold, NewAuditEntry};
use utoipa::ToSchema;

use super::{Admin, Need};
use crate::{Clock, EngineError};

/// The longest reason kept: a case reference and a sentence, not a document.
pub const MAX_HOLD_REASON: usize = 500;

/// A hold as asked: why (required: the audit log and every withheld loss quote it).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalHoldSpec {
    pub reason: String,
}

/// A person on legal hold.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LegalHoldView {
    pub person: String,
    pub reason: String,
    /// Who placed it, as the audit log names them.
    pub actor: String,
    /// The day it was placed (UTC, YYYY-MM-DD).
    pub since: String,
    pub since_ms: i64,
    /// Losses queued before the hold that placing it dismissed (0 in lists).
    pub dismissed: usize,
}

impl LegalHoldView {
    fn of(hold: &LegalHold, dismissed: usize) -> Self {
        Self {
            person: hold.email.clone(),
            reason: hold.reason.clone(),
            actor: hold.actor.clone(),
            since: crate::legal_hold::since_date(hold),
            since_ms: hold.since_ms,
            dismissed,
        }
    }
}

impl Admin<'_> {
    /// The tenant's legal holds.
    pub async fn legal_holds(&self) -> Result<Vec<LegalHoldView>, EngineError> {
        self.actor.require(Need::TenantRead)?;
        Ok(self.store().legal_holds(self.tenant()).await?.iter().map(|h| LegalHoldView::of(h, 0)).collect())
    }

    /// Places a person on legal hold.
    pub async fn place_legal_hold(&self, email: &str, spec: LegalHoldSpec) -> Result<LegalHoldView, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let reason = spec.reason.trim();
        if reason.is_empty() {
            return Err(EngineError::field("reason", "a hold needs its reason (a case, a ticket)"));
        }
        if reason.chars().count() > MAX_HOLD_REASON || reason.chars().any(char::is_control) {
            return Err(EngineError::field(
                "reason",
                format!("one line of at most {MAX_HOLD_REASON} characters, without control characters"),
            ));
        }
        let person = self
            .store()
            .person_by_email(self.tenant(), email.trim())
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("person {email}")))?;
        let hold = LegalHold {
            person_id: person.id,
            email: person.email.clone(),
            reason: reason.to_owned(),
            actor: self.actor.name.clone(),
            since_ms: crate::SystemClock.now_ms(),
        };
        // In the guard's transaction: a plan being queued meanwhile either sees the hold, or
        // queued its losses before it and they are dismissed here.
        let mut tx = self.store().begin_guarded(self.tenant()).await?;
        if !tx.place_legal_hold(&hold).await? {
            let current = tx.legal_holds().await?.into_iter().find(|h| h.person_id == person.id);
            let since = current.as_ref().map(|h| format!(" since {} by {}", crate::legal_hold::since_date(h), h.actor));
            return Err(EngineError::Refused(format!(
                "{} is on legal hold already{}",
                person.email,
                since.unwrap_or_default()
            )));
        }
        let dismissed = tx.dismiss_queued_losses(person.id, hold.since_ms).await?;
        let detail = json!({"reason": hold.reason, "dismissed": dismissed});
        let mut entry = NewAuditEntry::new(&self.actor.name, "person.legal_hold", &person.email, &detail);
        entry.person = Some(&person.email);
        tx.audit(&entry).await?;
        tx.commit().await?;
        tracing::info!(person = %person.email, dismissed = dismissed.len(), "legal hold placed");
        Ok(LegalHoldView::of(&hold, dismissed.len()))
    }

    /// Lifts a person's legal hold: the person is planned again by the next propagation pass.
    pub async fn lift_legal_hold(&self, email: &str) -> Result<LegalHoldView, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        // By the hold's own record: the person may have left the directory meanwhile.
        let held = self
            .store()
            .legal_holds(self.tenant())
            .await?
            .into_iter()
            .find(|h| h.email.eq_ignore_ascii_case(email.trim()))
            .ok_or_else(|| EngineError::NotFound(format!("legal hold on {email}")))?;
        let mut tx = self.store().begin_guarded(self.tenant()).await?;
        let Some(lifted) = tx.lift_legal_hold(held.person_id).await? else {
            return Err(EngineError::NotFound(format!("legal hold on {email}")));
        };
        tx.mark(&[DirtyMark::person(lifted.person_id)]).await?;
        let detail = json!({"reason": lifted.reason, "placed_by": lifted.actor, "since_ms": lifted.since_ms});
        let mut entry = NewAuditEntry::new(&self.actor.name, "person.legal_hold_lifted", &lifted.email, &detail);
        entry.person = Some(&lifted.email);
        tx.audit(&entry).await?;
        tx.commit().await?;
        tracing::info!(person = %lifted.email, "legal hold lifted");
        Ok(LegalHoldView::of(&lifted, 0))
    }
}
