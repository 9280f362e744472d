//! The SCIM client for an app, authenticated the way the app is configured: its static bearer
//! token, or access tokens from its OAuth 2.0 authorization server (client credentials, RFC 6749
//! §4.4), shared by every client of the app in this process so one token serves them all.

use tenure_connectors::oauth::{ClientAuth, OAuthConfig, TokenSource};
use tenure_connectors::{ClientOptions, ConnectorError, ScimClient};
use tenure_core::Secret;
use tenure_store::{AppAuth, AppRecord, OauthClientAuth};

pub fn scim_client(app: &AppRecord, options: ClientOptions) -> Result<ScimClient, ConnectorError> {
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
