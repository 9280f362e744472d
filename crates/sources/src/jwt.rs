//! RS256 JSON Web Tokens (RFC 7519, JWS compact serialization RFC 7515), signed with `ring`.
//!
//! Both cloud sources authenticate with a self-signed JWT: Google's service account assertion
//! (<https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests>)
//! and Microsoft's certificate client assertion
//! (<https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials>).
//! Only signing lives here; tokens are never parsed on this side.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{what}: not a PEM private key: {reason}")]
    Pem { what: String, reason: String },
    #[error("{what}: {kind} keys are not supported; an RSA key (PKCS#8 or PKCS#1) is needed for RS256")]
    NotRsa { what: String, kind: &'static str },
    #[error("{what}: the RSA key was rejected: {reason}")]
    Rejected { what: String, reason: String },
    #[error("{what}: not a PEM certificate: {reason}")]
    Certificate { what: String, reason: String },
    #[error("signing failed")]
    Sign,
}

/// An RSA private key ready to sign RS256 JWTs. Its `Debug` shows no key material.
pub struct RsaSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaSigner(***)")
    }
}

impl RsaSigner {
    /// From a PEM private key: `BEGIN PRIVATE KEY` (PKCS#8, what Google's JSON key files and
    /// `openssl genpkey` write) or `BEGIN RSA PRIVATE KEY` (PKCS#1). `what` names the key's origin
    /// in errors; the key itself never appears in one.
    pub fn from_pem(pem: &[u8], what: &str) -> Result<Self, KeyError> {
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| KeyError::Pem { what: what.to_owned(), reason: e.to_string() })?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            PrivateKeyDer::Sec1(_) => return Err(KeyError::NotRsa { what: what.to_owned(), kind: "EC (SEC1)" }),
            _ => return Err(KeyError::NotRsa { what: what.to_owned(), kind: "unknown" }),
        }
        .map_err(|e| KeyError::Rejected { what: what.to_owned(), reason: e.to_string() })?;
        Ok(Self { key, rng: SystemRandom::new() })
    }

    /// The compact JWS `header.claims.signature`, with `alg` RS256 and `typ` JWT added to
    /// `extra_header` (e.g. `kid`, `x5t`).
    pub fn sign(&self, extra_header: &[(&str, &str)], claims: &Value) -> Result<String, KeyError> {
        let mut header = serde_json::Map::new();
        header.insert("alg".into(), "RS256".into());
        header.insert("typ".into(), "JWT".into());
        for (k, v) in extra_header {
            header.insert((*k).to_owned(), (*v).into());
        }
        let mut input = b64(Value::Object(header).to_string().as_bytes());
        input.push('.');
        input.push_str(&b64(claims.to_string().as_bytes()));
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key.sign(&RSA_PKCS1_SHA256, &self.rng, input.as_bytes(), &mut signature).map_err(|_| KeyError::Sign)?;
        input.push('.');
        input.push_str(&b64(&signature));
        Ok(input)
    }
}

/// base64url without padding, as JWS uses everywhere (RFC 7515 §2).
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The `x5t` header value of a certificate: base64url of the SHA-1 of its DER (RFC 7515 §4.1.7),
/// which is how Entra ID picks the registered certificate to check the assertion with.
pub fn x5t_thumbprint(cert_pem: &[u8], what: &str) -> Result<String, KeyError> {
    let der = CertificateDer::from_pem_slice(cert_pem)
        .map_err(|e| KeyError::Certificate { what: what.to_owned(), reason: e.to_string() })?;
    Ok(b64(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der.as_ref()).as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = include_bytes!("../../testkit/fixtures/test-only-rsa-key.pem");
    const CERT: &[u8] = include_bytes!("../../testkit/fixtures/test-only-cert.pem");

    #[test]
    fn signs_a_verifiable_rs256_token() {
        let signer = RsaSigner::from_pem(KEY, "test key").unwrap();
        let token = signer.sign(&[("kid", "k1")], &serde_json::json!({"iss": "me"})).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], "k1");
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signer.key.public().as_ref().to_vec(),
        );
        let signed = format!("{}.{}", parts[0], parts[1]);
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        public.verify(signed.as_bytes(), &sig).unwrap();
        assert!(public.verify(format!("{signed}x").as_bytes(), &sig).is_err());
    }

    #[test]
    fn rejects_what_is_not_an_rsa_key() {
        let err = RsaSigner::from_pem(b"hello", "key.pem").unwrap_err();
        assert!(err.to_string().starts_with("key.pem: not a PEM private key"), "{err}");
        assert!(x5t_thumbprint(KEY, "cert.pem").is_err());
        assert_eq!(x5t_thumbprint(CERT, "cert.pem").unwrap().len(), 27, "20 bytes of SHA-1 in base64url");
        assert_eq!(format!("{:?}", RsaSigner::from_pem(KEY, "k").unwrap()), "RsaSigner(***)");
    }
}
