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

pub use tenure_core::AccountClass;

#[derive(Debug, Clone, Serialize)]
pub struct AccountRow {
    pub app: String,
    pub remote_id: String,
    pub user_name: String,
    /// The name the app shows.
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub active: bool,
    pub class: AccountClass,
    /// The linked (or matched) person's email.
    pub person: Option<String>,
    /// That person's accounts in other apps.
    pub other_apps: Vec<String>,
    /// How the link came about (created by Tenure, matched, adopted by an admin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<AccountOrigin>,
    /// The admin's note on a known external account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The license the app says the account holds (its first SCIM entitlement).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Every license the account holds where the app tells more than the tier (Microsoft 365's
    /// SKUs, add-ons included: `licensesHeld`), comma-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licenses_held: Option<String>,
    /// The last day the app says the account was used (Microsoft Graph's `signInActivity`),
    /// where it tells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_active: Option<time::Date>,
}

/// Every license an app's connector said the account holds, where it tells more than the tier.
fn licenses_held(attrs: &tenure_core::attributes::Attributes) -> Option<String> {
    attrs.get(attributes::LICENSES_HELD).filter(|l| !l.is_empty()).cloned()
}

/// The last day of use an app's connector told (`LAST_ACTIVE`), if it is a date.
fn last_active(attrs: &tenure_core::attributes::Attributes) -> Option<time::Date> {
    let day = attrs.get(attributes::LAST_ACTIVE)?;
    time::Date::parse(day, DAY).ok()
}

const DAY: &[time::format_description::FormatItem<'static>] = time::macros::format_description!("[year]-[month]-[day]");

impl Engine {
    /// Every account of every app (or of the one named), classified.
    pub async fn account_report(&self, app: Option<&str>, today: time::Date) -> Result<Vec<AccountRow>, EngineError> {
        self.classified_accounts(app, today, app.is_some()).await
    }

    /// Every account of every app (or of the one named), classified; an app whose list cannot
    /// be read gives its linked accounts as last stored, unless `strict`, when it is an error.
    pub(crate) async fn classified_accounts(
        &self,
        app: Option<&str>,
        today: time::Date,
        strict: bool,
    ) -> Result<Vec<AccountRow>, EngineError> {
        let plans = self.plan(app, today).await?;
        let apps: Vec<&App> = plans.iter().map(|p| &p.app).collect();
        let context = ReportContext::load(self, &apps, today).await?;
        let mut rows = Vec::new();
        for p in &plans {
            if let Some(reason) = &p.plan.refused {
                // One app asked for: its live list is what was asked, and there is none to give.
                if strict {
                    return Err(EngineError::Invalid(format!("app {}: {reason}", p.app.name)));
                }
                let note = format!("as last stored; the app is not planned: {reason}");
                rows.extend(context.unread(&p.app, &note, &self.store.list_accounts(self.tenant, p.app.id).await?));
                continue;
            }
            let marks = self.store.account_marks(self.tenant, p.app.id).await?;
            rows.extend(context.classify(&p.app, &p.plan, &p.observed, &marks));
            rows.extend(context.refused(&p.app, &p.plan));
            // Where the vendor documents that its list leaves accounts out, the linked accounts
            // it did not show are named rather than dropped: Tenure cannot see them, and they
            // are not gone.
            if let Some(note) = crate::profile::unseen_note(&p.app) {
                let listed: HashSet<&str> = p.observed.iter().map(|a| a.remote_id.as_str()).collect();
                let unseen: Vec<tenure_store::StoredAccount> = self
                    .store
                    .list_accounts(self.tenant, p.app.id)
                    .await?
                    .into_iter()
                    .filter(|a| !listed.contains(a.link.remote_id.as_str()))
                    .collect();
                rows.extend(context.unread(&p.app, &note, &unseen));
            }
        }
        rows.sort_by(|a, b| (&a.app, a.class, &a.user_name).cmp(&(&b.app, b.class, &b.user_name)));
        Ok(rows)
    }
}

/// What classifying accounts needs beyond the plan: people, and every stored link.
pub(crate) struct ReportContext {
    people: People,
    apps_of: HashMap<PersonId, Vec<String>>,
    links_by_app: HashMap<AppId, HashMap<String, AccountLink>>,
}

/// The people a classification looks up: a page's few, or the whole directory as kept in memory.
enum People {
    Page(HashMap<PersonId, Person>),
    Directory(std::sync::Arc<crate::planning_cache::DirectorySnapshot>),
}

impl People {
    fn get(&self, id: PersonId) -> Option<&Person> {
        match self {
            People::Page(people) => people.get(&id),
            People::Directory(directory) => directory.person(id),
        }
    }
}

impl ReportContext {
    /// What classifying one page of `app`'s accounts needs: the people already loaded, the app's
    /// links, and the other apps of only the people on the page (linked, or matched by `plan`).
    pub(crate) async fn for_page(
        engine: &Engine,
        app: AppId,
        people: &[Person],
        links: &[AccountLink],
        page: &[RemoteAccount],
        plan: &Plan,
    ) -> Result<Self, EngineError> {
        // Only the page's accounts are classified: their links and people are all it looks up,
        // so a page of 100 does not copy 100,000 of each.
        let ids: HashSet<&str> = page.iter().map(|a| a.remote_id.as_str()).collect();
        let links: HashMap<String, AccountLink> = links
            .iter()
            .filter(|l| ids.contains(l.remote_id.as_str()))
            .map(|l| (l.remote_id.clone(), l.clone()))
            .collect();
        let mut on_page: Vec<PersonId> =
            page.iter().filter_map(|a| links.get(&a.remote_id)).map(|l| l.person_id).collect();
        on_page.extend(plan.ops.iter().filter_map(|op| match &op.kind {
            OpKind::Link { remote_id, .. } if ids.contains(remote_id.as_str()) => Some(op.person_id),
            _ => None,
        }));
        let apps_of = engine.store.apps_of_people(engine.tenant, &on_page).await?;
        let wanted: HashSet<PersonId> = on_page.iter().copied().collect();
        Ok(Self {
            people: People::Page(people.iter().filter(|p| wanted.contains(&p.id)).map(|p| (p.id, p.clone())).collect()),
            apps_of,
            links_by_app: HashMap::from([(app, links)]),
        })
    }

    /// What classifying every account of `apps` needs: the directory as propagation keeps it in
    /// memory (brought up to date first, not read again per report), and every stored link.
    pub(crate) async fn load(engine: &Engine, apps: &[&App], today: time::Date) -> Result<Self, EngineError> {
        let store = &engine.store;
        let directory = engine.planning_directory(today).await?;
        let mut apps_of: HashMap<PersonId, Vec<String>> = HashMap::new();
        let mut links_by_app: HashMap<AppId, HashMap<String, AccountLink>> = HashMap::new();
        // Other apps are named for every person, whichever apps the report covers.
        for record in store.list_apps(engine.tenant).await? {
            let reported = apps.iter().any(|a| a.id == record.app.id);
            for account in store.list_accounts(engine.tenant, record.app.id).await? {
                apps_of.entry(account.link.person_id).or_default().push(record.app.name.clone());
                if reported {
                    links_by_app.entry(record.app.id).or_default().insert(account.link.remote_id.clone(), account.link);
                }
            }
        }
        Ok(Self { people: People::Directory(directory), apps_of, links_by_app })
    }

    /// Rows for linked accounts the app's list did not show (it could not be read, or it leaves
    /// accounts out): each as last stored, with `note` saying why, so the report shows them
    /// rather than leave them out.
    pub(crate) fn unread(&self, app: &App, note: &str, stored: &[tenure_store::StoredAccount]) -> Vec<AccountRow> {
        stored
            .iter()
            .map(|s| {
                let person = self.people.get(s.link.person_id);
                AccountRow {
                    app: app.name.clone(),
                    remote_id: s.link.remote_id.clone(),
                    user_name: s.user_name.clone(),
                    display_name: None,
                    email: s.attributes.get(attributes::EMAIL).cloned(),
                    active: s.active,
                    class: AccountClass::Unread,
                    person: person.map(|p| p.email.clone()),
                    other_apps: Vec::new(),
                    origin: Some(s.link.origin),
                    note: Some(note.to_owned()),
                    license: s.attributes.get(attributes::LICENSE).filter(|l| !l.is_empty()).cloned(),
                    licenses_held: licenses_held(&s.attributes),
                    last_active: last_active(&s.attributes),
                }
            })
            .collect()
    }

    /// Rows for the people `plan` would give an account but cannot (the create breaks one of the
    /// app's catalog rules, or a mapping fails for them), with the reason: without them such a
    /// person is in no list at all, neither as an account nor as a change. A problem of a person
    /// who has an account in the app is about that account, and is not one of these.
    pub(crate) fn refused(&self, app: &App, plan: &Plan) -> Vec<AccountRow> {
        let links = self.links_by_app.get(&app.id);
        let mut seen = HashSet::new();
        plan.problems
            .iter()
            .filter(|p| p.app_id == app.id)
            .filter(|p| !links.is_some_and(|l| l.values().any(|link| link.person_id == p.person_id)))
            .filter(|p| seen.insert(p.person_id))
            .map(|p| AccountRow {
                app: app.name.clone(),
                remote_id: String::new(),
                user_name: String::new(),
                display_name: self.people.get(p.person_id).and_then(|person| person.display_name.clone()),
                email: Some(p.person.clone()),
                active: false,
                class: AccountClass::Refused,
                person: Some(p.person.clone()),
                other_apps: self.apps_of.get(&p.person_id).cloned().unwrap_or_default(),
                origin: None,
                note: Some(p.message.clone()),
                license: None,
                licenses_held: None,
                last_active: None,
            })
            .collect()
    }

    /// Rows for `observed`, the app's accounts (all of them, or one page), from a plan made
    /// against them.
    pub(crate) fn classify(
        &self,
        app: &App,
        plan: &Plan,
        observed: &[RemoteAccount],
        marks: &[tenure_store::AccountMark],
    ) -> Vec<AccountRow> {
        let empty = HashMap::new();
        let links = self.links_by_app.get(&app.id).unwrap_or(&empty);
        let marks: HashMap<&str, &tenure_store::AccountMark> =
            marks.iter().map(|m| (m.remote_id.as_str(), m)).collect();
        let mut losing: HashMap<&str, &PlannedOp> = HashMap::new();
        let mut linking: HashMap<&str, &PlannedOp> = HashMap::new();
        for op in &plan.ops {
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
        let ambiguous: HashSet<&str> = plan.cases.iter().flat_map(|c| c.accounts.iter().map(String::as_str)).collect();
        let mut rows = Vec::with_capacity(observed.len());
        for account in observed {
            let id = account.remote_id.as_str();
            let link = links.get(id);
            let person_id = link.map(|l| l.person_id).or_else(|| linking.get(id).map(|o| o.person_id));
            let person = person_id.and_then(|id| self.people.get(id));
            let licensed = account.attributes.get(attributes::LICENSE).is_some_and(|l| !l.is_empty());
            let mark = marks.get(id);
            let class = match (link, account.active) {
                (Some(_), _) if account.invited_on().is_some() && losing.contains_key(id) => {
                    AccountClass::UnassignedButActive
                }
                (Some(_), _) if account.invited_on().is_some() => AccountClass::Invited,
                (Some(_), true) if person.is_some_and(|p| p.status == PersonStatus::Deleted) => {
                    AccountClass::LeftButActive
                }
                (Some(_), true) if losing.contains_key(id) => AccountClass::UnassignedButActive,
                (Some(_), true) => AccountClass::Managed,
                (_, false) if licensed => AccountClass::InactiveButLicensed,
                (Some(_), false) => AccountClass::Deactivated,
                (None, _) if linking.contains_key(id) => AccountClass::Matched,
                (None, _) if ambiguous.contains(id) => AccountClass::Ambiguous,
                (None, _) if mark.is_some() => AccountClass::KnownExternal,
                (None, _) => AccountClass::Unmanaged,
            };
            let other_apps = person_id
                .and_then(|id| self.apps_of.get(&id))
                .map(|apps| apps.iter().filter(|a| **a != app.name).cloned().collect())
                .unwrap_or_default();
            rows.push(AccountRow {
                app: app.name.clone(),
                remote_id: account.remote_id.clone(),
                user_name: account.user_name().to_owned(),
                display_name: display_name(account),
                email: account.email().map(str::to_owned),
                active: account.active,
                class,
                person: person.map(|p| p.email.clone()),
                other_apps,
                origin: link.map(|l| l.origin),
                note: mark.map(|m| m.note.clone()).filter(|n| !n.is_empty()),
                license: account.attributes.get(attributes::LICENSE).filter(|l| !l.is_empty()).cloned(),
                licenses_held: licenses_held(&account.attributes),
                last_active: last_active(&account.attributes),
            });
        }
        rows
    }
}

/// The name the app shows for the account: its display name, else given and family names.
fn display_name(account: &RemoteAccount) -> Option<String> {
    let get = |k| account.attributes.get(k).map(String::as_str).filter(|v| !v.is_empty());
    get(attributes::DISPLAY_NAME).map(str::to_owned).or_else(|| {
        let parts: Vec<&str> =
            [get(attributes::GIVEN_NAME), get(attributes::FAMILY_NAME)].into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })
}

/// Accounts per app and class, for the report's summary.
pub fn class_counts(rows: &[AccountRow]) -> BTreeMap<String, BTreeMap<AccountClass, usize>> {
    let mut counts: BTreeMap<String, BTreeMap<AccountClass, usize>> = BTreeMap::new();
    for row in rows {
        *counts.entry(row.app.clone()).or_default().entry(row.class).or_default() += 1;
    }
    counts
}

/// The report as CSV, one account per row. Cells come from the apps (anyone can pick a
/// userName), so a cell a spreadsheet would run as a formula is prefixed with `'`.
pub fn write_report_csv(out: impl std::io::Write, rows: &[AccountRow]) -> Result<(), csv::Error> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record([
        "app",
        "user_name",
        "display_name",
        "email",
        "active",
        "class",
        "person",
        "other_apps",
        "remote_id",
        "note",
    ])?;
    for row in rows {
        let cells = [
            row.app.as_str(),
            row.user_name.as_str(),
            row.display_name.as_deref().unwrap_or(""),
            row.email.as_deref().unwrap_or(""),
            if row.active { "true" } else { "false" },
            row.class.as_str(),
            row.person.as_deref().unwrap_or(""),
            &row.other_apps.join(";"),
            row.remote_id.as_str(),
            row.note.as_deref().unwrap_or(""),
        ];
        csv.write_record(cells.iter().map(|c| spreadsheet_safe(c).into_owned()))?;
    }
    csv.flush()?;
    Ok(())
}

/// OWASP's advice against CSV injection: a leading `=`, `+`, `-`, `@`, tab or carriage return
/// makes a spreadsheet evaluate the cell.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_cannot_become_formulas() {
        let row = AccountRow {
            app: "slack".into(),
            remote_id: "U1".into(),
            user_name: "=HYPERLINK(\"http://x\")".into(),
            display_name: Some("Ada Lovelace".into()),
            email: Some("@ada".into()),
            active: true,
            class: AccountClass::Unmanaged,
            person: None,
            other_apps: vec!["notion".into(), "zoom".into()],
            origin: None,
            note: None,
            license: None,
            licenses_held: None,
            last_active: None,
        };
        let mut out = Vec::new();
        write_report_csv(&mut out, &[row]).expect("csv");
        let text = String::from_utf8(out).expect("utf-8");
        let line = text.lines().nth(1).expect("a row");
        assert!(line.contains("'=HYPERLINK"), "{line}");
        assert!(line.contains(",'@ada,"), "{line}");
        assert!(line.contains("notion;zoom"), "{line}");
        assert!(line.contains(",unmanaged,"), "{line}");
    }
}
