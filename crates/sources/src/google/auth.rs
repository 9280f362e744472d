//! Service-account authentication with domain-wide delegation: a JWT signed with the service
//! account's key, naming the admin it acts for (`sub`), exchanged at the token endpoint for an
//! access token (RFC 7523 JWT bearer grant).
//! <https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests>

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tenure_core::Secret;
use url::Url;

use crate::cloud_http::{CloudError, Http, Service, TokenCache, admin_url, token_from_response};
use crate::jwt::RsaSigner;

/// Read-only scopes: users (with org units and relations) and groups with their members — all a
/// directory source needs. Writers (the Google Workspace connector) ask for more with
/// [`ServiceAccount::with_scopes`].
/// <https://developers.google.com/workspace/admin/directory/v1/guides/authorizing>
pub const SCOPES: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly \
https://www.googleapis.com/auth/admin.directory.group.readonly";

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Google caps an assertion's lifetime at one hour.
const ASSERTION_LIFETIME: i64 = 3600;

/// The fields Tenure reads from a service account's JSON key file.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

/// A service account ready to request tokens on behalf of `admin`.
#[derive(Debug)]
pub struct ServiceAccount {
    client_email: String,
    key_id: Option<String>,
    signer: RsaSigner,
    admin: String,
    token_url: Url,
    /// Space-separated OAuth scopes asked for; each must be granted to the service account's
    /// client id in the Admin console's domain-wide delegation.
    scopes: String,
    cache: TokenCache,
}

fn config(reason: String) -> CloudError {
    CloudError::Config { service: Service::Google, reason }
}

impl ServiceAccount {
    /// Reads the key file. `token_url` overrides the file's `token_uri` (tests, proxies).
    pub fn from_key_file(path: &Path, admin: &str, token_url: Option<&str>) -> Result<Self, CloudError> {
        let text = std::fs::read(path).map_err(|e| config(format!("cannot read key file {}: {e}", path.display())))?;
        Self::from_key_json(&text, &path.display().to_string(), admin, token_url)
    }

    pub fn from_key_json(json: &[u8], origin: &str, admin: &str, token_url: Option<&str>) -> Result<Self, CloudError> {
        // serde's message may quote the offending value, which could be the key: a missing field
        // is named, anything else is only located.
        let key: KeyFile = serde_json::from_slice(json).map_err(|e| {
            let text = e.to_string();
            let what = if text.starts_with("missing field") { text } else { format!("{:?} error", e.classify()) };
            config(format!(
                "{origin}: not a service account JSON key ({what} at line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if let Some(kind) = key.kind.as_deref().filter(|k| *k != "service_account") {
            return Err(config(format!("{origin}: key type is {kind:?}, expected \"service_account\"")));
        }
        if !admin.contains('@') {
            return Err(config(format!("admin to impersonate {admin:?} is not an email address")));
        }
        let signer = RsaSigner::from_pem(key.private_key.as_bytes(), &format!("{origin}: private_key"))
            .map_err(|e| config(e.to_string()))?;
        let raw_url = token_url.or(key.token_uri.as_deref()).unwrap_or("https://oauth2.googleapis.com/token");
        let token_url = admin_url(Service::Google, "token URL", raw_url)?;
        Ok(Self {
            client_email: key.client_email,
            key_id: key.private_key_id,
            signer,
            admin: admin.to_owned(),
            token_url,
            scopes: SCOPES.to_owned(),
            cache: TokenCache::default(),
        })
    }

    /// Asks for `scopes` (space-separated) instead of the read-only [`SCOPES`].
    pub fn with_scopes(mut self, scopes: &str) -> Self {
        self.scopes = scopes.to_owned();
        self
    }

    /// Drops the cached access token: the API refused it (revoked, or delegation changed), so
    /// the next request asks the token endpoint again.
    pub async fn forget_token(&self) {
        self.cache.forget().await;
    }

    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// A valid access token, from the cache or the token endpoint.
    pub async fn token(&self, http: &Http) -> Result<Secret, CloudError> {
        self.cache.get(|| self.request_token(http)).await
    }

    async fn request_token(&self, http: &Http) -> Result<(Secret, Duration), CloudError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = json!({
            "iss": self.client_email,
            "sub": self.admin,
            "scope": self.scopes,
            "aud": self.token_url.as_str(),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let header: Vec<(&str, &str)> = self.key_id.as_deref().map(|k| ("kid", k)).into_iter().collect();
        let assertion = self.signer.sign(&header, &claims).map_err(|e| config(e.to_string()))?;
        let body =
            http.post_token_form(&self.token_url, &[("grant_type", JWT_BEARER), ("assertion", &assertion)]).await?;
        tracing::debug!(client = %self.client_email, admin = %self.admin, "Google access token obtained");
        token_from_response(Service::Google, &self.token_url, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_errors_say_what_is_wrong_without_quoting_values() {
        let err = |json: &str| ServiceAccount::from_key_json(json.as_bytes(), "sa.json", "a@x.com", None).unwrap_err();
        let missing = err(r#"{"type": "service_account", "private_key": "k"}"#).to_string();
        assert!(missing.contains("missing field `client_email`"), "{missing}");
        let wrong_type = err(r#"{"client_email": "x", "private_key": ["SECRET-MATERIAL"]}"#).to_string();
        assert!(!wrong_type.contains("SECRET-MATERIAL"), "{wrong_type}");
        let not_rsa = err(
            r#"{"client_email": "x", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#,
        );
        assert!(not_rsa.to_string().contains("sa.json: private_key"), "{not_rsa}");
        let user_key = err(r#"{"type": "authorized_user", "client_email": "x", "private_key": "k"}"#).to_string();
        assert!(user_key.contains("expected \"service_account\""), "{user_key}");
    }
}
