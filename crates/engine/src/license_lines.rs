//! Full license pools' waiting lines, where plans meet the queue. A plan's creates,
//! re-activations and moves to another pool's tier in an app with pools get a seat only while one
//! is free for them (`tenure_core::licenses::waiting`); the others are withheld with their place
//! in line, and the line is kept in the store. Seats in use are the app's active accounts as
//! Tenure last read or wrote them, plus the creates and re-activations already queued, with the
//! tiers of license changes already queued (a seat given is taken before the app shows it). A
//! seat that frees up (a loss carried out, more seats bought) goes to the first in line on the
//! next propagation pass, which plans them again ([`Engine::freed_seats`]); who is first can be
//! changed by a line skip (`license_skip.rs`).

use std::collections::HashMap;

use serde_json::json;
use tenure_core::licenses::LicensePool;
use tenure_core::licenses::waiting::{self, LineChange, PoolSeats};
use tenure_core::{AppId, OpKind, Plan, PlannedOp, WithheldBy, attributes::LICENSE};
use tenure_store::{DirtyMark, GuardTx, NewAuditEntry, StoredAccount, WaitingRow};

use crate::notify::Notice;
use crate::{AppPlan, Engine, EngineError};

/// The pool as people read it: "jira standard", or the app's name for its whole pool.
pub(crate) fn pool_name(pool: &LicensePool) -> String {
    match &pool.tier {
        Some(tier) => format!("{} {tier}", pool.app),
        None => pool.app.clone(),
    }
}

/// What an app holds, for counting seats: each account's tier and state by its id.
pub(crate) struct Held {
    /// Each account's state and tier, by its id in the app.
    pub(crate) accounts: HashMap<String, (bool, Option<String>)>,
    /// Tiers of queued creates and re-activations.
    queued: Vec<Option<String>>,
}

impl Held {
    pub(crate) fn tier_of(&self, remote: &str) -> Option<String> {
        self.accounts.get(remote).and_then(|(_, tier)| tier.clone())
    }

    /// Each pool's seats in use, by the pool that takes each active account.
    pub(crate) fn seats(&self, pools: &[&LicensePool], lines: &[WaitingRow]) -> Vec<PoolSeats> {
        let mut seats: Vec<PoolSeats> = pools
            .iter()
            .map(|p| PoolSeats {
                tier: p.tier.clone(),
                name: pool_name(p),
                seats: p.seats,
                used: 0,
                line: lines.iter().filter(|w| w.tier == p.tier).map(|w| w.person_id).collect(),
            })
            .collect();
        let active = self.accounts.values().filter(|(active, _)| *active).map(|(_, tier)| tier);
        for tier in active.chain(self.queued.iter()) {
            if let Some(i) = waiting::pool_of(&seats, tier.as_deref()) {
                seats[i].used += 1;
            }
        }
        seats
    }
}

fn takes_seat(plan: &Plan) -> bool {
    plan.ops.iter().any(waiting::may_take_seat)
}

/// What an app holds, from its stored accounts and its queued creates, re-activations and
/// license changes.
pub(crate) fn held_from(stored: Vec<StoredAccount>, pending: &[PlannedOp]) -> Held {
    let tier = |attrs: &tenure_core::attributes::Attributes| attrs.get(LICENSE).filter(|t| !t.is_empty()).cloned();
    let mut accounts: HashMap<String, (bool, Option<String>)> =
        stored.into_iter().map(|a| (a.link.remote_id, (a.active, tier(&a.attributes)))).collect();
    // A queued license change (a move's new tier) holds the new tier's seat already, and leaves
    // the old one to whoever is next.
    for op in pending {
        if let OpKind::ChangeLicense { remote_id, license: Some(t) } = &op.kind
            && let Some(account) = accounts.get_mut(remote_id)
        {
            account.1 = Some(t.clone());
        }
    }
    // A queued re-activation takes the seat of its account's tier.
    let queued = pending
        .iter()
        .filter_map(|op| match &op.kind {
            OpKind::Activate { remote_id } => Some(accounts.get(remote_id).and_then(|(_, t)| t.clone())),
            OpKind::Create { attributes, .. } => Some(tier(attributes)),
            _ => None,
        })
        .collect();
    Held { accounts, queued }
}

impl Engine {
    async fn held_seats(&self, app: AppId) -> Result<Held, EngineError> {
        let stored = self.store.list_accounts(self.tenant, app).await?;
        let pending = self.store.pending_seat_ops(self.tenant, app).await?;
        Ok(held_from(stored, &pending))
    }

    /// Seats the plans' creates and re-activations as a plan to show: who would wait, and where
    /// in line (nothing is written).
    pub(crate) async fn seat_for_display(&self, plans: &mut [AppPlan]) -> Result<(), EngineError> {
        let pools = self.store.license_pools(self.tenant).await?;
        if pools.is_empty() {
            return Ok(());
        }
        let lines = self.store.license_waiting(self.tenant, None).await?;
        for p in plans.iter_mut() {
            let app_pools: Vec<&LicensePool> =
                pools.iter().filter(|(a, _)| *a == p.app.id).map(|(_, pool)| pool).collect();
            if app_pools.is_empty() || !takes_seat(&p.plan) {
                continue;
            }
            let line: Vec<WaitingRow> = lines.iter().filter(|w| w.app_id == p.app.id).cloned().collect();
            let held = self.held_seats(p.app.id).await?;
            let seats = held.seats(&app_pools, &line);
            let covered = p.covered.clone();
            waiting::seat(&mut p.plan, &seats, &|person| covered.covers(person), &|remote: &str| held.tier_of(remote));
        }
        Ok(())
    }

    /// Seats the live plans' creates and re-activations inside the guarded transaction, writing
    /// the lines' changes with their audit entries. Returns the notices for license admins.
    pub(crate) async fn seat_in(
        &self,
        tx: &mut GuardTx,
        live: &mut [AppPlan],
        actor: &str,
        now_ms: i64,
    ) -> Result<Vec<Notice>, EngineError> {
        let mut notices = Vec::new();
        let pools = self.store.license_pools(self.tenant).await?;
        if pools.is_empty() {
            return Ok(notices);
        }
        for p in live.iter_mut() {
            let app_pools: Vec<&LicensePool> =
                pools.iter().filter(|(a, _)| *a == p.app.id).map(|(_, pool)| pool).collect();
            // A refused plan answers for nobody, whatever its coverage says.
            if app_pools.is_empty() || p.plan.refused.is_some() {
                continue;
            }
            // A plan made for people to read waits already: it is seated again here, against the
            // line as this transaction sees it.
            let (waiting_again, other): (Vec<_>, Vec<_>) =
                std::mem::take(&mut p.plan.withheld).into_iter().partition(|w| w.by == WithheldBy::WaitingForSeat);
            p.plan.withheld = other;
            p.plan.ops.extend(waiting_again.into_iter().map(|w| w.op));
            let line = tx.license_waiting_of(p.app.id).await?;
            if line.is_empty() && !takes_seat(&p.plan) {
                continue;
            }
            let pending = tx.pending_seat_ops(p.app.id).await?;
            let held = held_from(tx.accounts_of(p.app.id).await?, &pending);
            let seats = held.seats(&app_pools, &line);
            let covered = p.covered.clone();
            let change = waiting::seat(&mut p.plan, &seats, &|person| covered.covers(person), &|remote: &str| {
                held.tier_of(remote)
            });
            notices.extend(self.record_line_change(tx, p, &app_pools, &seats, &change, actor, now_ms).await?);
        }
        Ok(notices)
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_line_change(
        &self,
        tx: &mut GuardTx,
        p: &AppPlan,
        pools: &[&LicensePool],
        seats: &[PoolSeats],
        change: &LineChange,
        actor: &str,
        now_ms: i64,
    ) -> Result<Vec<Notice>, EngineError> {
        for (seq, (pool, person, email)) in change.joined.iter().enumerate() {
            let row = WaitingRow {
                app_id: p.app.id,
                tier: pools[*pool].tier.clone(),
                person_id: *person,
                email: email.clone(),
                since_ms: now_ms,
            };
            tx.join_waiting(&row, seq as i64).await?;
            let why = p.plan.withheld.iter().find(|w| w.op.person_id == *person).map(|w| w.why.clone());
            let detail = json!({"app": p.app.name, "pool": seats[*pool].name, "why": why});
            let mut entry = NewAuditEntry::new(actor, "license.waiting", email, &detail);
            entry.person = Some(email);
            entry.app = Some(&p.app.name);
            tx.audit(&entry).await?;
        }
        for (pool, person) in change.seated.iter().chain(&change.left) {
            tx.leave_waiting(p.app.id, pools[*pool].tier.as_deref(), *person).await?;
        }
        let mut notices = Vec::new();
        for (index, pool) in pools.iter().enumerate() {
            let name = &seats[index].name;
            let joined: Vec<&str> =
                change.joined.iter().filter(|(i, ..)| *i == index).map(|(_, _, e)| e.as_str()).collect();
            if !joined.is_empty() && seats[index].line.is_empty() {
                let mut notice = Notice::new("license.pool_full", format!("License pool {name} is full"));
                notice.lines = vec![
                    format!("All {} seats of {name} are in use: {} wait for a seat.", pool.seats, joined.join(", ")),
                    format!(
                        "Buy seats (`tenure license set {}{} --seats N ...`) or reclaim unused ones; \
                         `tenure license waiting --app {}` shows the line.",
                        pool.app,
                        pool.tier.as_ref().map(|t| format!(" --tier {t}")).unwrap_or_default(),
                        pool.app
                    ),
                ];
                notice.path = Some("/licenses".into());
                notice.data = json!({"app": pool.app, "tier": pool.tier, "owner": pool.owner, "waiting": joined});
                notices.push(notice);
            }
            let seated: Vec<String> = change
                .seated
                .iter()
                .filter(|(i, _)| *i == index)
                .filter_map(|(_, person)| p.plan.ops.iter().find(|o| o.person_id == *person).map(|o| o.person.clone()))
                .collect();
            if !seated.is_empty() {
                let mut notice = Notice::new("license.seat_freed", format!("A seat of {name} freed up"));
                let left = seats[index].line.len().saturating_sub(seated.len());
                notice.lines = vec![
                    format!("Seats of {name} freed up and went to the next in line: {}.", seated.join(", ")),
                    format!("{left} still wait."),
                ];
                notice.path = Some("/licenses".into());
                notice.data = json!({"app": pool.app, "tier": pool.tier, "owner": pool.owner, "seated": seated});
                notices.push(notice);
            }
        }
        Ok(notices)
    }

    /// Marks for the first in line of every pool that has free seats: the next propagation pass
    /// plans them, and their seat is given then.
    pub(crate) async fn freed_seats(&self) -> Result<Vec<DirtyMark>, EngineError> {
        let lines = self.store.license_waiting(self.tenant, None).await?;
        if lines.is_empty() {
            return Ok(Vec::new());
        }
        let pools = self.store.license_pools(self.tenant).await?;
        let mut marks = Vec::new();
        let mut apps: Vec<AppId> = lines.iter().map(|w| w.app_id).collect();
        apps.dedup();
        for app in apps {
            let app_pools: Vec<&LicensePool> = pools.iter().filter(|(a, _)| *a == app).map(|(_, pool)| pool).collect();
            let line: Vec<WaitingRow> = lines.iter().filter(|w| w.app_id == app).cloned().collect();
            let held = self.held_seats(app).await?;
            for pool in held.seats(&app_pools, &line) {
                let free = pool.seats.saturating_sub(pool.used);
                let first = pool.line.iter().take(usize::try_from(free).unwrap_or(usize::MAX));
                marks.extend(first.map(|person| DirtyMark::pair(app, *person)));
            }
        }
        Ok(marks)
    }
}
