//! Console sessions: signing in with an email and password opens a session (audited in the
//! admin's tenant), signing out ends it. A session acts as its admin, with the admin's role as
//! it is at each request. The browser holds a random id; the store keeps only its hash.

use std::sync::OnceLock;

use serde_json::json;
use tenure_core::Secret;
use tenure_store::{AuditRecord, ConsoleSession, Store};

use super::{Actor, Admin, access::verify_password};
use crate::EngineError;

/// A session ends after this long without a request.
pub const SESSION_IDLE_MS: i64 = 30 * 60 * 1000;
/// And at the latest this long after sign-in, however busy.
pub const SESSION_LIFETIME_MS: i64 = 12 * 60 * 60 * 1000;

/// A new session: its id goes to the browser (once), its anti-forgery token into every form.
#[derive(Debug)]
pub struct SignedIn {
    pub session_id: Secret,
    pub csrf: String,
    pub session: ConsoleSession,
}

/// Why a sign-in failed, said the same way to whoever tried: no hint whether the email exists.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("wrong email or password")]
    Refused,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// A hash to check a password against when the email names nobody, so that a wrong email takes
/// as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| super::hash_password(&Secret::new("decoy password, never valid")).unwrap_or_default())
}

/// Checks `password` against every admin with this email (in any tenant) and opens a session for
/// the first it matches. A failure is audited in the tenants whose admin it named.
pub async fn sign_in(store: &Store, email: &str, password: Secret) -> Result<SignedIn, SignInError> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || email.len() > 254 || password.expose().len() > 1024 {
        return Err(SignInError::Refused);
    }
    let candidates = store.sign_in_candidates(&email).await.map_err(EngineError::from)?;
    let hashes: Vec<String> = if candidates.is_empty() {
        vec![decoy_hash().to_owned()]
    } else {
        candidates.iter().map(|c| c.password_hash.clone()).collect()
    };
    // argon2 is deliberately slow: off the runtime's workers.
    let matched = tokio::task::spawn_blocking(move || hashes.iter().position(|h| verify_password(&password, h)))
        .await
        .map_err(|e| EngineError::Internal(format!("checking a password: {e}")))?;
    let Some(found) = matched.and_then(|i| candidates.get(i)) else {
        for c in &candidates {
            let detail = json!({"email": email, "outcome": "refused"});
            let mut tx = store.begin().await.map_err(EngineError::from)?;
            tx.audit(
                c.tenant,
                AuditRecord {
                    actor: &email,
                    action: "console.sign_in_refused",
                    subject: &email,
                    person: None,
                    app: None,
                    detail: &detail,
                },
            )
            .await
            .map_err(EngineError::from)?;
            tx.commit().await.map_err(EngineError::from)?;
        }
        return Err(SignInError::Refused);
    };
    // Sessions nobody ended are forgotten here, at the next sign-in of anyone.
    if let Err(e) = store.purge_console_sessions(SESSION_IDLE_MS).await {
        tracing::warn!(error = %e, "console: could not forget ended sessions");
    }
    let session_id = crate::tokens::generate();
    let csrf = crate::tokens::generate();
    let id_hash = crate::tokens::hash(&session_id);
    let mut tx = store.begin().await.map_err(EngineError::from)?;
    tx.insert_console_session(found.tenant, found.admin.id, &id_hash, &csrf, SESSION_LIFETIME_MS)
        .await
        .map_err(EngineError::from)?;
    let detail = json!({"email": found.admin.email, "role": found.admin.role});
    tx.audit(
        found.tenant,
        AuditRecord {
            actor: &found.admin.email,
            action: "console.sign_in",
            subject: &found.admin.email,
            person: None,
            app: None,
            detail: &detail,
        },
    )
    .await
    .map_err(EngineError::from)?;
    tx.commit().await.map_err(EngineError::from)?;
    let session = store
        .console_session(&id_hash, SESSION_IDLE_MS)
        .await
        .map_err(EngineError::from)?
        .ok_or_else(|| EngineError::Internal("a session just opened is not found".into()))?;
    tracing::info!(tenant = %found.tenant, admin = %found.admin.email, "console sign-in");
    Ok(SignedIn { session_id: Secret::new(session_id), csrf, session })
}

/// The open session a browser's id names, if any (idle or ended sessions are none).
pub async fn session(store: &Store, session_id: &str) -> Result<Option<ConsoleSession>, EngineError> {
    Ok(store.console_session(&crate::tokens::hash(session_id), SESSION_IDLE_MS).await?)
}

impl Admin<'_> {
    /// Ends the actor's session (sign-out); the audit entry names them.
    pub async fn sign_out(&self, session_id: &str) -> Result<bool, EngineError> {
        let mut tx = self.store().begin().await?;
        let ended = tx.delete_console_session(self.tenant(), &crate::tokens::hash(session_id)).await?;
        if ended {
            let detail = json!({"email": self.actor.name});
            tx.audit(
                self.tenant(),
                AuditRecord {
                    actor: &self.actor.name,
                    action: "console.sign_out",
                    subject: &self.actor.name,
                    person: None,
                    app: None,
                    detail: &detail,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ended)
    }
}

/// The actor a session acts as.
pub fn session_actor(session: &ConsoleSession) -> Actor {
    Actor::admin(&session.admin)
}
