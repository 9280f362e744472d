//! "Verify" for an app: the OAuth 2.0 authorization-code flow with PKCE (RFC 6749 §4.1, RFC
//! 7636) that connects an app whose API wants a user-consented token, and the connection test
//! that follows.
//!
//! 1. [`Engine::start_authorization`]: a fresh `state` and PKCE pair, the pending authorization
//!    stored (state hashed, verifier sealed, ten minutes, used once), and the URL the admin's
//!    browser goes to.
//! 2. [`complete_authorization`]: the callback. The state alone identifies the tenant, app and
//!    admin (no admin token reaches a browser redirect); the code is exchanged with the
//!    verifier and the same `redirect_uri` (§4.1.3), the tokens stored sealed, the event
//!    audited without them.
//! 3. [`Engine::verify_app`]: authenticates, lists one page of users, probes a SCIM app, and
//!    says in words what is wrong and what to do.

use std::time::Duration;

use serde::Serialize;
use tenure_connectors::ConnectorError;
use tenure_connectors::oauth_code::{Pkce, new_state};
use tenure_connectors::{ProbeOptions, TransportKind, UserQuery};
use tenure_core::{AppKind, TenantId};
use tenure_store::{AppAuth, AppRecord, DirtyMark, StateRefusal, Store, StoreError};

use crate::{Engine, EngineError, app_auth};

/// How long an admin has between "Verify" and coming back to the callback.
pub const AUTHORIZATION_TTL: Duration = Duration::from_secs(10 * 60);

/// An authorization started: where to send the admin's browser.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorizationStart {
    pub app: String,
    pub authorize_url: String,
    pub redirect_uri: String,
    pub expires_in_s: u64,
}

/// The query of a request to the redirect URI (RFC 6749 §4.1.2 success, §4.1.2.1 error).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Why a callback did not authorize the app.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizationError {
    #[error("the request has no state, so it did not come from an authorization Tenure started")]
    MissingState,
    #[error("this authorization was not started by this Tenure (unknown state); start again from Verify")]
    UnknownState,
    #[error("this authorization was already used (a state is good for one callback); start again from Verify")]
    StateUsed,
    #[error("this authorization expired (it must be completed within 10 minutes); start again from Verify")]
    StateExpired,
    /// The authorization server sent the admin back with an error (§4.1.2.1), e.g. consent
    /// refused (`access_denied`).
    #[error("app {app} was not authorized: the authorization server answered {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied { app: String, error: String, description: Option<String> },
    #[error("app {app}: the authorization server's answer has neither a code nor an error")]
    MissingCode { app: String },
    #[error("app {app} was not authorized: {reason}")]
    AppChanged { app: String, reason: String },
    #[error("app {app}: exchanging the authorization code failed: {source}")]
    Exchange {
        app: String,
        #[source]
        source: ConnectorError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthorizationError {
    /// Whether the request, not Tenure or the authorization server, is at fault.
    pub fn is_bad_request(&self) -> bool {
        !matches!(self, Self::Exchange { .. } | Self::Store(_))
    }
}

/// An app authorized.
#[derive(Debug, Clone, Serialize)]
pub struct Authorized {
    pub tenant: TenantId,
    pub app: String,
    pub scope: Option<String>,
    pub refresh_token: bool,
    pub expires_in_s: Option<i64>,
}

/// An app's grant as an admin may see it: never its tokens.
#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    pub authorized_by: String,
    pub authorized_ms: i64,
    pub expires_ms: Option<i64>,
    pub refresh_token: bool,
    pub scope: Option<String>,
    /// Why the grant is over, when it is.
    pub revoked: Option<String>,
}

/// What "Verify" found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub app: String,
    pub ok: bool,
    /// `bearer`, `oauth_client_credentials` or `oauth_authorization_code`.
    pub auth: &'static str,
    pub message: String,
    /// What the admin should do next, when something is wrong.
    pub action: Option<String>,
    pub users_on_first_page: Option<usize>,
    pub total_users: Option<u64>,
    pub grant: Option<GrantView>,
    /// The SCIM probe's blockers and observations, when the app answered.
    pub blockers: Vec<String>,
    pub observations: Vec<String>,
}

/// The app's grant as an admin may see it, when the app uses the authorization-code flow and
/// was authorized.
pub(crate) async fn grant_view(
    store: &Store,
    tenant: TenantId,
    record: &AppRecord,
) -> Result<Option<GrantView>, StoreError> {
    if !matches!(record.auth, AppAuth::OauthAuthorizationCode { .. }) {
        return Ok(None);
    }
    let grant = store.oauth_grant(tenant, record.app.id).await?;
    Ok(grant.map(|g| GrantView {
        authorized_by: g.authorized_by.clone(),
        authorized_ms: g.authorized_ms,
        expires_ms: g.tokens.expires_ms,
        refresh_token: g.tokens.refresh_token.is_some(),
        scope: g.tokens.scope.clone(),
        revoked: g.revoked_ms.map(|_| g.revoked_reason.clone().unwrap_or_default()),
    }))
}

fn authorize_hint(app: &str) -> String {
    format!("authorize the app: POST /api/v1/apps/{app}/oauth/authorize (or `tenure app authorize {app}`) and consent")
}

impl Engine {
    /// Starts an authorization of `app` by `actor`; the authorization server will send the
    /// browser back to `redirect_uri` (the server's public URL + `/oauth/callback`).
    pub async fn start_authorization(
        &self,
        app: &str,
        actor: &str,
        redirect_uri: &str,
    ) -> Result<AuthorizationStart, EngineError> {
        let record = self.store.app_by_name(self.tenant, app).await?;
        let config = app_auth::authorization_code_config(&record)
            .map_err(|e| EngineError::AppConfig { app: app.to_owned(), reason: e.to_string() })?;
        let redirect = url::Url::parse(redirect_uri).map_err(|e| EngineError::AppConfig {
            app: app.to_owned(),
            reason: format!("redirect URI {redirect_uri:?}: {e}"),
        })?;
        let state = new_state();
        let pkce = Pkce::generate();
        let ttl_ms = AUTHORIZATION_TTL.as_millis() as i64;
        self.store
            .start_oauth_authorization(
                self.tenant,
                record.app.id,
                &state,
                &pkce.verifier,
                redirect.as_str(),
                actor,
                ttl_ms,
            )
            .await?;
        let url = config.authorization_url(redirect.as_str(), &state, &pkce.challenge);
        let detail = serde_json::json!({"app": app, "redirect_uri": redirect.as_str()});
        self.store.append_audit(self.tenant, actor, "app.oauth_started", app, &detail).await?;
        tracing::info!(app, actor, "OAuth authorization started");
        Ok(AuthorizationStart {
            app: app.to_owned(),
            authorize_url: url.to_string(),
            redirect_uri: redirect.to_string(),
            expires_in_s: AUTHORIZATION_TTL.as_secs(),
        })
    }

    /// Tests the app's connection: authenticates, lists one page of users, probes the SCIM
    /// endpoint (read-only), and says what is wrong in words. Audited as `app.verified`.
    pub async fn verify_app(&self, app: &str, actor: &str) -> Result<Verification, EngineError> {
        let record = self.store.app_by_name(self.tenant, app).await?;
        let verdict = self.verify_record(&record).await?;
        let detail = serde_json::json!({"app": app, "ok": verdict.ok, "message": verdict.message});
        self.store.append_audit(self.tenant, actor, "app.verified", app, &detail).await?;
        Ok(verdict)
    }

    async fn verify_record(&self, record: &AppRecord) -> Result<Verification, EngineError> {
        let app = record.app.name.clone();
        let mut verdict = Verification {
            app: app.clone(),
            ok: false,
            auth: record.auth.kind(),
            message: String::new(),
            action: None,
            users_on_first_page: None,
            total_users: None,
            grant: None,
            blockers: Vec::new(),
            observations: Vec::new(),
        };
        if let AppAuth::OauthAuthorizationCode { .. } = record.auth {
            verdict.grant = grant_view(&self.store, self.tenant, record).await?;
            match &verdict.grant {
                None => {
                    verdict.message = format!("{app} has not been authorized yet");
                    verdict.action = Some(authorize_hint(&app));
                    return Ok(verdict);
                }
                Some(GrantView { revoked: Some(reason), .. }) => {
                    verdict.message = format!("{app}'s authorization is no longer valid: {reason}");
                    verdict.action = Some(format!("re-{}", authorize_hint(&app)));
                    return Ok(verdict);
                }
                Some(_) => {}
            }
        }
        let client = self.client(record)?;
        let first_page = UserQuery { start_index: 1, count: 100, search: None };
        match client.list_users_page(&first_page).await {
            Ok(page) => {
                verdict.users_on_first_page = Some(page.accounts.len());
                verdict.total_users = Some(page.total.unwrap_or(page.accounts.len()) as u64);
            }
            Err(e) => {
                verdict.action = Some(match &e {
                    ConnectorError::Reauthorize { .. } => format!("re-{}", authorize_hint(&app)),
                    ConnectorError::Transport { kind: TransportKind::Connect | TransportKind::Timeout, .. } => {
                        "check the app's base URL and that Tenure can reach it".to_owned()
                    }
                    e if matches!(e.status(), Some(401 | 403)) => {
                        "check the app's credentials (token, client id and secret, scopes)".to_owned()
                    }
                    _ => "check the app's base URL and settings (`tenure app check` probes it in detail)".to_owned(),
                });
                verdict.message = format!("{app}: {e}");
                return Ok(verdict);
            }
        }
        if record.app.kind != AppKind::Scim {
            // Only SCIM apps have a protocol to probe; reading users proved the connection.
            verdict.ok = true;
            verdict.message =
                format!("{app} answered: authenticated, {} users", verdict.total_users.unwrap_or_default());
            return Ok(verdict);
        }
        let scim = app_auth::scim_client(&self.store, self.tenant, record, self.client_options.clone())
            .map_err(|source| EngineError::Connector { app: app.clone(), source })?;
        let report = scim.probe(ProbeOptions { write: false }).await;
        verdict.blockers = report.blockers.clone();
        verdict.observations = report.observations;
        verdict.ok = report.blockers.is_empty();
        let users = verdict.total_users.unwrap_or_default();
        verdict.message = if verdict.ok {
            format!("{app} answered: authenticated, {users} users, the SCIM endpoint can be provisioned")
        } else {
            verdict.action = Some("see the blockers; `tenure app check` prints the full profile".to_owned());
            format!("{app} authenticated but cannot be provisioned: {}", report.blockers.join("; "))
        };
        Ok(verdict)
    }
}

/// Finishes the authorization a callback's `state` names: in whichever tenant started it.
pub async fn complete_authorization(
    store: &Store,
    callback: &Callback,
    timeout: Duration,
) -> Result<Authorized, AuthorizationError> {
    let state = callback.state.as_deref().filter(|s| !s.is_empty()).ok_or(AuthorizationError::MissingState)?;
    let pending = match store.take_oauth_authorization(state).await? {
        Ok(pending) => pending,
        Err(StateRefusal::Unknown) => return Err(AuthorizationError::UnknownState),
        Err(StateRefusal::AlreadyUsed { tenant, app_id }) => {
            refused(store, tenant, app_id, "state already used").await?;
            return Err(AuthorizationError::StateUsed);
        }
        Err(StateRefusal::Expired { tenant, app_id }) => {
            refused(store, tenant, app_id, "state expired").await?;
            return Err(AuthorizationError::StateExpired);
        }
    };
    let (tenant, actor) = (pending.tenant, pending.actor.clone());
    let record = store
        .list_apps(tenant)
        .await?
        .into_iter()
        .find(|a| a.app.id == pending.app_id)
        .ok_or_else(|| StoreError::NotFound(format!("app {}", pending.app_id)))?;
    let app = record.app.name.clone();
    if let Some(error) = callback.error.as_deref() {
        // §4.1.2.1: the description is the server's text for a human; kept short.
        let description = callback.error_description.as_deref().map(|d| d.chars().take(300).collect::<String>());
        let detail = serde_json::json!({"app": app, "error": error, "error_description": description});
        store.append_audit(tenant, &actor, "app.oauth_denied", &app, &detail).await?;
        return Err(AuthorizationError::Denied { app, error: error.chars().take(100).collect(), description });
    }
    let code = callback
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(AuthorizationError::MissingCode { app: app.clone() })?;
    let config = app_auth::authorization_code_config(&record)
        .map_err(|e| AuthorizationError::AppChanged { app: app.clone(), reason: e.to_string() })?;
    let tokens = match config.exchange_code(code, &pending.redirect_uri, &pending.verifier, timeout).await {
        Ok(tokens) => tokens,
        Err(source) => {
            let detail = serde_json::json!({"app": app, "error": source.to_string()});
            store.append_audit(tenant, &actor, "app.oauth_failed", &app, &detail).await?;
            return Err(AuthorizationError::Exchange { app, source });
        }
    };
    store.put_oauth_grant(tenant, record.app.id, &app_auth::to_store_tokens(&tokens), &actor).await?;
    let expires_in_s = tokens.expires_at_ms.map(|at| (at - now_ms()).max(0) / 1000);
    let authorized = Authorized {
        tenant,
        app: app.clone(),
        scope: tokens.scope.clone(),
        refresh_token: tokens.refresh_token.is_some(),
        expires_in_s,
    };
    let detail = serde_json::json!({
        "app": app,
        "scope": authorized.scope,
        "refresh_token": authorized.refresh_token,
        "expires_in_s": expires_in_s,
    });
    store.append_audit(tenant, &actor, "app.oauth_authorized", &app, &detail).await?;
    // The credentials an admin just fixed lift a quarantine they caused; whatever waited for them
    // is planned again now.
    if store.record_app_success(tenant, record.app.id).await? {
        let detail = serde_json::json!({"app": app, "reason": "authorized again"});
        store.append_audit(tenant, &actor, "app.recovered", &app, &detail).await?;
    }
    store.mark_dirty(tenant, &[DirtyMark::app(record.app.id)]).await?;
    tracing::info!(app = %app, actor = %actor, refresh_token = authorized.refresh_token, "OAuth authorization completed");
    Ok(authorized)
}

/// Audits a refused callback whose state was real (replayed or late), in its tenant.
async fn refused(store: &Store, tenant: TenantId, app_id: tenure_core::AppId, reason: &str) -> Result<(), StoreError> {
    let name = store
        .list_apps(tenant)
        .await?
        .into_iter()
        .find(|a| a.app.id == app_id)
        .map(|a| a.app.name)
        .unwrap_or_else(|| app_id.to_string());
    let detail = serde_json::json!({"app": name, "reason": reason});
    tracing::warn!(app = %name, reason, "OAuth callback refused");
    store.append_audit(tenant, "oauth-callback", "app.oauth_refused", &name, &detail).await
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
