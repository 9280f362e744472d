//! What the tests share: applying a plan to an app the way a faithful connector would, so a test
//! can check that planning again finds nothing left to do.

#![allow(dead_code)]

use tenure_core::*;
use time::Date;

/// Carries `plan` out against `observed` and `links` as the engine would with an app that does
/// exactly what it is told. New accounts get the ids `new-1`, `new-2`, ...
pub fn apply(
    plan: &Plan,
    app: AppId,
    observed: &mut Vec<RemoteAccount>,
    links: &mut Vec<AccountLink>,
    groups: &mut Vec<RemoteGroup>,
    today: Date,
) {
    let mut created = 0;
    for op in &plan.ops {
        let account = |observed: &mut Vec<RemoteAccount>, id: &str| -> usize {
            observed.iter().position(|a| a.remote_id == id).unwrap_or_else(|| panic!("{id} is not in the app"))
        };
        match &op.kind {
            OpKind::Create { attributes, .. } => {
                created += 1;
                let remote_id = loop {
                    let candidate = format!("new-{created}");
                    if observed.iter().all(|a| a.remote_id != candidate) {
                        break candidate;
                    }
                    created += 1;
                };
                observed.push(RemoteAccount {
                    remote_id: remote_id.clone(),
                    active: true,
                    attributes: (**attributes).clone(),
                });
                links.push(AccountLink {
                    app_id: app,
                    remote_id,
                    person_id: op.person_id,
                    origin: AccountOrigin::Created,
                    deactivated_on: None,
                    granted_by: op.reason.grant().map(Grant::assignment),
                });
            }
            OpKind::Link { remote_id, .. } => links.push(AccountLink {
                app_id: app,
                remote_id: remote_id.clone(),
                person_id: op.person_id,
                origin: AccountOrigin::Matched,
                deactivated_on: None,
                granted_by: op.reason.grant().map(Grant::assignment),
            }),
            OpKind::Update { remote_id, changes } => {
                let i = account(observed, remote_id);
                for (name, value) in changes {
                    if value.is_empty() {
                        observed[i].attributes.remove(name);
                    } else {
                        observed[i].attributes.insert(name, value.clone());
                    }
                }
            }
            OpKind::Activate { remote_id } | OpKind::Deactivate { remote_id } => {
                let active = matches!(op.kind, OpKind::Activate { .. });
                let i = account(observed, remote_id);
                observed[i].active = active;
                for link in links.iter_mut().filter(|l| &l.remote_id == remote_id) {
                    link.deactivated_on = (!active).then_some(today);
                }
            }
            OpKind::Delete { remote_id } => {
                observed.retain(|a| &a.remote_id != remote_id);
                links.retain(|l| &l.remote_id != remote_id);
            }
            OpKind::ChangeLicense { remote_id, license } => {
                let i = account(observed, remote_id);
                match license {
                    Some(l) => observed[i].attributes.insert(attributes::LICENSE, l.clone()),
                    None => observed[i].attributes.remove(attributes::LICENSE),
                };
            }
            // The planner puts group changes in `plan.group_ops`, applied below; the engine
            // makes them queue operations only when it queues the plan.
            OpKind::GroupMembers { .. } => unreachable!("the planner never plans a group change as an account op"),
        }
    }
    // Groups after accounts, as the engine does: new members' accounts exist by then.
    for op in &plan.group_ops {
        let i = match &op.remote_id {
            Some(id) => groups.iter().position(|g| &g.remote_id == id).unwrap_or_else(|| panic!("no group {id}")),
            None => {
                groups.push(RemoteGroup {
                    remote_id: format!("g-{}", op.group),
                    name: op.group.clone(),
                    members: vec![],
                });
                groups.len() - 1
            }
        };
        for member in &op.add {
            let id = match member {
                MemberRef::Account { remote_id } => remote_id.clone(),
                MemberRef::NewAccountOf { person_id, .. } => links
                    .iter()
                    .rev()
                    .find(|l| l.person_id == *person_id)
                    .map(|l| l.remote_id.clone())
                    .unwrap_or_else(|| panic!("no new account for {person_id}")),
            };
            assert!(!groups[i].members.contains(&id), "{id} added to {} twice", op.group);
            groups[i].members.push(id);
        }
        groups[i].members.retain(|m| !op.remove.contains(m));
    }
}

/// A full plan numbers a colliding derived userName against the creates planned before it; a
/// one-person plan only knows what the app holds. Everything else must agree.
pub fn without_numbering(op: &PlannedOp, app: &App) -> PlannedOp {
    let mut op = op.clone();
    if let (OpKind::Create { attributes, .. }, true) = (&mut op.kind, app.settings.user_name.deduplicates()) {
        std::sync::Arc::make_mut(attributes).remove(tenure_core::attributes::USER_NAME);
    }
    op
}

/// Where a person's incremental plan differs from their part of the full plan, if anywhere.
pub fn incremental_mismatch(
    state: &tenure_core::reconcile::AppState<'_>,
    people: &[Person],
    groups: &[Group],
    full: &Plan,
    today: Date,
) -> Option<String> {
    let dir = tenure_core::reconcile::DirectoryIndex::new(people, groups);
    let prepared = tenure_core::reconcile::Prepared::new(&dir, state);
    let strip = |op: &PlannedOp| without_numbering(op, state.app);
    people.iter().find_map(|person| {
        let alone: Vec<PlannedOp> = prepared.plan_person(&dir, person, today).ops.iter().map(strip).collect();
        let part: Vec<PlannedOp> = full.ops.iter().filter(|o| o.person_id == person.id).map(strip).collect();
        (alone != part).then(|| format!("incremental plan of {} differs: {alone:#?} vs {part:#?}", person.email))
    })
}
