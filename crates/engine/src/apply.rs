//! Carrying a plan out: each operation through the app's connector, each outcome recorded.
//!
//! Operations for one person run in plan order (link before update); different people run
//! concurrently, up to the engine's per-app limit. A failed operation is recorded with the app's
//! error and never stops the others.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use tenure_connectors::{ConnectorError, ScimClient};
use tenure_core::attributes::{self, Attributes};
use tenure_core::*;
use tenure_store::{OperationRecord, OperationStatus, StoredAccount};
use tokio::sync::Semaphore;

use crate::{AppPlan, Engine, EngineError};

#[derive(Debug, Clone, Serialize)]
pub struct OpFailure {
    pub person: String,
    pub op: String,
    pub reason: String,
    pub error: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AppOutcome {
    pub app: String,
    /// Operation kind → how many succeeded.
    pub succeeded: BTreeMap<String, usize>,
    pub failed: Vec<OpFailure>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    pub plan_id: Option<PlanId>,
    pub apps: Vec<AppOutcome>,
    /// Why the deprovisioning guard held the plan; when not empty, nothing was applied and
    /// `plan_id` names the held plan for an admin to approve or reject.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<tenure_core::guard::GuardTrip>,
}

impl ApplyReport {
    pub fn failed(&self) -> usize {
        self.apps.iter().map(|a| a.failed.len()).sum()
    }

    pub fn succeeded(&self, kind: &str) -> usize {
        self.apps.iter().map(|a| a.succeeded.get(kind).copied().unwrap_or(0)).sum()
    }
}

/// What one app's worker tasks share.
struct AppContext {
    engine: Engine,
    app: App,
    client: ScimClient,
    observed: HashMap<String, RemoteAccount>,
    stored: HashMap<String, StoredAccount>,
}

impl Engine {
    /// Stores the plans as one applied plan and executes every operation.
    pub async fn apply(&self, plans: Vec<AppPlan>) -> Result<ApplyReport, EngineError> {
        let ops: Vec<PlannedOp> = plans.iter().flat_map(|p| p.plan.ops.iter().cloned()).collect();
        let group_work: Vec<(usize, App, Vec<GroupOp>)> = plans
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.plan.group_ops.is_empty())
            .map(|(i, p)| (i, p.app.clone(), p.plan.group_ops.clone()))
            .collect();
        if ops.is_empty() && group_work.is_empty() {
            return Ok(ApplyReport {
                plan_id: None,
                apps: plans.iter().map(|p| AppOutcome { app: p.app.name.clone(), ..Default::default() }).collect(),
                held: Vec::new(),
            });
        }
        let summary = serde_json::json!({
            "apps": plans.iter().map(|p| serde_json::json!({"app": p.app.name, "ops": p.plan.ops.len()})).collect::<Vec<_>>(),
        });
        let trips: Vec<_> =
            plans.iter().filter_map(|p| tenure_core::guard::check(&p.app, &p.plan, p.managed)).collect();
        if !trips.is_empty() && !self.approved(&plans, &trips).await? {
            let summary = serde_json::json!({"apps": summary["apps"], "held": trips});
            let held = self.store.save_held(self.tenant, &ops, &summary).await?;
            self.store.append_audit(self.tenant, "tenure", "plan.held", &held.to_string(), &summary).await?;
            for trip in &trips {
                tracing::warn!(plan = %held, "deprovisioning guard: {trip}; the plan awaits approval");
            }
            return Ok(ApplyReport {
                plan_id: Some(held),
                apps: plans.iter().map(|p| AppOutcome { app: p.app.name.clone(), ..Default::default() }).collect(),
                held: trips,
            });
        }
        let plan_id = self.store.save_plan(self.tenant, &ops, &summary).await?;
        self.store.append_audit(self.tenant, "tenure", "plan.apply", &plan_id.to_string(), &summary).await?;
        let records = self.store.plan_operations(self.tenant, plan_id).await?;
        let secrets: HashMap<AppId, _> =
            self.store.list_apps(self.tenant).await?.into_iter().map(|r| (r.app.id, r)).collect();

        let mut report = ApplyReport { plan_id: Some(plan_id), apps: Vec::new(), held: Vec::new() };
        let mut running = tokio::task::JoinSet::new();
        for (index, app_plan) in plans.into_iter().enumerate() {
            report.apps.push(AppOutcome { app: app_plan.app.name.clone(), ..Default::default() });
            let app_records: Vec<OperationRecord> =
                records.iter().filter(|r| r.op.app_id == app_plan.app.id).cloned().collect();
            if app_records.is_empty() {
                continue;
            }
            let record = secrets
                .get(&app_plan.app.id)
                .ok_or_else(|| EngineError::NotFound(format!("app {}", app_plan.app.name)))?;
            let stored = self.store.list_accounts(self.tenant, app_plan.app.id).await?;
            let context = Arc::new(AppContext {
                engine: self.clone(),
                client: self.client(record)?,
                observed: app_plan.observed.into_iter().map(|a| (a.remote_id.clone(), a)).collect(),
                stored: stored.into_iter().map(|s| (s.link.remote_id.clone(), s)).collect(),
                app: app_plan.app,
            });
            let limit = Arc::new(Semaphore::new(self.concurrency));
            let mut by_person: BTreeMap<PersonId, Vec<OperationRecord>> = BTreeMap::new();
            for rec in app_records {
                by_person.entry(rec.op.person_id).or_default().push(rec);
            }
            for (_, person_ops) in by_person {
                let context = Arc::clone(&context);
                let limit = Arc::clone(&limit);
                running.spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    let mut outcomes = Vec::with_capacity(person_ops.len());
                    for rec in person_ops {
                        let result = context.run(&rec).await;
                        outcomes.push((rec, result));
                    }
                    (index, outcomes)
                });
            }
        }
        while let Some(joined) = running.join_next().await {
            let (index, outcomes) = joined.map_err(|e| EngineError::Internal(format!("operation task: {e}")))?;
            for (rec, result) in outcomes {
                let outcome = &mut report.apps[index];
                match result {
                    Ok(()) => *outcome.succeeded.entry(rec.op.kind.name().to_owned()).or_default() += 1,
                    Err(error) => outcome.failed.push(OpFailure {
                        person: rec.op.person.clone(),
                        op: rec.op.kind.name().to_owned(),
                        reason: rec.op.reason.to_string(),
                        error,
                    }),
                }
            }
        }
        // Group memberships last: the accounts a create made exist by now.
        for (index, app, group_ops) in group_work {
            let record = secrets.get(&app.id).ok_or_else(|| EngineError::NotFound(format!("app {}", app.name)))?;
            let client = self.client(record)?;
            let accounts = self.store.list_accounts(self.tenant, app.id).await?;
            for op in group_ops {
                let result = self.apply_group_op(&client, &app, &accounts, &op).await;
                let outcome = &mut report.apps[index];
                match result {
                    Ok(()) => *outcome.succeeded.entry("group_members".to_owned()).or_default() += 1,
                    Err(error) => outcome.failed.push(OpFailure {
                        person: format!("group {}", op.group),
                        op: "group_members".to_owned(),
                        reason: "assignment parameters name the group".to_owned(),
                        error,
                    }),
                }
            }
        }
        let status = if report.failed() == 0 { "applied" } else { "applied_with_failures" };
        self.store.set_plan_status(self.tenant, plan_id, status).await?;
        Ok(report)
    }
}

impl Engine {
    /// An admin's decision on a plan the guard held: `approved` lets the next apply carry out
    /// the losses it lists (once); `rejected` closes it. Only a held plan can be decided.
    pub async fn decide_held(&self, plan: PlanId, approve: bool, actor: &str) -> Result<&'static str, EngineError> {
        let record = self.store.plan_record(self.tenant, plan).await?;
        if record.status != "held" {
            return Err(EngineError::NotHeld { plan: plan.to_string(), status: record.status });
        }
        let status = if approve { "approved" } else { "rejected" };
        self.store.set_plan_status(self.tenant, plan, status).await?;
        self.store
            .append_audit(self.tenant, actor, &format!("plan.{status}"), &plan.to_string(), &record.summary)
            .await?;
        Ok(status)
    }

    /// Whether an admin approved a held plan that covers every deprovisioning this plan would do
    /// in the apps the guard trips on. An approval is used once: the plan is then marked
    /// `approved_applied`. Approving means "these losses", not "anything from now on".
    async fn approved(&self, plans: &[AppPlan], trips: &[tenure_core::guard::GuardTrip]) -> Result<bool, EngineError> {
        let tripped: std::collections::HashSet<AppId> = trips.iter().map(|t| t.app_id).collect();
        let losses: Vec<&PlannedOp> = plans
            .iter()
            .flat_map(|p| p.plan.ops.iter())
            .filter(|o| tripped.contains(&o.app_id) && o.kind.is_deprovision())
            .collect();
        for record in self.store.list_plans(self.tenant, 50).await? {
            if record.status != "approved" {
                continue;
            }
            let approved: Vec<PlannedOp> =
                self.store.plan_operations(self.tenant, record.id).await?.into_iter().map(|r| r.op).collect();
            let covered = losses.iter().all(|l| {
                approved.iter().any(|a| a.app_id == l.app_id && a.person_id == l.person_id && a.kind == l.kind)
            });
            if covered {
                self.store.set_plan_status(self.tenant, record.id, "approved_applied").await?;
                self.store
                    .append_audit(
                        self.tenant,
                        "tenure",
                        "plan.approval_used",
                        &record.id.to_string(),
                        &serde_json::json!({}),
                    )
                    .await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Creates the group if needed and changes its members; new accounts are found by person.
    async fn apply_group_op(
        &self,
        client: &ScimClient,
        app: &App,
        accounts: &[StoredAccount],
        op: &GroupOp,
    ) -> Result<(), String> {
        let mut add = Vec::with_capacity(op.add.len());
        let mut missing = Vec::new();
        for member in &op.add {
            match member {
                MemberRef::Account { remote_id } => add.push(remote_id.clone()),
                MemberRef::NewAccountOf { person_id, person } => {
                    match accounts.iter().find(|a| a.link.person_id == *person_id) {
                        Some(a) => add.push(a.link.remote_id.clone()),
                        None => missing.push(person.clone()),
                    }
                }
            }
        }
        let result = match &op.remote_id {
            Some(id) => client.change_group_members(id, &add, &op.remove).await,
            None => client.create_group(&op.group, &add).await.map(drop),
        };
        let detail = serde_json::json!({
            "app": app.name, "group": op.group, "add": add, "remove": op.remove,
            "error": result.as_ref().err().map(ToString::to_string),
        });
        self.store
            .append_audit(self.tenant, "tenure", "group.members", &op.group, &detail)
            .await
            .map_err(|e| format!("done in the app, but not recorded: {e}"))?;
        result.map_err(|e| e.to_string())?;
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("not added, their account was not created: {}", missing.join(", ")))
        }
    }
}

impl AppContext {
    /// Runs one operation and records its outcome; the error is the text shown to the admin.
    async fn run(&self, rec: &OperationRecord) -> Result<(), String> {
        let store = self.engine.store();
        let tenant = self.engine.tenant();
        let result = self.execute(&rec.op).await;
        let (status, error, remote_id) = match &result {
            Ok(remote_id) => (OperationStatus::Succeeded, None, remote_id.clone()),
            Err(e) => (OperationStatus::Failed, Some(e.clone()), None),
        };
        let detail = serde_json::json!({
            "app": self.app.name,
            "op": rec.op.kind.name(),
            "reason": rec.op.reason,
            "remote_id": remote_id.as_deref().or(rec.op.kind.remote_id()),
            "error": error,
        });
        let recorded = async {
            store.finish_operation(tenant, rec.id, status, error.as_deref(), remote_id.as_deref()).await?;
            store
                .append_audit(tenant, "tenure", &format!("account.{}", rec.op.kind.name()), &rec.op.person, &detail)
                .await
        };
        if let Err(e) = recorded.await {
            tracing::error!(error = %e, op = %rec.id, "could not record an operation's outcome");
            return Err(format!("done in the app, but not recorded: {e}"));
        }
        match &result {
            Ok(_) => {
                tracing::info!(app = %self.app.name, person = %rec.op.person, op = rec.op.kind.name(), reason = %rec.op.reason, "applied")
            }
            Err(e) => {
                tracing::warn!(app = %self.app.name, person = %rec.op.person, op = rec.op.kind.name(), error = %e, "operation failed")
            }
        }
        result.map(|_| ())
    }

    /// Performs the operation in the app and updates the stored link; returns the remote id.
    async fn execute(&self, op: &PlannedOp) -> Result<Option<String>, String> {
        let store = self.engine.store();
        let tenant = self.engine.tenant();
        match &op.kind {
            OpKind::Create { attributes } => {
                let (account, origin) = match self.client.create_user(attributes).await {
                    Ok(account) => (account, AccountOrigin::Created),
                    // The account exists already (a retried create, or one made by hand): find it
                    // and link it rather than fail or create a second one.
                    Err(e) if e.is_conflict() => {
                        self.find_existing(op.person_id, attributes).await?.ok_or_else(|| failed(e))?
                    }
                    Err(e) => return Err(failed(e)),
                };
                let remote_id = account.remote_id.clone();
                store.upsert_account(tenant, &stored_from(op, origin, &account)).await.map_err(stored_err)?;
                Ok(Some(remote_id))
            }
            OpKind::Link { remote_id, .. } => {
                let account = self
                    .observed
                    .get(remote_id)
                    .ok_or_else(|| format!("account {remote_id} is no longer in the app"))?;
                store
                    .upsert_account(tenant, &stored_from(op, AccountOrigin::Matched, account))
                    .await
                    .map_err(stored_err)?;
                Ok(Some(remote_id.clone()))
            }
            OpKind::Update { remote_id, changes } => self.update(op, remote_id, changes).await,
            OpKind::ChangeLicense { remote_id, license } => {
                let changes = Attributes::from([(attributes::LICENSE, license.clone().unwrap_or_default())]);
                self.update(op, remote_id, &changes).await
            }
            OpKind::Activate { remote_id } | OpKind::Deactivate { remote_id } => {
                let active = matches!(op.kind, OpKind::Activate { .. });
                self.client.set_active(remote_id, active).await.map_err(failed)?;
                store
                    .set_account_active(tenant, self.app.id, remote_id, active, crate::today())
                    .await
                    .map_err(stored_err)?;
                Ok(Some(remote_id.clone()))
            }
            OpKind::Delete { remote_id } => {
                match self.client.delete_user(remote_id).await {
                    Ok(()) => {}
                    // Already gone is the state we wanted.
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(failed(e)),
                }
                store.remove_account(tenant, self.app.id, remote_id).await.map_err(stored_err)?;
                Ok(Some(remote_id.clone()))
            }
        }
    }

    /// Writes attribute changes and records the account's new state, so the next update is a
    /// diff against what the app now holds.
    async fn update(&self, op: &PlannedOp, remote_id: &str, changes: &Attributes) -> Result<Option<String>, String> {
        let store = self.engine.store();
        let tenant = self.engine.tenant();
        self.client.update_user(remote_id, changes).await.map_err(failed)?;
        let mut account = match (self.stored.get(remote_id), self.observed.get(remote_id)) {
            (Some(stored), Some(observed)) => {
                StoredAccount { attributes: observed.attributes.clone(), ..stored.clone() }
            }
            (None, Some(observed)) => stored_from(op, AccountOrigin::Matched, observed),
            (Some(stored), None) => stored.clone(),
            (None, None) => return Err(format!("account {remote_id} is unknown")),
        };
        account.attributes.extend(changes.iter().map(|(k, v)| (k, v.clone())));
        account.attributes.retain(|_, v| !v.is_empty());
        if let Some(grant) = op.reason.grant() {
            account.link.granted_by = Some(grant.assignment());
        }
        if let Some(user_name) = changes.get(attributes::USER_NAME) {
            account.user_name = user_name.clone();
        }
        store.upsert_account(tenant, &account).await.map_err(stored_err)?;
        Ok(Some(remote_id.to_owned()))
    }

    /// After a 409 on create: the account Tenure would have created. Found by externalId, it is
    /// Tenure's own from an earlier attempt. Found by userName, it is linked (as matched, never
    /// Tenure's to delete) only when nothing says it is someone else's: no other externalId and no
    /// other email. Otherwise the operation fails for an admin to look at, rather than take over
    /// another person's account.
    async fn find_existing(
        &self,
        person: PersonId,
        attrs: &Attributes,
    ) -> Result<Option<(RemoteAccount, AccountOrigin)>, String> {
        let own_id = person.to_string();
        if let Some(found) = self.client.find_user(attributes::EXTERNAL_ID, &own_id).await.map_err(|e| e.to_string())? {
            return Ok(Some((found, AccountOrigin::Created)));
        }
        let Some(user_name) = attrs.get(attributes::USER_NAME) else { return Ok(None) };
        let Some(found) = self.client.find_user(attributes::USER_NAME, user_name).await.map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let email = attrs.get(attributes::EMAIL).map(|e| e.to_lowercase());
        let foreign_id = found.external_id().is_some_and(|x| !x.is_empty() && !x.eq_ignore_ascii_case(&own_id));
        let foreign_email = match (found.email(), &email) {
            (Some(theirs), Some(ours)) => theirs.to_lowercase() != *ours,
            _ => false,
        };
        if foreign_id || foreign_email {
            return Err(format!(
                "userName {user_name} is taken in the app by another account ({}); an admin must resolve it",
                found.email().unwrap_or(&found.remote_id)
            ));
        }
        Ok(Some((found, AccountOrigin::Matched)))
    }
}

fn failed(e: ConnectorError) -> String {
    e.to_string()
}

fn stored_err(e: tenure_store::StoreError) -> String {
    format!("store: {e}")
}

/// A link for an account an operation just created or matched, remembering the assignment that
/// granted it.
fn stored_from(op: &PlannedOp, origin: AccountOrigin, account: &RemoteAccount) -> StoredAccount {
    StoredAccount {
        link: AccountLink {
            app_id: op.app_id,
            remote_id: account.remote_id.clone(),
            person_id: op.person_id,
            origin,
            deactivated_on: None,
            granted_by: op.reason.grant().map(Grant::assignment),
        },
        user_name: account.user_name().to_owned(),
        active: account.active,
        attributes: account.attributes.clone(),
    }
}
