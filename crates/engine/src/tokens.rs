//! API tokens: generated with 256 bits of entropy, shown once, stored only as a SHA-256 hash.
//! A fast hash is right here (unlike passwords): the input is random, so there is nothing to
//! brute-force, and lookups by hash need no per-token salt.

use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "tnr_";

/// A new token, e.g. `tnr_3f9a…` (64 hex digits after the prefix, which makes leaked tokens easy
/// to recognise in secret scanners).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{PREFIX}{}", hex(&bytes))
}

/// `bytes` random bytes, as hex: a webhook's signing key, say.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex(&buf)
}

pub fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.trim().as_bytes()))
}

/// The token a bearer secret stands for, looked up by its hash (comparing hashes of a random
/// secret leaks nothing useful by timing); unknown, revoked and expired tokens are `None`.
pub async fn authenticate(
    store: &tenure_store::Store,
    token: &str,
) -> Result<Option<tenure_store::TokenRecord>, tenure_store::StoreError> {
    store.token_by_hash(&hash(token)).await
}

/// Records a token's last use; admins see it in `tenure token list`. Best effort: a request is
/// not refused because its use could not be noted.
pub async fn note_use(store: &tenure_store::Store, record: &tenure_store::TokenRecord) {
    if let Err(e) = store.touch_token(record).await {
        tracing::warn!(error = %e, "could not record a token's last use");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = super::generate();
        assert!(a.starts_with("tnr_") && a.len() == 68);
        assert_ne!(a, super::generate());
        assert_eq!(super::hash(&a), super::hash(&a));
        assert_eq!(super::hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
