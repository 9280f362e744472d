//! App-only access to Microsoft Graph: the OAuth 2.0 client credentials grant at the Microsoft
//! identity platform, with a client secret or a certificate.
//! <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow>
//! The certificate variant sends a `client_assertion`: a JWT signed RS256 with the certificate's
//! key, its `x5t` header the base64url SHA-1 thumbprint of the certificate.
//! <https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials>

use std::path::PathBuf;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tenure_core::Secret;
use url::Url;

use crate::cloud_http::{CloudError, Http, Service, TokenCache, admin_url, token_from_response};
use crate::jwt::{RsaSigner, b64, x5t_thumbprint};

/// App-only permissions come from the app registration; `.default` asks for all of them.
pub const SCOPE: &str = "https://graph.microsoft.com/.default";

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Short: an assertion is used once, right away.
const ASSERTION_LIFETIME: i64 = 600;

/// How the app proves who it is. Stored in the source's configuration, so it names where the
/// secret is (an environment variable, files), never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GraphCredential {
    /// The client secret, read from this environment variable at each sync.
    ClientSecretEnv(String),
    /// A certificate registered on the app, and its private key (both PEM files).
    Certificate { certificate: PathBuf, private_key: PathBuf },
}

enum Proof {
    Secret(Secret),
    Certificate { thumbprint: String, signer: Box<RsaSigner> },
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proof::Secret(_) => f.write_str("Secret(***)"),
            Proof::Certificate { thumbprint, .. } => write!(f, "Certificate(x5t={thumbprint})"),
        }
    }
}

#[derive(Debug)]
pub struct AppCredentials {
    client_id: String,
    token_url: Url,
    proof: Proof,
    cache: TokenCache,
}

fn config(reason: String) -> CloudError {
    CloudError::Config { service: Service::Graph, reason }
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>, CloudError> {
    std::fs::read(path).map_err(|e| config(format!("cannot read {what} {}: {e}", path.display())))
}

impl AppCredentials {
    /// Loads the secret or the key now, so a missing variable or unreadable file fails before any
    /// request. `token_url` defaults to the tenant's v2.0 token endpoint.
    pub fn load(
        tenant_id: &str,
        client_id: &str,
        credential: &GraphCredential,
        token_url: Option<&str>,
    ) -> Result<Self, CloudError> {
        let proof = match credential {
            GraphCredential::ClientSecretEnv(var) => match std::env::var(var) {
                Ok(value) if !value.is_empty() => Proof::Secret(Secret::new(value)),
                _ => {
                    return Err(config(format!("environment variable {var} (the client secret) is not set or empty")));
                }
            },
            GraphCredential::Certificate { certificate, private_key } => {
                let cert = read(certificate, "certificate")?;
                let thumbprint =
                    x5t_thumbprint(&cert, &certificate.display().to_string()).map_err(|e| config(e.to_string()))?;
                let key = read(private_key, "private key")?;
                let signer =
                    RsaSigner::from_pem(&key, &private_key.display().to_string()).map_err(|e| config(e.to_string()))?;
                Proof::Certificate { thumbprint, signer: Box::new(signer) }
            }
        };
        Self::with_proof(tenant_id, client_id, proof, token_url)
    }

    /// With a client secret already in hand (from a secret store rather than the environment).
    pub fn from_secret(
        tenant_id: &str,
        client_id: &str,
        secret: Secret,
        token_url: Option<&str>,
    ) -> Result<Self, CloudError> {
        Self::with_proof(tenant_id, client_id, Proof::Secret(secret), token_url)
    }

    fn with_proof(tenant_id: &str, client_id: &str, proof: Proof, token_url: Option<&str>) -> Result<Self, CloudError> {
        if tenant_id.trim().is_empty() || client_id.trim().is_empty() {
            return Err(config("tenant id and client id must not be empty".into()));
        }
        let default_url = format!("https://login.microsoftonline.com/{}/oauth2/v2.0/token", tenant_id.trim());
        let raw = token_url.unwrap_or(&default_url);
        let token_url = admin_url(Service::Graph, "token URL", raw)?;
        Ok(Self { client_id: client_id.trim().to_owned(), token_url, proof, cache: TokenCache::default() })
    }

    pub async fn token(&self, http: &Http) -> Result<Secret, CloudError> {
        self.cache.get(|| self.request_token(http)).await
    }

    async fn request_token(&self, http: &Http) -> Result<(Secret, Duration), CloudError> {
        let mut form: Vec<(&str, &str)> =
            vec![("client_id", &self.client_id), ("scope", SCOPE), ("grant_type", "client_credentials")];
        let assertion;
        match &self.proof {
            Proof::Secret(secret) => form.push(("client_secret", secret.expose())),
            Proof::Certificate { thumbprint, signer } => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let jti: [u8; 16] = rand::rng().random();
                let claims = json!({
                    "aud": self.token_url.as_str(),
                    "iss": self.client_id,
                    "sub": self.client_id,
                    "jti": b64(&jti),
                    "nbf": now,
                    "iat": now,
                    "exp": now + ASSERTION_LIFETIME,
                });
                assertion = signer.sign(&[("x5t", thumbprint)], &claims).map_err(|e| config(e.to_string()))?;
                form.push(("client_assertion_type", ASSERTION_TYPE));
                form.push(("client_assertion", &assertion));
            }
        }
        let body = http.post_token_form(&self.token_url, &form).await?;
        tracing::debug!(client_id = %self.client_id, "Microsoft Graph access token obtained");
        token_from_response(Service::Graph, &self.token_url, &body)
    }
}
