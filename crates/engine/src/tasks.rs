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
            let account = if *active { "an account" } else { "a disabled account" };
            format!("create {account} for {who}{role}")
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
            notice.path = Some(format!("/tasks?app={}", plan.app.name));
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

/// How long a task has before it is overdue and its assignee is reminded, unless its app sets
/// its own (`--task-due`): owners work them by hand, at a human pace.
pub const TASK_DUE: std::time::Duration = std::time::Duration::from_secs(3 * 24 * 3600);

/// How long after its due time a still-open task is escalated to the channels' admins, unless
/// its app sets its own due time: then as long again as that.
pub const TASK_ESCALATION: std::time::Duration = std::time::Duration::from_secs(3 * 24 * 3600);

/// The shortest and longest due time an app may set.
pub(crate) const MIN_TASK_DUE_S: u64 = 3600;
pub(crate) const MAX_TASK_DUE_S: u64 = 90 * 24 * 3600;

/// How long the app's tasks have before they are overdue, and then before they are escalated.
pub(crate) fn due_periods(app: Option<&App>) -> (i64, i64) {
    match app.and_then(|a| a.settings.manual.as_ref()).and_then(|m| m.task_due_s) {
        Some(seconds) => {
            let ms = (seconds as i64).saturating_mul(1000);
            (ms, ms)
        }
        None => (TASK_DUE.as_millis() as i64, TASK_ESCALATION.as_millis() as i64),
    }
}

/// When a task of `app` is due.
pub(crate) fn due_ms(task: &tenure_store::TaskRecord, app: Option<&App>) -> i64 {
    task.created_ms.saturating_add(due_periods(app).0)
}

fn shown_ms(at_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).ok())
        .unwrap_or_else(|| at_ms.to_string())
}

/// What one pass over open tasks told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverdueTasks {
    pub reminded: usize,
    pub escalated: usize,
}

impl Engine {
    /// Reminds the assignee of each open task past its due time, and tells the channels' admins
    /// of each still open [`TASK_ESCALATION`] later; each at most once per task.
    pub(crate) async fn remind_overdue_tasks(&self, now: i64) -> Result<OverdueTasks, EngineError> {
        let mut told = OverdueTasks::default();
        let tasks = self.store.tasks(self.tenant, true).await?;
        let apps = self.store.list_apps(self.tenant).await?;
        let app_of = |task: &tenure_store::TaskRecord| apps.iter().find(|a| a.app.id == task.app_id).map(|a| &a.app);
        let overdue: Vec<_> = tasks.iter().filter(|t| now >= due_ms(t, app_of(t))).collect();
        if overdue.is_empty() {
            return Ok(told);
        }
        let given = self.store.notices_given(self.tenant, "task.").await?;
        for task in overdue {
            let (_, escalate_after) = due_periods(app_of(task));
            let app = app_of(task).map(|a| a.name.clone()).unwrap_or_default();
            let short = task.id.to_string().chars().take(8).collect::<String>();
            let due = due_ms(task, app_of(task));
            let mut notice = Notice::new("task.overdue", String::new());
            notice.path = Some(format!("/tasks?app={app}"));
            notice.apps = vec![task.app_id];
            notice.data = json!({
                "task": task.id, "app": app, "person": task.person, "assignee": task.assignee,
                "created": crate::audit_query::rfc3339(task.created_ms), "due": crate::audit_query::rfc3339(due),
            });
            let key = format!("task.overdue:{}", task.id);
            if !given.contains(&key) {
                notice.subject = format!("Overdue: a {app} task for {}", task.assignee);
                notice.lines = vec![
                    format!(
                        "This task was opened {} and was due {}; it is still open:",
                        shown_ms(task.created_ms),
                        shown_ms(due)
                    ),
                    format!("- {}", task.text),
                    format!("When it is done, close it with `tenure task close {short}`."),
                    format!(
                        "If it is still open {}, the admins are told.",
                        shown_ms(due.saturating_add(escalate_after))
                    ),
                ];
                // The reminder is for the one who must act, through each channel that sends it.
                notice.to = Some(vec![crate::notify::Recipient::Address(task.assignee.clone())]);
                if self.notify_once(&key, &notice).await? {
                    told.reminded += 1;
                }
            }
            let key = format!("task.escalated:{}", task.id);
            if now >= due.saturating_add(escalate_after) && !given.contains(&key) {
                notice.event = "task.escalated".into();
                notice.subject = format!("Escalated: a {app} task for {} is still open", task.assignee);
                notice.lines = vec![
                    format!("{} was reminded of this task, due {}; it is still open:", task.assignee, shown_ms(due)),
                    format!("- {}", task.text),
                    format!(
                        "Someone with access to {app} can do it and close it with `tenure task close {short}`, \
                         or ask {} about it.",
                        task.assignee
                    ),
                ];
                notice.to = None;
                if self.notify_once(&key, &notice).await? {
                    told.escalated += 1;
                }
            }
        }
        Ok(told)
    }
}
