//! Who uses what: every account of an app, read live, classified by what Tenure knows of it.
//!
//! The classification comes from the same plan `tenure plan` shows, so the report and the next
//! apply cannot disagree: an active account the plan would take away is "unassigned" (or "left"
//! when its person left the directory), an account the plan would link is "matched", and an
//! account nobody accounts for is "unmanaged".

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use tenure_core::attributes;
use tenure_core::*;

use crate::{Engine, EngineError};

/// What an account is, from Tenure's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountClass {
    /// Linked, granted, in step.
    Managed,
    /// Linked and deactivated, as intended.
    Deactivated,
    /// Active, but nothing grants it any more (the plan takes it away).
    UnassignedButActive,
    /// Active, and its person has left the directory.
    LeftButActive,
    /// Inactive, yet still holding a license.
    InactiveButLicensed,
    /// Not linked yet; the plan links it to the person it matches.
    Matched,
    /// Its key names several people or accounts: an admin decides (`tenure adopt`).
    Ambiguous,
    /// No person matches it: an external, an orphan or a shadow account.
    Unmanaged,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountRow {
    pub app: String,
    pub remote_id: String,
    pub user_name: String,
    pub email: Option<String>,
    pub active: bool,
    pub class: AccountClass,
    /// The linked (or matched) person's email.
    pub person: Option<String>,
    /// That person's accounts in other apps.
    pub other_apps: Vec<String>,
}

impl Engine {
    /// Every account of every app (or of the one named), classified.
    pub async fn account_report(&self, app: Option<&str>, today: time::Date) -> Result<Vec<AccountRow>, EngineError> {
        let plans = self.plan(app, today).await?;
        let people: HashMap<PersonId, Person> =
            self.store.list_people(self.tenant).await?.into_iter().map(|p| (p.id, p)).collect();
        let mut apps_of: HashMap<PersonId, Vec<String>> = HashMap::new();
        let mut links_by_app: HashMap<AppId, HashMap<String, AccountLink>> = HashMap::new();
        for record in self.store.list_apps(self.tenant).await? {
            for account in self.store.list_accounts(self.tenant, record.app.id).await? {
                apps_of.entry(account.link.person_id).or_default().push(record.app.name.clone());
                links_by_app.entry(record.app.id).or_default().insert(account.link.remote_id.clone(), account.link);
            }
        }
        let mut rows = Vec::new();
        for p in &plans {
            let links = links_by_app.remove(&p.app.id).unwrap_or_default();
            let mut losing: HashMap<&str, &PlannedOp> = HashMap::new();
            let mut linking: HashMap<&str, &PlannedOp> = HashMap::new();
            for op in &p.plan.ops {
                match &op.kind {
                    OpKind::Link { remote_id, .. } => {
                        linking.insert(remote_id.as_str(), op);
                    }
                    kind if kind.is_deprovision() => {
                        if let Some(id) = kind.remote_id() {
                            losing.insert(id, op);
                        }
                    }
                    _ => {}
                }
            }
            let ambiguous: HashSet<&str> =
                p.plan.cases.iter().flat_map(|c| c.accounts.iter().map(String::as_str)).collect();
            for account in &p.observed {
                let link = links.get(&account.remote_id);
                let person_id =
                    link.map(|l| l.person_id).or_else(|| linking.get(account.remote_id.as_str()).map(|o| o.person_id));
                let person = person_id.and_then(|id| people.get(&id));
                let licensed = account.attributes.get(attributes::LICENSE).is_some_and(|l| !l.is_empty());
                let class = match (link, account.active) {
                    (Some(_), true) if person.is_some_and(|p| p.status == PersonStatus::Deleted) => {
                        AccountClass::LeftButActive
                    }
                    (Some(_), true) if losing.contains_key(account.remote_id.as_str()) => {
                        AccountClass::UnassignedButActive
                    }
                    (Some(_), true) => AccountClass::Managed,
                    (_, false) if licensed => AccountClass::InactiveButLicensed,
                    (Some(_), false) => AccountClass::Deactivated,
                    (None, _) if linking.contains_key(account.remote_id.as_str()) => AccountClass::Matched,
                    (None, _) if ambiguous.contains(account.remote_id.as_str()) => AccountClass::Ambiguous,
                    (None, _) => AccountClass::Unmanaged,
                };
                let other_apps = person_id
                    .and_then(|id| apps_of.get(&id))
                    .map(|apps| apps.iter().filter(|a| **a != p.app.name).cloned().collect())
                    .unwrap_or_default();
                rows.push(AccountRow {
                    app: p.app.name.clone(),
                    remote_id: account.remote_id.clone(),
                    user_name: account.user_name().to_owned(),
                    email: account.email().map(str::to_owned),
                    active: account.active,
                    class,
                    person: person.map(|p| p.email.clone()),
                    other_apps,
                });
            }
        }
        rows.sort_by(|a, b| (&a.app, a.class, &a.user_name).cmp(&(&b.app, b.class, &b.user_name)));
        Ok(rows)
    }
}

/// Accounts per app and class, for the report's summary.
pub fn class_counts(rows: &[AccountRow]) -> BTreeMap<String, BTreeMap<AccountClass, usize>> {
    let mut counts: BTreeMap<String, BTreeMap<AccountClass, usize>> = BTreeMap::new();
    for row in rows {
        *counts.entry(row.app.clone()).or_default().entry(row.class).or_default() += 1;
    }
    counts
}
