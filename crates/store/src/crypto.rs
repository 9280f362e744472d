//! Envelope encryption of the credentials the store keeps (app tokens, OAuth client secrets).
//!
//! Master keys never live in the database: they come from `TENURE_MASTER_KEYS`
//! (`k2:BASE64,k1:BASE64`, the first one current) or from the file `TENURE_MASTER_KEY_FILE`
//! names (the same list, commas or newlines between entries, `#` comments). A secret is sealed
//! with AES-256-GCM under the current key and stored as `v1:<key id>:<b64 nonce>:<b64 ct+tag>`;
//! the additional authenticated data binds it to its tenant and row, so a ciphertext copied into
//! another app's row fails to open instead of lending that app someone else's credential.
//!
//! Without any key the store still works (the embedded single-user default), storing `plain:`
//! followed by the secret so the state is obvious in the database, and warns once per process.
//!
//! AES-GCM: NIST SP 800-38D; ring's AEAD API: <https://docs.rs/ring/0.17/ring/aead/index.html>.
//! Nonces are 96 random bits per seal; SP 800-38D §8.3 bounds random-nonce use to 2^32
//! encryptions per key, far beyond the number of credentials a deployment stores or rotates.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use tenure_core::Secret;

/// The variable holding the master key list.
pub const MASTER_KEYS_VAR: &str = "TENURE_MASTER_KEYS";
/// The variable naming a file that holds the master key list.
pub const MASTER_KEY_FILE_VAR: &str = "TENURE_MASTER_KEY_FILE";

const SEALED_PREFIX: &str = "v1";
const PLAIN_PREFIX: &str = "plain:";
const KEY_LEN: usize = 32;
const MAX_KEY_ID_LEN: usize = 32;

/// Why a key list could not be loaded. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("{origin}: entry {index} is not KEY_ID:BASE64_KEY")]
    Malformed { origin: String, index: usize },
    #[error("{origin}: key id {id:?} must be 1 to 32 letters, digits, '-' or '_'")]
    BadKeyId { origin: String, id: String },
    #[error("{origin}: key {id:?} is not valid base64")]
    BadBase64 { origin: String, id: String },
    #[error("{origin}: key {id:?} is {len} bytes; AES-256 needs exactly 32 (e.g. `openssl rand -base64 32`)")]
    BadLength { origin: String, id: String, len: usize },
    #[error("{origin}: key id {id:?} appears twice")]
    DuplicateId { origin: String, id: String },
    #[error("{origin}: holds no key")]
    Empty { origin: String },
    #[error("cannot read the master key file {path}: {message}")]
    File { path: String, message: String },
    #[error("both {MASTER_KEYS_VAR} and {MASTER_KEY_FILE_VAR} are set; set one")]
    Ambiguous,
}

/// Why a stored credential could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("sealed with master key {0:?}, which is not configured ({MASTER_KEYS_VAR} / {MASTER_KEY_FILE_VAR})")]
    UnknownKey(String),
    #[error(
        "authentication failed: the ciphertext was altered, or belongs to another row, or the key {0:?} is not the one it was sealed with"
    )]
    AuthenticationFailed(String),
    #[error("stored credential is not in a known form ({0})")]
    Malformed(&'static str),
    #[error("the system random generator failed")]
    Random,
}

/// What a stored credential is bound to: its table and column, tenant and row.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub purpose: &'a str,
    pub tenant: &'a str,
    pub row: &'a str,
}

impl Binding<'_> {
    fn aad(&self) -> Vec<u8> {
        // Length-prefixed so no two different bindings produce the same bytes.
        let mut out = b"tenure-credential-v1".to_vec();
        for part in [self.purpose, self.tenant, self.row] {
            out.extend_from_slice(&(part.len() as u64).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// How a credential is stored, read without decrypting it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StoredForm {
    Plain,
    Sealed { key_id: String },
}

impl fmt::Display for StoredForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain => f.write_str("plain"),
            Self::Sealed { key_id } => write!(f, "key {key_id}"),
        }
    }
}

impl StoredForm {
    pub fn of(stored: &str) -> Result<Self, CryptoError> {
        if stored.starts_with(PLAIN_PREFIX) {
            return Ok(Self::Plain);
        }
        let mut parts = stored.splitn(4, ':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(SEALED_PREFIX), Some(id), Some(_), Some(_)) if valid_key_id(id) => {
                Ok(Self::Sealed { key_id: id.to_owned() })
            }
            (Some(SEALED_PREFIX), ..) => Err(CryptoError::Malformed("v1 without key id, nonce and ciphertext")),
            _ => Err(CryptoError::Malformed("neither plain: nor v1:")),
        }
    }
}

struct MasterKey {
    id: String,
    key: LessSafeKey,
}

/// The configured master keys, the current one first. Its Debug shows key ids only.
pub struct Keyring {
    keys: Vec<MasterKey>,
    rng: SystemRandom,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring").field("key_ids", &self.key_ids()).finish()
    }
}

impl Default for Keyring {
    fn default() -> Self {
        Self::empty()
    }
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

static WARNED_PLAIN: AtomicBool = AtomicBool::new(false);

fn warn_plain_once(message: &str) {
    if !WARNED_PLAIN.swap(true, Ordering::Relaxed) {
        tracing::warn!("{message}");
    }
}

impl Keyring {
    /// No keys: credentials are stored as `plain:`.
    pub fn empty() -> Self {
        Self { keys: Vec::new(), rng: SystemRandom::new() }
    }

    /// Parses `ID:BASE64[,ID:BASE64...]` (newlines also separate; `#` starts a comment line).
    /// `origin` says where the text came from, for errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, KeyringError> {
        let origin = origin.to_owned();
        let mut keys: Vec<MasterKey> = Vec::new();
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty());
        for (index, entry) in entries.enumerate() {
            let index = index + 1;
            let (id, b64) =
                entry.split_once(':').ok_or_else(|| KeyringError::Malformed { origin: origin.clone(), index })?;
            let (id, b64) = (id.trim(), b64.trim());
            if !valid_key_id(id) {
                return Err(KeyringError::BadKeyId { origin, id: id.to_owned() });
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyringError::DuplicateId { origin, id: id.to_owned() });
            }
            let bytes =
                B64.decode(b64).map_err(|_| KeyringError::BadBase64 { origin: origin.clone(), id: id.to_owned() })?;
            if bytes.len() != KEY_LEN {
                return Err(KeyringError::BadLength { origin, id: id.to_owned(), len: bytes.len() });
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| KeyringError::BadLength {
                origin: origin.clone(),
                id: id.to_owned(),
                len: bytes.len(),
            })?;
            keys.push(MasterKey { id: id.to_owned(), key: LessSafeKey::new(unbound) });
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty { origin });
        }
        Ok(Self { keys, rng: SystemRandom::new() })
    }

    pub fn from_file(path: &Path) -> Result<Self, KeyringError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KeyringError::File { path: path.display().to_string(), message: e.to_string() })?;
        Self::parse(&text, &format!("{MASTER_KEY_FILE_VAR} ({})", path.display()))
    }

    /// From `TENURE_MASTER_KEYS` or `TENURE_MASTER_KEY_FILE`; empty when neither is set.
    pub fn from_env() -> Result<Self, KeyringError> {
        let inline = std::env::var(MASTER_KEYS_VAR).ok().filter(|v| !v.trim().is_empty());
        let file = std::env::var_os(MASTER_KEY_FILE_VAR).filter(|v| !v.is_empty());
        match (inline, file) {
            (Some(_), Some(_)) => Err(KeyringError::Ambiguous),
            (Some(text), None) => Self::parse(&text, MASTER_KEYS_VAR),
            (None, Some(path)) => Self::from_file(Path::new(&path)),
            (None, None) => Ok(Self::empty()),
        }
    }

    /// A new random key in the form the key list takes (`ID:BASE64`).
    pub fn generate_entry(id: &str) -> Result<Secret, CryptoError> {
        if !valid_key_id(id) {
            return Err(CryptoError::Malformed("key id must be 1 to 32 letters, digits, '-' or '_'"));
        }
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new().fill(&mut bytes).map_err(|_| CryptoError::Random)?;
        Ok(Secret::new(format!("{id}:{}", B64.encode(bytes))))
    }

    /// The key new credentials are sealed with, if any.
    pub fn current_id(&self) -> Option<&str> {
        self.keys.first().map(|k| k.id.as_str())
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    pub fn has_key(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    /// Seals under the current key, or stores `plain:` (warning once) when there is none.
    pub fn seal(&self, binding: Binding<'_>, secret: &Secret) -> Result<String, CryptoError> {
        let Some(current) = self.keys.first() else {
            warn_plain_once(
                "no master key configured (TENURE_MASTER_KEYS or TENURE_MASTER_KEY_FILE): app credentials are stored \
                 in PLAIN TEXT in the database; configure a key and run `tenure keys rotate`",
            );
            return Ok(format!("{PLAIN_PREFIX}{}", secret.expose()));
        };
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut data = secret.expose().as_bytes().to_vec();
        current
            .key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(binding.aad()), &mut data)
            .map_err(|_| CryptoError::Random)?;
        Ok(format!("{SEALED_PREFIX}:{}:{}:{}", current.id, B64.encode(nonce), B64.encode(&data)))
    }

    /// Opens a stored credential, plain or sealed under any configured key.
    pub fn open(&self, binding: Binding<'_>, stored: &str) -> Result<Secret, CryptoError> {
        if let Some(plain) = stored.strip_prefix(PLAIN_PREFIX) {
            if !self.keys.is_empty() {
                warn_plain_once("some app credentials are still stored in PLAIN TEXT; run `tenure keys rotate`");
            }
            return Ok(Secret::new(plain));
        }
        let StoredForm::Sealed { key_id } = StoredForm::of(stored)? else {
            return Err(CryptoError::Malformed("neither plain: nor v1:"));
        };
        let key = self.keys.iter().find(|k| k.id == key_id).ok_or_else(|| CryptoError::UnknownKey(key_id.clone()))?;
        let mut parts = stored.splitn(4, ':').skip(2);
        let (Some(nonce), Some(ct)) = (parts.next(), parts.next()) else {
            return Err(CryptoError::Malformed("v1 without nonce and ciphertext"));
        };
        let nonce: [u8; NONCE_LEN] = B64
            .decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(CryptoError::Malformed("nonce is not 12 bytes of base64"))?;
        let mut data = B64.decode(ct).map_err(|_| CryptoError::Malformed("ciphertext is not base64"))?;
        let plain = key
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(binding.aad()), &mut data)
            .map_err(|_| CryptoError::AuthenticationFailed(key_id.clone()))?;
        let text = std::str::from_utf8(plain).map_err(|_| CryptoError::Malformed("plaintext is not UTF-8"))?;
        Ok(Secret::new(text))
    }

    /// Whether a stored credential is already sealed under the current key (nothing to rotate).
    pub fn is_current(&self, stored: &str) -> bool {
        matches!((StoredForm::of(stored), self.current_id()), (Ok(StoredForm::Sealed { key_id }), Some(c)) if key_id == c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn bind<'a>(row: &'a str) -> Binding<'a> {
        Binding { purpose: "apps.secret", tenant: "t", row }
    }

    #[test]
    fn parse_errors_name_the_entry_and_never_the_key() {
        let e = Keyring::parse("k1:AAAA", "X").unwrap_err().to_string();
        assert!(e.contains("\"k1\"") && e.contains("3 bytes"), "{e}");
        assert!(!e.contains("AAAA"), "{e}");
        let e = Keyring::parse(&format!("{K1},{K1}"), "X").unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
        assert!(Keyring::parse("nocolon", "X").unwrap_err().to_string().contains("entry 1"));
        assert!(Keyring::parse("bad id:AAAA", "X").unwrap_err().to_string().contains("key id"));
        assert!(matches!(Keyring::parse(" \n# only a comment\n", "X"), Err(KeyringError::Empty { .. })));
    }

    #[test]
    fn seals_with_a_fresh_nonce_each_time() {
        let ring = Keyring::parse(K1, "X").unwrap();
        let a = ring.seal(bind("r"), &Secret::new("tok")).unwrap();
        let b = ring.seal(bind("r"), &Secret::new("tok")).unwrap();
        assert_ne!(a, b);
        assert!(!a.contains("tok"));
        assert_eq!(ring.open(bind("r"), &a).unwrap().expose(), "tok");
        assert_eq!(StoredForm::of(&a).unwrap(), StoredForm::Sealed { key_id: "k1".into() });
    }

    #[test]
    fn malformed_forms_are_named() {
        let ring = Keyring::parse(K1, "X").unwrap();
        assert!(matches!(ring.open(bind("r"), "tok"), Err(CryptoError::Malformed(_))));
        assert!(matches!(ring.open(bind("r"), "v1:k1:!!:AAAA"), Err(CryptoError::Malformed(_))));
        assert!(matches!(ring.open(bind("r"), "v1:k1"), Err(CryptoError::Malformed(_))));
    }
}
