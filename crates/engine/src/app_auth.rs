//! An app's connector, built the way the app is configured: its kind, its credentials (a static
//! bearer token, or access tokens from its OAuth 2.0 authorization server — client credentials,
//! RFC 6749 §4.4 — shared by every client of the app in this process so one token serves them
//! all; for Google Workspace, the service account's key), its probed capabilities and its rate
//! limit.

use std::sync::Arc;

use tenure_connectors::oauth::{ClientAuth, OAuthConfig, TokenSource};
use tenure_connectors::{ClientOptions, Connector, ConnectorError, GoogleWorkspace, RateLimiter, ScimClient};
use tenure_core::{AppKind, Secret};
use tenure_store::{AppAuth, AppRecord, OauthClientAuth};

/// The connector the engine provisions the app through.
pub fn connector(
    app: &AppRecord,
    options: ClientOptions,
    limiter: Option<Arc<RateLimiter>>,
) -> Result<Arc<dyn Connector>, ConnectorError> {
    match app.app.kind {
        AppKind::Scim => {
            let mut client = scim_client(app, options)?;
            // The profile `tenure app check` stored: lookups, updates and paging adapt to the app.
            if let Some(caps) = &app.app.settings.capabilities {
                client = client.with_capabilities(caps.clone());
            }
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

/// The app's SCIM client, authenticated, without its profile or pacing (`tenure app check`).
pub fn scim_client(app: &AppRecord, options: ClientOptions) -> Result<ScimClient, ConnectorError> {
    // Another kind's secret (a service account key) must never go out as a bearer token.
    if app.app.kind != AppKind::Scim {
        return Err(ConnectorError::Unsupported { operation: format!("be reached over SCIM (app {})", app.app.name) });
    }
    match &app.auth {
        AppAuth::Bearer => ScimClient::new(&app.app.base_url, app.secret.clone(), options),
        AppAuth::OauthClientCredentials { token_url, client_id, scope, client_auth } => {
            let client_auth = match client_auth {
                OauthClientAuth::Basic => ClientAuth::Basic,
                OauthClientAuth::Body => ClientAuth::Body,
            };
            let config = OAuthConfig::new(token_url, client_id, app.secret.clone(), scope.as_deref())?
                .with_client_auth(client_auth);
            let tokens = TokenSource::shared(config, options.timeout)?;
            // No static token: the client secret must never reach the app as a bearer token.
            Ok(ScimClient::new(&app.app.base_url, Secret::new(""), options)?.with_oauth(tokens))
        }
    }
}
