//! Manual apps: an app without a connector is still planned (from the accounts Tenure last
//! recorded for it), and each planned operation becomes a task for the app's owner instead of
//! queue work. Closing a task records what the owner did, so the next plan starts from it.

use serde_json::json;
use tenure_core::*;
use tenure_store::{AuditRecord, NewTask};

use crate::notify::Notice;
use crate::{AppPlan, Engine, EngineError};

/// A task's words: what to do, for whom, where.
pub(crate) fn task_text(app: &App, op: &PlannedOp, person: Option<&Person>) -> String {
    let who = match person {
        Some(p) => format!("{} ({})", p.display(), p.email),
        None => op.person.clone(),
    };
    let account = op.kind.remote_id().map(|r| format!(" (account {r})")).unwrap_or_default();
    let what = match &op.kind {
        OpKind::Create { attributes, active } => {
            let role = attributes.get(tenure_core::attributes::ROLE).map(|r| format!(", role {r}")).unwrap_or_default();
            let disabled = if *active { "" } else { "a disabled " };
            let article = if *active { "an " } else { "" };
            format!("create {article}{disabled}account for {who}{role}")
        }
        OpKind::Link { .. } => format!("confirm the account of {who}{account} is theirs"),
        OpKind::Update { changes, .. } => {
            let names: Vec<&str> = changes.iter().map(|(k, _)| k).collect();
            format!("update the account of {who}{account}: {}", names.join(", "))
        }
        OpKind::Activate { .. } => format!("re-activate the account of {who}{account}"),
        OpKind::Deactivate { .. } => format!("deactivate the account of {who}{account}"),
        OpKind::Delete { .. } => format!("delete the account of {who}{account}"),
        OpKind::ChangeLicense { license: None, .. } => format!("remove the license of {who}{account}"),
        OpKind::ChangeLicense { license: Some(l), .. } => format!("give {who}{account} the license {l}"),
        OpKind::GroupMembers { group, add, remove, .. } => {
            format!("change the members of group {group}: {} to add, {} to remove", add.len(), remove.len())
        }
    };
    format!("{}: {what} — because {}", app.name, op.reason)
}

impl Engine {
    /// Opens a task for each operation of a manual app's plan (one open task per app, person and
    /// kind of work), each with its audit entry in one transaction; tells the channels. How many
    /// tasks are new.
    pub(crate) async fn open_tasks_for(&self, plan: &AppPlan, actor: &str) -> Result<usize, EngineError> {
        let Some(manual) = &plan.app.settings.manual else { return Ok(0) };
        if plan.plan.ops.is_empty() {
            return Ok(0);
        }
        let ids: Vec<PersonId> = plan.plan.ops.iter().map(|o| o.person_id).collect();
        let people = self.store.people_by_ids(self.tenant, &ids).await?;
        let mut tx = self.store.begin().await?;
        let mut opened = Vec::new();
        for op in &plan.plan.ops {
            let person = people.iter().find(|p| p.id == op.person_id);
            let text = task_text(&plan.app, op, person);
            let body = serde_json::to_value(op).unwrap_or_default();
            let task = NewTask {
                app_id: plan.app.id,
                person_id: op.person_id,
                person: &op.person,
                assignee: &manual.owner,
                op: op.kind.name(),
                body: &body,
                text: &text,
            };
            let (id, new) = tx.insert_task(self.tenant, &task).await?;
            if new {
                let detail = json!({"task": id, "text": text, "assignee": manual.owner});
                tx.audit(
                    self.tenant,
                    AuditRecord {
                        actor,
                        action: "task.opened",
                        subject: &id.to_string(),
                        person: Some(&op.person),
                        app: Some(&plan.app.name),
                        detail: &detail,
                    },
                )
                .await?;
                opened.push(text);
            }
        }
        tx.commit().await?;
        if !opened.is_empty() {
            let mut notice = Notice::new(
                "task.assigned",
                format!("{}: {} task(s) for {}", plan.app.name, opened.len(), manual.owner),
            );
            notice.lines = opened.iter().map(|t| format!("- {t}")).collect();
            notice.lines.insert(
                0,
                format!(
                    "{} has no connector: these are for {} to do by hand, then close with `tenure task close ID`.",
                    plan.app.name, manual.owner
                ),
            );
            notice.path = Some(format!("/apps/{}", plan.app.name));
            notice.apps = vec![plan.app.id];
            self.notify(&notice).await;
        }
        Ok(opened.len())
    }
}

/// Records a closed task's work as Tenure records a connector's: the account as the operation
/// left it. A manual app's accounts are known only this way (ids `manual:EMAIL`).
pub(crate) async fn record_done(
    tx: &mut tenure_store::Tx,
    tenant: TenantId,
    op: &PlannedOp,
    existing: Option<tenure_store::StoredAccount>,
    today: time::Date,
) -> Result<(), EngineError> {
    use tenure_core::attributes::{LICENSE, USER_NAME};
    match (&op.kind, existing) {
        (OpKind::Create { attributes, active }, _) => {
            let account = tenure_store::StoredAccount {
                link: AccountLink {
                    app_id: op.app_id,
                    remote_id: format!("manual:{}", op.person.to_lowercase()),
                    person_id: op.person_id,
                    origin: AccountOrigin::Created,
                    deactivated_on: None,
                    granted_by: op.reason.grant().map(|g| g.assignment()),
                },
                user_name: attributes.get(USER_NAME).cloned().unwrap_or_else(|| op.person.clone()),
                active: *active,
                attributes: (**attributes).clone(),
            };
            tx.upsert_account(tenant, &account).await?;
        }
        (OpKind::Delete { remote_id }, _) => {
            tx.remove_account(tenant, op.app_id, remote_id).await?;
        }
        (kind, Some(mut account)) => {
            match kind {
                OpKind::Activate { .. } => {
                    account.active = true;
                    account.link.deactivated_on = None;
                }
                OpKind::Deactivate { .. } => {
                    account.active = false;
                    account.link.deactivated_on = Some(today);
                }
                OpKind::Update { changes, .. } => {
                    for (name, value) in changes.iter() {
                        account.attributes.insert(name.to_owned(), value.clone());
                    }
                }
                OpKind::ChangeLicense { license, .. } => match license {
                    Some(l) => {
                        account.attributes.insert(LICENSE, l.clone());
                    }
                    None => {
                        account.attributes.remove(LICENSE);
                    }
                },
                _ => return Ok(()),
            }
            tx.upsert_account(tenant, &account).await?;
        }
        (_, None) => {}
    }
    Ok(())
}
