//! Tenure's flat, app-neutral account attributes and the default mapping from a person.
//!
//! Connectors translate these names to and from their wire format (SCIM paths, vendor JSON), so
//! the reconciler compares like with like whatever the app.

use std::collections::BTreeMap;

use crate::model::{Person, UserNameFormat};

/// Attribute name → value. Absent means "not set".
pub type Attributes = BTreeMap<String, String>;

pub const USER_NAME: &str = "userName";
pub const EXTERNAL_ID: &str = "externalId";
pub const GIVEN_NAME: &str = "givenName";
pub const FAMILY_NAME: &str = "familyName";
pub const DISPLAY_NAME: &str = "displayName";
pub const EMAIL: &str = "email";
pub const TITLE: &str = "title";
pub const DEPARTMENT: &str = "department";
pub const EMPLOYEE_NUMBER: &str = "employeeNumber";

/// The attributes Tenure manages by default: the ones every SCIM app understands. The
/// expression-language mappings replace this per app.
pub fn default_mapping(person: &Person, user_name: UserNameFormat) -> Attributes {
    let mut attrs = Attributes::new();
    attrs.insert(USER_NAME.into(), derive_user_name(person, user_name));
    attrs.insert(EXTERNAL_ID.into(), person.id.to_string());
    attrs.insert(EMAIL.into(), person.email.clone());
    attrs.insert(DISPLAY_NAME.into(), person.display());
    let optional = [
        (GIVEN_NAME, &person.given_name),
        (FAMILY_NAME, &person.family_name),
        (TITLE, &person.title),
        (DEPARTMENT, &person.department),
        (EMPLOYEE_NUMBER, &person.employee_id),
    ];
    for (name, value) in optional {
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            attrs.insert(name.into(), v.clone());
        }
    }
    attrs
}

/// The attributes whose desired value differs from the observed one: (name, desired). A desired
/// attribute the app does not report is a difference; an attribute the app has and the mapping
/// does not manage is left alone.
pub fn diff(desired: &Attributes, observed: &Attributes) -> Vec<(String, String)> {
    desired.iter().filter(|(k, v)| observed.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The userName an app gets for a person. The local-part form keeps only the characters such
/// apps accept (lowercase letters, digits, `.`, `-`, `_`).
pub fn derive_user_name(person: &Person, format: UserNameFormat) -> String {
    match format {
        UserNameFormat::Email => person.user_name.clone(),
        UserNameFormat::EmailLocalPart { max_len } => {
            let local = person.email.split('@').next().unwrap_or_default();
            let cleaned: String = local
                .to_lowercase()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                .collect();
            match max_len {
                Some(n) => cleaned.chars().take(n).collect(),
                None => cleaned,
            }
        }
    }
}
