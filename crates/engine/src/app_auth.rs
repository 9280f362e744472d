//! An app's connector, built the way the app is configured: its kind, its probed capabilities,
//! its rate limit and its credentials — a static bearer token; access tokens from its OAuth 2.0
//! authorization server by client credentials (RFC 6749 §4.4), shared by every client of the app
//! in this process so one token serves them all; the tokens an admin's consent granted
//! (authorization code, §4.1), kept in the store and refreshed through it (`StoreGrants`); or, for
//! Google Workspace, the service account's key.

use std::sync::Arc;
use std::time::Duration;

use tenure_connectors::bearer::{AccessTokens, BoxFuture};
use tenure_connectors::oauth::{ClientAuth, OAuthConfig, TokenSource};
use tenure_connectors::oauth_code::{
    AuthorizationCodeConfig, GrantStore, GrantStoreError, GrantedTokens, RefreshingTokenSource, StoredGrant,
};
use tenure_connectors::{ClientOptions, Connector, ConnectorError, GoogleWorkspace, RateLimiter, ScimClient};
use tenure_core::{AppId, AppKind, Secret, TenantId};
use tenure_store::{AppAuth, AppRecord, GrantTokens, OauthClientAuth, Store, StoreError};

/// The connector the engine provisions the app through.
pub fn connector(
    store: &Store,
    tenant: TenantId,
    app: &AppRecord,
    options: ClientOptions,
    limiter: Option<Arc<RateLimiter>>,
) -> Result<Arc<dyn Connector>, ConnectorError> {
    match app.app.kind {
        AppKind::Scim => {
            let mut client = scim_client(store, tenant, app, options)?;
            // The vendor profile the app was added with: its documented errors, its DELETE
            // meaning and its page cap.
            if let Some(vendor) = vendor_of(app) {
                let page_size = client.options().page_size.min(vendor.max_page_size());
                client = client.with_vendor(vendor).with_page_size(page_size);
            }
            // The profile `tenure app check` stored: lookups, updates and paging adapt to the app.
            if let Some(caps) = &app.app.settings.capabilities {
                client = client.with_capabilities(caps.clone());
            }
            if let Some(limiter) = limiter {
                client = client.with_rate_limiter(limiter);
            }
            Ok(Arc::new(client))
        }
        AppKind::GithubOrg => {
            let target = app.app.settings.github.as_ref().ok_or_else(|| {
                ConnectorError::Config(format!(
                    "GitHub app {} names no organization; add it again with `tenure app add github-org`",
                    app.app.name
                ))
            })?;
            // The app's secret is the access token; its base URL the REST API's.
            let mut client = tenure_connectors::GitHubOrg::new(&app.app.base_url, target, app.secret.clone(), options)?;
            if let Some(limiter) = limiter {
                client = client.with_rate_limiter(limiter);
            }
            Ok(Arc::new(client))
        }
        AppKind::Box => {
            let tokens = access_tokens(store, tenant, app, options.timeout)?;
            let mut client = tenure_connectors::BoxUsers::new(&app.app.base_url, static_token(app), options)?;
            if let Some(tokens) = tokens {
                client = client.with_access_tokens(tokens);
            }
            if let Some(limiter) = limiter {
                client = client.with_rate_limiter(limiter);
            }
            Ok(Arc::new(client))
        }
        AppKind::Dropbox => {
            // Removing a member keeps their files (Dropbox's own default wipes them).
            let tokens = access_tokens(store, tenant, app, options.timeout)?;
            let mut client = tenure_connectors::Dropbox::new(&app.app.base_url, static_token(app), options)?;
            if let Some(tokens) = tokens {
                client = client.with_access_tokens(tokens);
            }
            if let Some(limiter) = limiter {
                client = client.with_rate_limiter(limiter);
            }
            Ok(Arc::new(client))
        }
        AppKind::M365 => {
            let target = app.app.settings.m365.as_ref().ok_or_else(|| {
                ConnectorError::Config(format!(
                    "Microsoft 365 app {} names no tenant; add it again with `tenure app add m365`",
                    app.app.name
                ))
            })?;
            let mut client = m365_client(app, options)?
                .with_usage_location(target.usage_location.clone())
                .with_license_skus(target.license_skus.clone());
            if let Some(limiter) = limiter {
                client = client.with_rate_limiter(limiter);
            }
            Ok(Arc::new(client))
        }
        AppKind::GoogleWorkspace => {
            let target = app.app.settings.google_workspace.as_ref().ok_or_else(|| {
                ConnectorError::Config(format!(
                    "Google Workspace app {} has no domain and admin settings; add it again with `tenure app add google`",
                    app.app.name
                ))
            })?;
            // The app's secret is the service account's JSON key.
            let mut client = GoogleWorkspace::new(&app.app.base_url, target, &app.secret, options)?;
            if let Some(limiter) = limiter {
                client = client.with_rate_limiter(limiter);
            }
            Ok(Arc::new(client))
        }
    }
}

/// A Microsoft 365 app's Graph client: app-only tokens by client credentials from its tenant's
/// token endpoint, shared by every client of the app in this process.
pub fn m365_client(app: &AppRecord, options: ClientOptions) -> Result<tenure_connectors::M365, ConnectorError> {
    let AppAuth::OauthClientCredentials { token_url, client_id, scope, client_auth, .. } = &app.auth else {
        return Err(ConnectorError::Config(format!(
            "Microsoft 365 app {} must use OAuth client credentials (its auth is {})",
            app.app.name,
            app.auth.kind()
        )));
    };
    let scope = scope.as_deref().unwrap_or(tenure_connectors::m365::GRAPH_SCOPE);
    let config = OAuthConfig::new(token_url, client_id, app.secret.clone(), Some(scope))?
        .with_client_auth(client_auth_of(*client_auth));
    let tokens = TokenSource::shared(config, options.timeout)?;
    tenure_connectors::M365::new(&app.app.base_url, tokens, options)
}

/// The app's SCIM client, authenticated, without its profile or pacing (`tenure app check`).
pub fn scim_client(
    store: &Store,
    tenant: TenantId,
    app: &AppRecord,
    options: ClientOptions,
) -> Result<ScimClient, ConnectorError> {
    // Another kind's secret (a service account key) must never go out as a bearer token.
    if app.app.kind != AppKind::Scim {
        return Err(ConnectorError::Unsupported { operation: format!("be reached over SCIM (app {})", app.app.name) });
    }
    let tokens = access_tokens(store, tenant, app, options.timeout)?;
    let client = ScimClient::new(&app.app.base_url, static_token(app), options)?;
    Ok(match tokens {
        Some(tokens) => client.with_access_tokens(tokens),
        None => client,
    })
}

/// The static bearer token, when the app has one; empty when its tokens come from OAuth (the
/// client secret must never reach the app as a bearer token).
fn static_token(app: &AppRecord) -> Secret {
    match app.auth {
        AppAuth::Bearer => app.secret.clone(),
        _ => Secret::new(""),
    }
}

/// Where the app's access tokens come from when they are not one static token: its OAuth
/// authorization server by client credentials (shared by every client of the app in this
/// process), or the grant an admin consented to, refreshed through the store.
fn access_tokens(
    store: &Store,
    tenant: TenantId,
    app: &AppRecord,
    timeout: Duration,
) -> Result<Option<Arc<dyn AccessTokens>>, ConnectorError> {
    match &app.auth {
        AppAuth::Bearer => Ok(None),
        AppAuth::OauthClientCredentials { token_url, client_id, scope, client_auth, token_params } => {
            let config = OAuthConfig::new(token_url, client_id, app.secret.clone(), scope.as_deref())?
                .with_client_auth(client_auth_of(*client_auth))
                .with_token_params(token_params.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
            let tokens: Arc<dyn AccessTokens> = TokenSource::shared(config, timeout)?;
            Ok(Some(tokens))
        }
        AppAuth::OauthAuthorizationCode { .. } => {
            let config = authorization_code_config(app)?;
            let grants =
                Arc::new(StoreGrants { store: store.clone(), tenant, app: app.app.id, name: app.app.name.clone() });
            Ok(Some(Arc::new(RefreshingTokenSource::new(config.client, grants, timeout)?)))
        }
    }
}

fn client_auth_of(auth: OauthClientAuth) -> ClientAuth {
    match auth {
        OauthClientAuth::Basic => ClientAuth::Basic,
        OauthClientAuth::Body => ClientAuth::Body,
    }
}

/// The app's authorization server, when the app uses the authorization-code grant.
pub fn authorization_code_config(app: &AppRecord) -> Result<AuthorizationCodeConfig, ConnectorError> {
    let AppAuth::OauthAuthorizationCode { authorize_url, token_url, client_id, scope, client_auth } = &app.auth else {
        return Err(ConnectorError::Config(format!(
            "app {} does not use the OAuth authorization-code flow (its auth is {})",
            app.app.name,
            app.auth.kind()
        )));
    };
    let client = OAuthConfig::new(token_url, client_id, app.secret.clone(), scope.as_deref())?
        .with_client_auth(client_auth_of(*client_auth));
    AuthorizationCodeConfig::new(authorize_url, client)
}

/// An app's grant in the store, for the connector's refreshing token source.
struct StoreGrants {
    store: Store,
    tenant: TenantId,
    app: AppId,
    name: String,
}

fn store_error(e: StoreError) -> GrantStoreError {
    GrantStoreError { retryable: e.is_retryable(), message: e.to_string() }
}

pub(crate) fn to_store_tokens(tokens: &GrantedTokens) -> GrantTokens {
    GrantTokens {
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone(),
        expires_ms: tokens.expires_at_ms,
        scope: tokens.scope.clone(),
    }
}

impl GrantStore for StoreGrants {
    fn load(&self) -> BoxFuture<'_, Result<Option<StoredGrant>, GrantStoreError>> {
        Box::pin(async move {
            let grant = self.store.oauth_grant(self.tenant, self.app).await.map_err(store_error)?;
            Ok(grant.map(|g| StoredGrant {
                tokens: GrantedTokens {
                    access_token: g.tokens.access_token,
                    refresh_token: g.tokens.refresh_token,
                    expires_at_ms: g.tokens.expires_ms,
                    scope: g.tokens.scope,
                },
                version: g.version,
                revoked: g.revoked_ms.map(|_| g.revoked_reason.unwrap_or_else(|| "the grant was revoked".into())),
            }))
        })
    }

    fn claim_refresh(&self, version: i64, lease: Duration) -> BoxFuture<'_, Result<bool, GrantStoreError>> {
        Box::pin(async move {
            self.store
                .claim_oauth_refresh(self.tenant, self.app, version, lease.as_millis() as i64)
                .await
                .map_err(store_error)
        })
    }

    fn release_refresh(&self, version: i64) -> BoxFuture<'_, Result<(), GrantStoreError>> {
        Box::pin(
            async move { self.store.release_oauth_refresh(self.tenant, self.app, version).await.map_err(store_error) },
        )
    }

    fn save_refreshed<'a>(
        &'a self,
        version: i64,
        tokens: &'a GrantedTokens,
    ) -> BoxFuture<'a, Result<bool, GrantStoreError>> {
        Box::pin(async move {
            self.store
                .save_refreshed_oauth_grant(self.tenant, self.app, version, &to_store_tokens(tokens))
                .await
                .map_err(store_error)
        })
    }

    fn revoke<'a>(&'a self, version: i64, reason: &'a str) -> BoxFuture<'a, Result<(), GrantStoreError>> {
        Box::pin(async move {
            if self.store.revoke_oauth_grant(self.tenant, self.app, version, reason).await.map_err(store_error)? {
                // Once per grant: the audit log says when and why the app stopped working.
                let detail = serde_json::json!({"app": self.name, "reason": reason});
                self.store
                    .append_audit(self.tenant, "tenure", "app.oauth_revoked", &self.name, &detail)
                    .await
                    .map_err(store_error)?;
            }
            Ok(())
        })
    }
}

/// The app's vendor profile, when it was added with one (an unknown name is ignored, with a
/// warning: the generic SCIM behaviour is the safe fallback).
pub fn vendor_of(app: &AppRecord) -> Option<tenure_connectors::Vendor> {
    let name = app.app.settings.vendor.as_deref()?;
    match name.parse() {
        Ok(vendor) => Some(vendor),
        Err(_) => {
            tracing::warn!(app = %app.app.name, vendor = name, "unknown vendor profile; using generic SCIM behaviour");
            None
        }
    }
}

/// The app as the planner must see it. In an app whose delete only deactivates (Slack,
/// Atlassian), a delete leaves the account there, inactive: planned as a delete it would be
/// planned again on every pass, so the planner is told "deactivate", which is what happens.
pub(crate) fn for_planning(mut record: AppRecord) -> AppRecord {
    use tenure_core::DeprovisionPolicy::{Deactivate, DeactivateThenDelete, Delete};
    let keeps = vendor_of(&record).is_some_and(|v| v.delete_meaning().account_remains());
    if keeps && matches!(record.app.settings.deprovision, Delete | DeactivateThenDelete { .. }) {
        record.app.settings.deprovision = Deactivate;
    }
    record
}
