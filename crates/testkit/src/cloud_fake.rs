//! What the Google and Microsoft Graph fakes share: the test-only key material, RS256 JWT
//! verification written independently of the code under test, throttling injection, and an axum
//! server on a free loopback port that stops when dropped.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

/// A fixture file (test-only keys and certificate), by name.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// The registered key: its private half signs in the code under test, its public half verifies in
/// the fakes.
pub const TEST_KEY: &str = "test-only-rsa-key.pem";
/// An unrelated key: a JWT signed with it must be refused.
pub const OTHER_KEY: &str = "test-only-other-rsa-key.pem";
/// The self-signed certificate of [`TEST_KEY`].
pub const TEST_CERT: &str = "test-only-cert.pem";

/// The RSAPublicKey DER of a PEM private key (what `ring` verifies with).
pub fn public_key_der(private_pem: &[u8]) -> anyhow::Result<Vec<u8>> {
    let der = PrivateKeyDer::from_pem_slice(private_pem).context("PEM private key")?;
    let PrivateKeyDer::Pkcs8(pkcs8) = der else { anyhow::bail!("expected a PKCS#8 key") };
    let pair = RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der()).map_err(|e| anyhow::anyhow!("RSA key: {e}"))?;
    Ok(ring::signature::KeyPair::public_key(&pair).as_ref().to_vec())
}

/// base64url(SHA-1(certificate DER)): the `x5t` Entra ID expects.
pub fn thumbprint(cert_pem: &[u8]) -> anyhow::Result<String> {
    let der = CertificateDer::from_pem_slice(cert_pem).context("PEM certificate")?;
    Ok(URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der.as_ref())))
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A compact JWS checked for RS256 and a valid signature under `public_der`: its header and
/// claims, or why not.
pub fn verify_rs256(token: &str, public_der: &[u8]) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else { return Err("not a compact JWS".into()) };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|e| format!("bad base64url: {e}"));
    let header_json: Value = serde_json::from_slice(&decode(header)?).map_err(|e| format!("header: {e}"))?;
    if header_json.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err("alg is not RS256".into());
    }
    let signed = format!("{header}.{claims}");
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_der)
        .verify(signed.as_bytes(), &decode(signature)?)
        .map_err(|_| "Invalid JWT Signature.".to_owned())?;
    let claims_json: Value = serde_json::from_slice(&decode(claims)?).map_err(|e| format!("claims: {e}"))?;
    Ok((header_json, claims_json))
}

/// Answer the next `remaining` API requests with `status` (and `Retry-After` when set) instead of
/// serving them.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    pub remaining: u32,
    pub status: u16,
    pub retry_after: Option<Duration>,
}

impl Throttle {
    /// `Some(retry_after)` when this request is to be throttled.
    pub fn take(&mut self) -> Option<Option<Duration>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        Some(self.retry_after)
    }
}

/// A running fake; stops when dropped.
pub struct FakeServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeServer {
    pub async fn start(app: axum::Router) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.context("bind fake")?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self { addr, stop: Some(stop) })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A client for the fakes' own requests to the code under test (notifications, validation
/// requests), with the process's TLS provider installed first.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
