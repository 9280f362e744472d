//! What a directory source delivers: a complete snapshot of its people and groups, before Tenure
//! gives them ids. Sources produce it; the store applies it.

use std::collections::BTreeMap;

use time::Date;

use crate::model::{OrgUnitPath, PersonStatus};

/// One person as a source delivers them, before Tenure gives them an id.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedPerson {
    pub source_key: String,
    pub user_name: String,
    pub email: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub employee_id: Option<String>,
    pub manager_key: Option<String>,
    pub org_unit: Option<OrgUnitPath>,
    pub status: PersonStatus,
    pub start_date: Option<Date>,
    pub leave_date: Option<Date>,
    pub custom: BTreeMap<String, String>,
    /// Names of the groups the person is a direct member of.
    pub groups: Vec<String>,
}

/// A group and the groups it is nested in.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportGroup {
    pub name: String,
    pub parents: Vec<String>,
}

/// A complete snapshot of a source: whoever is not in it has left.
#[derive(Debug, Clone, Default)]
pub struct ImportBatch {
    pub people: Vec<ImportedPerson>,
    pub groups: Vec<ImportGroup>,
}
