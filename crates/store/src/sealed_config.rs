//! Credentials inside a source's settings (an LDAP bind password, a client secret) are sealed
//! field by field before the settings are stored, and opened when they are read back, so the
//! settings stay readable JSON while every secret in them is a [`Sealed`] at rest.
//!
//! A sealed field is stored as `{"sealed": "v1:..."}`; a plain string in a secret field is a
//! row of an earlier version (re-sealed at start) and is refused once a key exists.

use serde_json::{Map, Value};

use crate::StoreError;
use crate::crypto::{Binding, CryptoError, Keyring, Sealed};

/// Field names that hold a credential wherever they appear in a source's settings.
pub const SECRET_FIELDS: &[&str] = &["password", "client_secret", "private_key", "token"];

const SEALED_KEY: &str = "sealed";

fn is_secret_field(key: &str) -> bool {
    SECRET_FIELDS.contains(&key)
}

fn purpose(key: &str) -> String {
    format!("sources.config.{key}")
}

fn credential(source_name: &str, source: CryptoError) -> StoreError {
    StoreError::Credential { what: format!("source {source_name}"), source }
}

/// The settings as stored: every secret field sealed for this tenant and source.
pub(crate) fn seal(
    keyring: &Keyring,
    tenant: &str,
    source_id: &str,
    source_name: &str,
    config: &Value,
) -> Result<Value, StoreError> {
    let mut out = config.clone();
    walk(&mut out, &mut |key, value| {
        let Value::String(secret) = value else { return Ok(()) };
        let sealed = keyring
            .seal(Binding { purpose: &purpose(key), tenant, row: source_id }, &tenure_core::Secret::new(secret.clone()))
            .map_err(|e| credential(source_name, e))?;
        *value = sealed_value(sealed);
        Ok(())
    })?;
    Ok(out)
}

/// The settings as the engine reads them: every sealed field opened.
pub(crate) fn open(
    keyring: &Keyring,
    tenant: &str,
    source_id: &str,
    source_name: &str,
    stored: Value,
) -> Result<Value, StoreError> {
    let mut out = stored;
    walk(&mut out, &mut |key, value| {
        let binding = Binding { purpose: &purpose(key), tenant, row: source_id };
        let secret = match value {
            Value::String(plain) => {
                keyring.open(binding, &format!("plain:{plain}")).map_err(|e| credential(source_name, e))?
            }
            Value::Object(map) => match map.get(SEALED_KEY) {
                Some(Value::String(stored)) => keyring.open(binding, stored).map_err(|e| credential(source_name, e))?,
                _ => return Ok(()),
            },
            _ => return Ok(()),
        };
        *value = Value::String(secret.expose().to_owned());
        Ok(())
    })?;
    Ok(out)
}

/// Re-seals every secret field that is plain or not under the current key; `None` when
/// nothing changes.
pub(crate) fn reseal(
    keyring: &Keyring,
    tenant: &str,
    source_id: &str,
    source_name: &str,
    stored: &Value,
) -> Result<Option<Value>, StoreError> {
    let mut out = stored.clone();
    let mut changed = false;
    walk(&mut out, &mut |key, value| {
        let binding = Binding { purpose: &purpose(key), tenant, row: source_id };
        let secret = match value {
            Value::String(plain) => tenure_core::Secret::new(plain.clone()),
            Value::Object(map) => match map.get(SEALED_KEY) {
                Some(Value::String(stored)) if keyring.is_current(stored) => return Ok(()),
                Some(Value::String(stored)) => {
                    keyring.open_for_rotation(binding, stored).map_err(|e| credential(source_name, e))?
                }
                _ => return Ok(()),
            },
            _ => return Ok(()),
        };
        *value = sealed_value(keyring.seal(binding, &secret).map_err(|e| credential(source_name, e))?);
        changed = true;
        Ok(())
    })?;
    Ok(changed.then_some(out))
}

/// Whether the stored settings hold a secret in plain text.
pub(crate) fn has_plaintext(stored: &Value) -> bool {
    let mut found = false;
    let mut probe = stored.clone();
    let _ = walk(&mut probe, &mut |_, value| {
        found |= value.is_string();
        Ok(())
    });
    found
}

fn sealed_value(sealed: Sealed) -> Value {
    let mut map = Map::new();
    map.insert(SEALED_KEY.to_owned(), Value::String(sealed.into_stored()));
    Value::Object(map)
}

/// Calls `f` on every value stored under a secret field name, at any depth.
fn walk(value: &mut Value, f: &mut dyn FnMut(&str, &mut Value) -> Result<(), StoreError>) -> Result<(), StoreError> {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret_field(key) {
                    f(key, v)?;
                } else {
                    walk(v, f)?;
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, f)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn secret_fields_are_sealed_and_opened_at_any_depth() {
        let ring = Keyring::parse(K1, "X").unwrap();
        let config = json!({"url": "ldaps://x", "password": "hunter2", "inner": {"client_secret": "s3"}});
        let stored = seal(&ring, "t", "s", "corp", &config).unwrap();
        let text = stored.to_string();
        assert!(!text.contains("hunter2") && !text.contains("s3\""), "{text}");
        assert_eq!(open(&ring, "t", "s", "corp", stored.clone()).unwrap(), config);
        // Bound to its row: another source's settings do not open it.
        assert!(open(&ring, "t", "other", "corp", stored).is_err());
    }

    #[test]
    fn plain_fields_are_refused_once_a_key_exists_and_resealed() {
        let ring = Keyring::parse(K1, "X").unwrap();
        let legacy = json!({"password": "hunter2"});
        assert!(has_plaintext(&legacy));
        assert!(open(&ring, "t", "s", "corp", legacy.clone()).unwrap_err().to_string().contains("plain text"));
        let resealed = reseal(&ring, "t", "s", "corp", &legacy).unwrap().unwrap();
        assert!(!has_plaintext(&resealed));
        assert_eq!(open(&ring, "t", "s", "corp", resealed.clone()).unwrap(), legacy);
        assert!(reseal(&ring, "t", "s", "corp", &resealed).unwrap().is_none());
    }
}
