//! A Google Workspace app's offboarding policy's first step: the departing person's Drive files
//! go to a recipient before their account is suspended (or deleted while still active).
//!
//! It runs inside the queued deactivation (or deletion) itself, so it is as durable as the loss:
//! the operation is not settled until the transfer completed and the account was suspended. A
//! retry or a restart finds the transfer an earlier attempt requested (one requested since the
//! operation's plan was made) and waits for it rather than asking again; a transfer still running
//! leaves the operation waiting in the queue without using up its attempts; a recipient Google
//! does not know, or a failed transfer, fails the operation with the reason and the account is
//! not suspended.

use tenure_connectors::{Connector, TransferStatus};
use tenure_core::{App, Person, PersonId};
use tenure_store::OperationRecord;

use crate::Engine;
use crate::worker::OpError;

/// The recipient spelled `manager`: the departing person's manager in the directory.
pub(crate) const MANAGER: &str = "manager";

/// The app's recipient for the person's Drive files, as the policy names it (`None`: the app
/// transfers nothing).
pub(crate) fn policy(app: &App) -> Option<&str> {
    app.settings.google_workspace.as_ref()?.transfer_drive_to.as_deref()
}

/// The address the policy's recipient is for this person; `Err` says why there is none.
pub(crate) fn recipient_for(policy: &str, people: &[Person], person: PersonId) -> Result<String, String> {
    if policy != MANAGER {
        return Ok(policy.to_owned());
    }
    let who = people.iter().find(|p| p.id == person).ok_or_else(|| "the person is not in the directory".to_owned())?;
    crate::workflows::manager_of(people, who)
        .map(|m| m.email.clone())
        .ok_or_else(|| format!("{} has no manager in the directory to receive their Drive files", who.email))
}

/// Transfers the account's Drive files where the app's policy says so, before a loss. `Ok` when
/// there is nothing to transfer or the transfer completed.
pub(crate) async fn before_loss(
    engine: &Engine,
    client: &dyn Connector,
    app: &App,
    rec: &OperationRecord,
    remote_id: &str,
) -> Result<(), OpError> {
    let Some(policy) = policy(app) else {
        return Ok(());
    };
    let people = engine.store.list_people(engine.tenant).await.map_err(OpError::store)?;
    let to = recipient_for(policy, &people, rec.op.person_id)
        .map_err(|why| OpError::permanent(format!("Drive transfer before the account goes: {why}; not suspended")))?;
    let since_ms = engine.store.plan_record(engine.tenant, rec.plan_id).await.map_err(OpError::store)?.created_ms;
    let transfer = client.transfer_files(remote_id, &to, since_ms).await.map_err(|e| {
        let mut error = OpError::from(e);
        error.message = format!("Drive transfer to {to} before the account goes: {}; not suspended", error.message);
        error
    })?;
    match transfer.status {
        TransferStatus::Completed => {
            let detail = serde_json::json!({
                "app": app.name,
                "person": rec.op.person,
                "person_id": rec.op.person_id,
                "remote_id": remote_id,
                "to": to,
                "to_id": transfer.recipient_id,
                "transfer": transfer.id,
                "resumed": transfer.resumed,
                "operation": rec.id,
                "reason": rec.op.reason,
            });
            engine
                .store
                .append_audit_for(
                    engine.tenant,
                    "tenure",
                    "account.drive_transferred",
                    &rec.op.person,
                    Some(&rec.op.person),
                    Some(&app.name),
                    &detail,
                )
                .await
                .map_err(OpError::store)?;
            Ok(())
        }
        TransferStatus::Failed => Err(OpError::permanent(format!(
            "Google reports the Drive transfer {} to {to} failed; the account was not suspended",
            transfer.id
        ))),
        // Not an attempt used up: the transfer runs at Google's pace, and the operation looks
        // again after the queue's first backoff (each look polls for up to a request timeout).
        TransferStatus::InProgress => Err(OpError {
            retryable: true,
            retry_after: Some(engine.worker_options.backoff),
            waiting: true,
            ..OpError::permanent(format!(
                "Drive transfer {} to {to} still running; the account is suspended once it completes",
                transfer.id
            ))
        }),
    }
}
