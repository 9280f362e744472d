//! The waiting list of a full pool. A plan's operations that take a seat (a create, the
//! re-activation of an account, a move's license change to another pool's tier) in an app with
//! license pools get one only while the pool has a
//! free seat that nobody earlier in line is owed; the others wait, withheld, with their place in
//! line ("waiting for a seat in jira standard, 3rd in line"). Pure: the engine reads the pools,
//! what the app holds and the durable lines, and writes back what changed.

use crate::attributes::LICENSE;
use crate::{OpKind, PersonId, Plan, PlannedOp, Withheld, WithheldBy};

/// One pool of an app as the waiting list sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSeats {
    /// The tier the pool takes (`None`: every account no tier's pool takes).
    pub tier: Option<String>,
    /// The pool as people read it: "jira standard", "slack".
    pub name: String,
    pub seats: u64,
    /// Active accounts of the app the pool takes now.
    pub used: u64,
    /// Who waits, first in line first.
    pub line: Vec<PersonId>,
}

/// What a plan changed in its app's lines, by pool index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineChange {
    /// People who joined a line, with their email, in line order.
    pub joined: Vec<(usize, PersonId, String)>,
    /// People of a line who got their seat.
    pub seated: Vec<(usize, PersonId)>,
    /// People of a line the plan no longer grants the app: they leave it.
    pub left: Vec<(usize, PersonId)>,
}

/// The pool that takes an account of `tier`: the tier's own pool, else the app's whole pool.
pub fn pool_of(pools: &[PoolSeats], tier: Option<&str>) -> Option<usize> {
    tier.and_then(|t| pools.iter().position(|p| p.tier.as_deref() == Some(t)))
        .or_else(|| pools.iter().position(|p| p.tier.is_none()))
}

/// "1st", "2nd", "3rd", "4th", "11th", "21st".
pub fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The tier a seat-taking operation takes a seat of, or `None` when it takes none. A license
/// change the policy asks for (an assignment's license parameter names another tier now: a
/// move) takes a seat of the new tier's pool when that is another pool; a handoff a workflow
/// or an offboarding asks for does not, the seat it gives being the one its leaver frees.
fn seat_tier(
    op: &PlannedOp,
    pools: &[PoolSeats],
    account_tier: &dyn Fn(&str) -> Option<String>,
) -> Option<Option<String>> {
    match &op.kind {
        OpKind::Create { attributes, .. } => Some(attributes.get(LICENSE).filter(|t| !t.is_empty()).cloned()),
        OpKind::Activate { remote_id } => Some(account_tier(remote_id)),
        OpKind::ChangeLicense { remote_id, license: Some(tier) } if op.reason.grant().is_some() => {
            let now = account_tier(remote_id);
            (pool_of(pools, Some(tier)) != pool_of(pools, now.as_deref())).then(|| Some(tier.clone()))
        }
        _ => None,
    }
}

/// Whether an operation may take a seat of a pool: a create, a re-activation, or a license
/// change the policy asks for (see [`seat`]).
pub fn may_take_seat(op: &PlannedOp) -> bool {
    match &op.kind {
        OpKind::Create { .. } | OpKind::Activate { .. } => true,
        OpKind::ChangeLicense { license: Some(_), .. } => op.reason.grant().is_some(),
        _ => false,
    }
}

/// Gives the plan's seat-taking operations their seats, in line order, and withholds the rest
/// with their place in line. `covers` says whose pairs the plan answers for: a person in line it
/// covers without a seat-taking operation no longer needs the seat. `account_tier` is an
/// existing account's tier, by its id in the app.
pub fn seat(
    plan: &mut Plan,
    pools: &[PoolSeats],
    covers: &dyn Fn(PersonId) -> bool,
    account_tier: &dyn Fn(&str) -> Option<String>,
) -> LineChange {
    let mut change = LineChange::default();
    if pools.is_empty() {
        return change;
    }
    // Each pool's candidates: the plan's seat-taking operations, by index.
    let mut wanting: Vec<Vec<usize>> = vec![Vec::new(); pools.len()];
    for (i, op) in plan.ops.iter().enumerate() {
        if let Some(tier) = seat_tier(op, pools, account_tier)
            && let Some(pool) = pool_of(pools, tier.as_deref())
        {
            wanting[pool].push(i);
        }
    }
    let mut withheld: Vec<(usize, String)> = Vec::new();
    for (index, pool) in pools.iter().enumerate() {
        let ops = &wanting[index];
        let wants = |person: PersonId| ops.iter().copied().find(|&i| plan.ops[i].person_id == person);
        // The line as it stands, without those who no longer want a seat, then the newcomers
        // in plan order.
        let mut order: Vec<(PersonId, Option<usize>)> = Vec::new();
        for &person in &pool.line {
            match wants(person) {
                None if covers(person) => change.left.push((index, person)),
                found => order.push((person, found)),
            }
        }
        for &i in ops {
            let person = plan.ops[i].person_id;
            if !order.iter().any(|(p, _)| *p == person) {
                order.push((person, Some(i)));
            }
        }
        let mut free = pool.seats.saturating_sub(pool.used);
        let mut place = 0;
        for (person, op) in order {
            let in_line = pool.line.contains(&person);
            if free > 0 {
                // A seat for the first in line, whether or not this plan plans them: one not
                // planned now keeps it until their own plan comes.
                free -= 1;
                if op.is_some() && in_line {
                    change.seated.push((index, person));
                }
                if op.is_some() || !in_line {
                    continue;
                }
            }
            place += 1;
            if let Some(i) = op {
                if !in_line {
                    change.joined.push((index, person, plan.ops[i].person.clone()));
                }
                withheld.push((i, format!("waiting for a seat in {}, {} in line", pool.name, ordinal(place))));
            }
        }
    }
    if withheld.is_empty() {
        return change;
    }
    withheld.sort_by_key(|(i, _)| *i);
    let mut whys = withheld.into_iter().peekable();
    let mut kept = Vec::with_capacity(plan.ops.len());
    for (i, op) in std::mem::take(&mut plan.ops).into_iter().enumerate() {
        match whys.next_if(|(w, _)| *w == i) {
            Some((_, why)) => plan.withheld.push(Withheld { op, by: WithheldBy::WaitingForSeat, why }),
            None => kept.push(op),
        }
    }
    plan.ops = kept;
    change
}

#[cfg(test)]
mod tests;
