//! Envelope encryption of the credentials the store keeps (app tokens, OAuth client secrets).
//!
//! Master keys never live in the database: they come from `TENURE_MASTER_KEYS`
//! (`k2:BASE64,k1:BASE64`, the first one current) or from the file `TENURE_MASTER_KEY_FILE`
//! names (the same list, commas or newlines between entries, `#` comments). A secret is sealed
//! with AES-256-GCM under the current key and stored as `v1:<key id>:<b64 nonce>:<b64 ct+tag>`;
//! the additional authenticated data binds it to its tenant and row, so a ciphertext copied into
//! another app's row fails to open instead of lending that app someone else's credential.
//!
//! Nothing is ever stored in plain text: without a key a credential is refused
//! ([`CryptoError::NoKey`], naming the settings). The embedded SQLite database gets a key file
//! generated beside it on first start ([`Keyring::load_or_create_file`]), so a default install
//! encrypts. `plain:` rows written by earlier versions are an error once a key exists; the
//! store re-seals them at start, audited ([`Keyring::open_for_rotation`] is the only reader
//! that accepts them).
//!
//! Every secret at rest is a [`Sealed`]: the only way to make one is [`Keyring::seal`], and the
//! store binds nothing else into a credential column.
//!
//! AES-GCM: NIST SP 800-38D; ring's AEAD API: <https://docs.rs/ring/0.17/ring/aead/index.html>.
//! Nonces are 96 random bits per seal; SP 800-38D §8.3 bounds random-nonce use to 2^32
//! encryptions per key, far beyond the number of credentials a deployment stores or rotates.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
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
    #[error(
        "no master key configured, so the credential cannot be stored encrypted: set {MASTER_KEYS_VAR} (KEY_ID:BASE64,...) or {MASTER_KEY_FILE_VAR}"
    )]
    NoKey,
    #[error(
        "stored in plain text although a master key is configured; it is not trusted (restart to re-seal rows written by an earlier version, or store the credential again)"
    )]
    Plaintext,
}

/// A secret at rest: the stored form of a credential, sealed under a master key. Only
/// [`Keyring::seal`] makes one from a secret; rows read back are wrapped as they are.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(String);

impl Sealed {
    /// A stored form read from the database (opened later, which checks it).
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_stored(&self) -> &str {
        &self.0
    }

    pub fn into_stored(self) -> String {
        self.0
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealed(..)")
    }
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
    /// Signs links Tenure sends out (a reclaim's keep / release): derived from the master key
    /// (HMAC-SHA256 of a fixed label under it), so the key itself never signs anything else.
    links: hmac::Key,
}

/// The label a master key's link-signing key is derived with.
const LINK_KEY_LABEL: &[u8] = b"tenure link signing v1";

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

impl Keyring {
    /// No keys: storing a credential is refused.
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
            let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &bytes), LINK_KEY_LABEL);
            let links = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
            keys.push(MasterKey { id: id.to_owned(), key: LessSafeKey::new(unbound), links });
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

    /// Seals under the current key; without one the credential is refused ([`CryptoError::NoKey`]).
    pub fn seal(&self, binding: Binding<'_>, secret: &Secret) -> Result<Sealed, CryptoError> {
        let Some(current) = self.keys.first() else {
            return Err(CryptoError::NoKey);
        };
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut data = secret.expose().as_bytes().to_vec();
        current
            .key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(binding.aad()), &mut data)
            .map_err(|_| CryptoError::Random)?;
        Ok(Sealed(format!("{SEALED_PREFIX}:{}:{}:{}", current.id, B64.encode(nonce), B64.encode(&data))))
    }

    /// Reads a key list from `path`, or, when the file does not exist, generates one key into
    /// it (mode 0600, created exclusively so two processes starting at once cannot both write
    /// one). The path is logged when it is created; the key never is.
    pub fn load_or_create_file(path: &Path) -> Result<Self, KeyringError> {
        if path.exists() {
            return Self::from_file(path);
        }
        let file_error =
            |e: std::io::Error| KeyringError::File { path: path.display().to_string(), message: e.to_string() };
        let entry = Self::generate_entry("local1")
            .map_err(|e| KeyringError::File { path: path.display().to_string(), message: e.to_string() })?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut file) => {
                use std::io::Write;
                let text = format!(
                    "# Tenure's master key: credentials in the database are encrypted with it.\n\
                     # Keep it with your backups; without it they cannot be opened.\n{}\n",
                    entry.expose()
                );
                file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(file_error)?;
                tracing::info!(path = %path.display(), "generated a master key for the embedded database");
            }
            // Another process created it meanwhile: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(file_error(e)),
        }
        Self::from_file(path)
    }

    /// Opens a sealed credential. A `plain:` row is refused once a key exists (it could be a
    /// downgrade); without any key, rows of earlier versions still open.
    pub fn open(&self, binding: Binding<'_>, stored: &str) -> Result<Secret, CryptoError> {
        if let Some(plain) = stored.strip_prefix(PLAIN_PREFIX) {
            if !self.keys.is_empty() {
                return Err(CryptoError::Plaintext);
            }
            return Ok(Secret::new(plain));
        }
        self.open_sealed(binding, stored)
    }

    /// For the explicit, audited re-sealing only: also accepts `plain:` rows.
    pub fn open_for_rotation(&self, binding: Binding<'_>, stored: &str) -> Result<Secret, CryptoError> {
        match stored.strip_prefix(PLAIN_PREFIX) {
            Some(plain) => Ok(Secret::new(plain)),
            None => self.open_sealed(binding, stored),
        }
    }

    fn open_sealed(&self, binding: Binding<'_>, stored: &str) -> Result<Secret, CryptoError> {
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

    /// Signs `message` for a link with the current key: (its id, the HMAC-SHA256 tag). Without a
    /// key nothing is signed ([`CryptoError::NoKey`]).
    pub fn sign_link(&self, message: &[u8]) -> Result<(String, Vec<u8>), CryptoError> {
        let current = self.keys.first().ok_or(CryptoError::NoKey)?;
        Ok((current.id.clone(), hmac::sign(&current.links, message).as_ref().to_vec()))
    }

    /// Whether `tag` is the link tag of `message` under the key `key_id` (any key of the ring,
    /// so links sent before a rotation still work while the old key is kept). Constant time.
    pub fn verify_link(&self, key_id: &str, message: &[u8], tag: &[u8]) -> bool {
        self.keys.iter().find(|k| k.id == key_id).is_some_and(|k| hmac::verify(&k.links, message, tag).is_ok())
    }

    /// Whether a re-sealing leaves `stored` as it is: already under the current key, or, with
    /// `only_plain`, sealed at all.
    pub fn keeps(&self, stored: &str, only_plain: bool) -> bool {
        self.is_current(stored) || (only_plain && !stored.starts_with(PLAIN_PREFIX))
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
    fn link_tags_verify_only_for_their_message_and_key() {
        let ring = Keyring::parse(K1, "t").unwrap();
        let (id, tag) = ring.sign_link(b"reclaim:a").unwrap();
        assert_eq!(id, "k1");
        assert!(ring.verify_link("k1", b"reclaim:a", &tag));
        assert!(!ring.verify_link("k1", b"reclaim:b", &tag));
        assert!(!ring.verify_link("k2", b"reclaim:a", &tag));
        assert!(Keyring::empty().sign_link(b"x").is_err());
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
        let (a, b) = (a.into_stored(), b.into_stored());
        assert_ne!(a, b);
        assert!(!a.contains("tok"));
        assert_eq!(ring.open(bind("r"), &a).unwrap().expose(), "tok");
        assert_eq!(StoredForm::of(&a).unwrap(), StoredForm::Sealed { key_id: "k1".into() });
    }

    #[test]
    fn nothing_is_stored_plain_and_plain_rows_are_not_trusted_once_a_key_exists() {
        assert_eq!(Keyring::empty().seal(bind("r"), &Secret::new("tok")).unwrap_err(), CryptoError::NoKey);
        let ring = Keyring::parse(K1, "X").unwrap();
        assert_eq!(ring.open(bind("r"), "plain:tok").unwrap_err(), CryptoError::Plaintext);
        assert_eq!(ring.open_for_rotation(bind("r"), "plain:tok").unwrap().expose(), "tok");
        assert_eq!(Keyring::empty().open(bind("r"), "plain:tok").unwrap().expose(), "tok");
    }

    #[test]
    fn a_generated_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = Keyring::load_or_create_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let sealed = first.seal(bind("r"), &Secret::new("tok")).unwrap();
        let again = Keyring::load_or_create_file(&path).unwrap();
        assert_eq!(again.open(bind("r"), sealed.as_stored()).unwrap().expose(), "tok");
    }

    #[test]
    fn malformed_forms_are_named() {
        let ring = Keyring::parse(K1, "X").unwrap();
        assert!(matches!(ring.open(bind("r"), "tok"), Err(CryptoError::Malformed(_))));
        assert!(matches!(ring.open(bind("r"), "v1:k1:!!:AAAA"), Err(CryptoError::Malformed(_))));
        assert!(matches!(ring.open(bind("r"), "v1:k1"), Err(CryptoError::Malformed(_))));
    }
}
