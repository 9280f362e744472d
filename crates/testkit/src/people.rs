//! People for tests' imports: one shape shared by every test, varied with struct update syntax
//! (`ImportedPerson { org_unit: ..., ..person("E1", "ada@x.com") }`).

use tenure_core::import::ImportedPerson;
use tenure_core::{OrgUnitPath, PersonStatus};

/// An active engineer in `/Eng`: `key` is the source key, employee id and given name.
pub fn person(key: &str, email: &str) -> ImportedPerson {
    ImportedPerson {
        source_key: key.into(),
        user_name: email.into(),
        email: email.into(),
        given_name: Some(key.into()),
        family_name: Some("Tester".into()),
        display_name: None,
        department: Some("Engineering".into()),
        title: Some("Engineer".into()),
        employee_id: Some(key.into()),
        manager_key: None,
        org_unit: OrgUnitPath::parse("/Eng").ok(),
        status: PersonStatus::Active,
        start_date: None,
        leave_date: None,
        custom: Default::default(),
        groups: vec![],
    }
}
