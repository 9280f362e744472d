//! In-app group changes as queue work. A plan's `GroupOp` (one membership diff per group) is
//! queued as an `OpKind::GroupMembers` operation in the same transaction as the plan's account
//! operations, so it is retried with backoff, shown in `tenure ops` and audited like them.
//!
//! Each group has a pair of its own in the queue (the group's key stands where a person's id
//! would), so one group's changes run one at a time and a group with a change still queued is
//! not planned again until it has run. A change that adds people whose accounts a create makes
//! waits for those people's queued operations (`operation_after`); a member whose create failed
//! for good is left out and added by a later plan.

use std::sync::Arc;

use sha2::Digest;
use tenure_connectors::Connector;
use tenure_core::*;

use crate::Engine;
use crate::worker::OpError;

/// The stand-in person id of an app group's pair in the queue: the same for the same group
/// (names compared as apps compare them, ignoring case), never a real person's (those are
/// random).
pub(crate) fn group_key(app: AppId, group: &str) -> PersonId {
    let mut hash = sha2::Sha256::new();
    hash.update(b"tenure app group\0");
    hash.update(app.0.as_bytes());
    hash.update(group.to_lowercase().as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    PersonId(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// The group change as an operation of the queue.
pub(crate) fn queued(op: &GroupOp) -> PlannedOp {
    PlannedOp {
        app_id: op.app_id,
        person_id: group_key(op.app_id, &op.group),
        person: format!("group {}", op.group),
        kind: OpKind::GroupMembers {
            group: op.group.clone(),
            group_id: op.remote_id.clone(),
            add: op.add.clone(),
            remove: op.remove.clone(),
        },
        reason: Reason::GroupMembership,
    }
}

/// The group change without the removals of accounts whose losses wait for an admin: a held
/// person keeps their access, in-app groups included. `None` when nothing is left to do.
pub(crate) fn without_waiting(op: &GroupOp, waiting: &std::collections::HashSet<(AppId, String)>) -> Option<GroupOp> {
    let mut op = op.clone();
    op.remove.retain(|remote| !waiting.contains(&(op.app_id, remote.clone())));
    (op.remote_id.is_none() || !op.add.is_empty() || !op.remove.is_empty()).then_some(op)
}

/// Carries a queued group change out: creates the group when the plan found none (looking for
/// it first on a retry, so a process killed after the app answered creates nothing twice), and
/// changes its members. New accounts are found by person, among the accounts recorded by now.
/// Returns the group's id in the app.
pub(crate) async fn run(
    engine: &Engine,
    client: &Arc<dyn Connector>,
    op: &PlannedOp,
    attempts: i64,
) -> Result<Option<String>, OpError> {
    let OpKind::GroupMembers { group, group_id, add, remove } = &op.kind else {
        return Err(OpError::permanent(format!("{} is not a group change", op.kind.name())));
    };
    let needs_lookup = add.iter().any(|m| matches!(m, MemberRef::NewAccountOf { .. }));
    let accounts = if needs_lookup {
        engine.store.list_accounts(engine.tenant, op.app_id).await.map_err(OpError::store)?
    } else {
        Vec::new()
    };
    let mut members = Vec::with_capacity(add.len());
    let mut left_out = Vec::new();
    for member in add {
        match member {
            MemberRef::Account { remote_id } => members.push(remote_id.clone()),
            MemberRef::NewAccountOf { person_id, person } => {
                match accounts.iter().find(|a| a.link.person_id == *person_id) {
                    Some(a) => members.push(a.link.remote_id.clone()),
                    // Its create ran before this (the queue orders them) and did not make an
                    // account: it failed, and a later plan adds the person once it exists.
                    None => left_out.push(person.clone()),
                }
            }
        }
    }
    if !left_out.is_empty() {
        tracing::warn!(group = %group, people = ?left_out, "not added to the group: their account was not created");
    }
    let existing = match group_id {
        Some(id) => Some(id.clone()),
        None if attempts > 1 => find_group(client, group).await?,
        None => None,
    };
    let id = match existing {
        Some(id) => {
            if !members.is_empty() || !remove.is_empty() {
                client.change_group_members(&id, &members, remove).await?;
            }
            id
        }
        None => match client.create_group(group, &members).await {
            Ok(created) => created.remote_id,
            // Made meanwhile (by hand, or by an attempt whose answer was lost): use it.
            Err(e) if e.is_conflict() => {
                let id = find_group(client, group).await?.ok_or_else(|| OpError::from(e))?;
                client.change_group_members(&id, &members, &[]).await?;
                id
            }
            Err(e) => return Err(e.into()),
        },
    };
    Ok(Some(id))
}

async fn find_group(client: &Arc<dyn Connector>, name: &str) -> Result<Option<String>, OpError> {
    let groups = client.list_groups().await?;
    Ok(groups.into_iter().find(|g| g.name.eq_ignore_ascii_case(name)).map(|g| g.remote_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_key_is_stable_per_app_and_name_and_ignores_case() {
        let app = AppId::new();
        assert_eq!(group_key(app, "Eng-Team"), group_key(app, "eng-team"));
        assert_ne!(group_key(app, "eng-team"), group_key(app, "sales"));
        assert_ne!(group_key(app, "eng-team"), group_key(AppId::new(), "eng-team"));
    }

    #[test]
    fn held_removals_stay_out_and_an_empty_change_is_dropped() {
        let app = AppId::new();
        let op = GroupOp {
            app_id: app,
            group: "eng".into(),
            remote_id: Some("g1".into()),
            add: vec![],
            remove: vec!["a1".into(), "a2".into()],
        };
        let waiting = std::collections::HashSet::from([(app, "a1".to_owned())]);
        assert_eq!(without_waiting(&op, &waiting).map(|o| o.remove), Some(vec!["a2".to_owned()]));
        let all = std::collections::HashSet::from([(app, "a1".to_owned()), (app, "a2".to_owned())]);
        assert_eq!(without_waiting(&op, &all), None);
    }
}
