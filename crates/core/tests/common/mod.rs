//! What the tests share: applying a plan to an app the way a faithful connector would, so a test
//! can check that planning again finds nothing left to do.

#![allow(dead_code)]

use tenure_core::*;
use time::Date;

/// Carries `plan` out against `observed` and `links` as the engine would with an app that does
/// exactly what it is told. New accounts get the ids `new-1`, `new-2`, ...
pub fn apply(plan: &Plan, app: AppId, observed: &mut Vec<RemoteAccount>, links: &mut Vec<AccountLink>, today: Date) {
    let mut created = 0;
    for op in &plan.ops {
        let account = |observed: &mut Vec<RemoteAccount>, id: &str| -> usize {
            observed.iter().position(|a| a.remote_id == id).unwrap_or_else(|| panic!("{id} is not in the app"))
        };
        match &op.kind {
            OpKind::Create { attributes } => {
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
                });
            }
            OpKind::Link { remote_id, .. } => links.push(AccountLink {
                app_id: app,
                remote_id: remote_id.clone(),
                person_id: op.person_id,
                origin: AccountOrigin::Matched,
                deactivated_on: None,
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
        }
    }
}
