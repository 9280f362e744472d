//! An app's accounts as an admin works with them: the live user list (paged, searchable,
//! classified), adopting an account Tenure does not manage, and marking one as a known external.

use serde::Serialize;
use std::collections::HashSet;
use tenure_connectors::UserQuery;

use tenure_core::reconcile::{AppState, DirectoryIndex, matchable_people, plan_app};
use tenure_core::{AccountLink, AccountOrigin, Person, PersonId, PersonStatus, RemoteAccount};
use tenure_store::{AccountMarkKind, AppRecord, AuditRecord, DirtyMark, StoredAccount};

use crate::report::{AccountRow, ReportContext};
use crate::{Engine, EngineError};

/// Most accounts one page of the live list may ask for.
pub const MAX_USERS_PAGE: usize = 500;

/// One page of an app's live user list.
#[derive(Debug, Clone, Serialize)]
pub struct UsersPage {
    pub app: String,
    pub start_index: usize,
    /// Accounts matching the search in the app, when the app says.
    pub total: Option<usize>,
    pub accounts: Vec<AccountRow>,
    /// Where the vendor documents that its list leaves accounts out: which accounts this list
    /// cannot show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unseen: Option<String>,
    /// What stops the plan for people of this app: a create the app would refuse (its catalog
    /// rules), a mapping that cannot be evaluated; who, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<tenure_core::PlanProblem>,
}

/// What adopting an account did.
#[derive(Debug, Clone, Serialize)]
pub struct Adopted {
    pub app: String,
    pub remote_id: String,
    pub user_name: String,
    pub person: String,
}

impl Engine {
    /// One page of the app's accounts, read from the app now, each classified the way the report
    /// does (by a plan made against the page's accounts and what Tenure has stored).
    pub async fn app_users(&self, app: &str, query: &UserQuery, today: time::Date) -> Result<UsersPage, EngineError> {
        if query.count == 0 || query.count > MAX_USERS_PAGE {
            return Err(EngineError::Invalid(format!("count {}: must be between 1 and {MAX_USERS_PAGE}", query.count)));
        }
        let record = crate::app_auth::for_planning(self.store.app_by_name(self.tenant, app).await?);
        // The first page is the list read from its start, the read such an app penalises.
        if query.start_index <= 1
            && let Some(reason) = self.claim_list_read(&record.app).await?
        {
            return Err(EngineError::Refused(format!("app {app}: {reason}")));
        }
        let connector = self.client(&record)?;
        let page = connector
            .list_users_page(query)
            .await
            .map_err(|source| EngineError::Connector { app: app.to_owned(), source })?;
        // The directory as propagation keeps it, not read per page.
        let directory = self.planning_directory(today).await?;
        // Known externals are nobody's, as in a full plan.
        let marks = self.store.account_marks(self.tenant, record.app.id).await?;
        let marked: HashSet<&str> = marks.iter().map(|m| m.remote_id.as_str()).collect();
        let on_page: Vec<&str> = page.accounts.iter().map(|a| a.remote_id.as_str()).collect();

        // Only the plans of the page's people can classify its accounts: the people linked to
        // them, and whoever a matching key could match an unlinked one to. Planning just them
        // costs a page's worth, where planning the app cost a plan of everyone per page; and
        // only their stored accounts are read, not the app's every one (kept in memory for
        // every app read, 100,000 people x 50 apps would not fit `serve`'s memory).
        let page_links = self.store.accounts_by_remote_ids(self.tenant, record.app.id, &on_page).await?;
        let linked: HashSet<&str> = page_links.iter().map(|a| a.link.remote_id.as_str()).collect();
        let mut wanted: HashSet<PersonId> = page_links.iter().map(|a| a.link.person_id).collect();
        let unlinked: Vec<&RemoteAccount> = page
            .accounts
            .iter()
            .filter(|a| !linked.contains(a.remote_id.as_str()) && !marked.contains(a.remote_id.as_str()))
            .collect();
        wanted.extend(matchable_people(&directory.people, &record.app.settings, &unlinked).into_iter().map(|p| p.id));
        let wanted: Vec<PersonId> = wanted.into_iter().collect();
        let people: Vec<Person> = wanted.iter().filter_map(|id| directory.person(*id)).cloned().collect();

        // The plan must see every linked account of those people, not just the page's: a linked
        // account missing from what it observes would look gone, and its person's other
        // accounts matchable. Those off the page stand in as last stored. Links of the page's
        // accounts to people the directory does not know come along too.
        let mut theirs =
            self.store.accounts_of_people(self.tenant, &wanted).await?.remove(&record.app.id).unwrap_or_default();
        let known: HashSet<&str> = theirs.iter().map(|a| a.link.remote_id.as_str()).collect();
        let strays: Vec<StoredAccount> =
            page_links.iter().filter(|a| !known.contains(a.link.remote_id.as_str())).cloned().collect();
        theirs.extend(strays);
        let on_page: HashSet<&str> = on_page.into_iter().collect();
        let mut links = Vec::with_capacity(theirs.len());
        let mut observed: Vec<RemoteAccount> =
            page.accounts.iter().filter(|a| !marked.contains(a.remote_id.as_str())).cloned().collect();
        for stored in theirs {
            links.push(stored.link.clone());
            if !on_page.contains(stored.link.remote_id.as_str()) {
                let mut attributes = stored.attributes;
                attributes.insert(tenure_core::attributes::USER_NAME, stored.user_name);
                observed.push(RemoteAccount { remote_id: stored.link.remote_id, active: stored.active, attributes });
            }
        }
        let groups = directory.groups_for(&people);
        let dir = DirectoryIndex::new(&people, &groups).with_pushed_sources(self.pushed_sources().await?);
        let assignments = self.store.list_assignments(self.tenant, record.app.id).await?;
        let state =
            AppState { app: &record.app, assignments: &assignments, links: &links, observed: &observed, groups: &[] };
        let plan = plan_app(&dir, &state, today);
        let context = ReportContext::for_page(self, record.app.id, &people, &links, &page.accounts, &plan).await?;
        let mut accounts = context.classify(&record.app, &plan, &page.accounts, &marks);
        let mut problems = plan.problems;
        // The people whose create the app's rules refuse have no account on any page: the first
        // page names them.
        if query.start_index <= 1 && !record.app.settings.rules.is_empty() {
            let refused = self.refused_creates(&record, &directory, &assignments, today).await?;
            accounts.extend(context.refused(&record.app, &refused));
            problems.extend(refused.problems);
        }
        let unseen = crate::profile::unseen_accounts(&record.app);
        Ok(UsersPage {
            app: record.app.name,
            start_index: query.start_index.max(1),
            total: page.total,
            accounts,
            unseen,
            problems,
        })
    }

    /// The plan of the people without a stored account in the app, planned as if the app had
    /// none for them: the creates it would refuse are its problems. (A person whose account in
    /// the app is not linked yet is named too: as far as Tenure's links show, they have none.)
    async fn refused_creates(
        &self,
        record: &AppRecord,
        directory: &crate::planning_cache::DirectorySnapshot,
        assignments: &[tenure_core::Assignment],
        today: time::Date,
    ) -> Result<tenure_core::Plan, EngineError> {
        let linked: HashSet<PersonId> =
            self.store.list_accounts(self.tenant, record.app.id).await?.into_iter().map(|a| a.link.person_id).collect();
        let people: Vec<Person> = directory.people.iter().filter(|p| !linked.contains(&p.id)).cloned().collect();
        let groups = directory.groups_for(&people);
        let dir = DirectoryIndex::new(&people, &groups).with_pushed_sources(self.pushed_sources().await?);
        let state = AppState { app: &record.app, assignments, links: &[], observed: &[], groups: &[] };
        let mut plan = plan_app(&dir, &state, today);
        plan.problems.retain(|p| p.message.starts_with("cannot create "));
        Ok(plan)
    }

    /// The account as the app holds it now.
    async fn live_account(&self, record: &AppRecord, remote_id: &str) -> Result<RemoteAccount, EngineError> {
        let app = &record.app.name;
        self.client(record)?
            .get_user(remote_id)
            .await
            .map_err(|source| EngineError::Connector { app: app.clone(), source })?
            .ok_or_else(|| EngineError::NotFound(format!("account {remote_id} in {app}")))
    }

    /// Links an account Tenure does not manage to a person, as adopted: from now on Tenure manages
    /// it like one it created, deletion included. The account is read from the app first.
    pub async fn adopt_account(
        &self,
        app: &str,
        remote_id: &str,
        person_email: &str,
        actor: &str,
    ) -> Result<Adopted, EngineError> {
        let record = self.store.app_by_name(self.tenant, app).await?;
        let person = self
            .store
            .person_by_email(self.tenant, person_email)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("person {person_email}")))?;
        if person.status == PersonStatus::Deleted {
            return Err(EngineError::Refused(format!(
                "{} has left the directory; adopting for them would be undone",
                person.email
            )));
        }
        let stored = self.store.list_accounts(self.tenant, record.app.id).await?;
        if let Some(other) = stored.iter().find(|a| a.link.remote_id == remote_id && a.link.person_id != person.id) {
            return Err(EngineError::Refused(format!(
                "account {remote_id} is linked to another person ({}); unlink it first",
                other.link.person_id
            )));
        }
        if let Some(mine) = stored.iter().find(|a| a.link.person_id == person.id && a.link.remote_id != remote_id) {
            return Err(EngineError::Refused(format!(
                "{} already has account {} in {app}; unlink it first so each person has one managed account",
                person.email, mine.link.remote_id
            )));
        }
        let account = self.live_account(&record, remote_id).await?;
        let link = AccountLink {
            app_id: record.app.id,
            remote_id: account.remote_id.clone(),
            person_id: person.id,
            origin: AccountOrigin::Adopted,
            deactivated_on: None,
            granted_by: None,
        };
        // The link, the end of an external mark, the audit entry and the mark that plans the
        // person again commit together.
        let mut tx = self.store.begin().await?;
        tx.upsert_account(
            self.tenant,
            &StoredAccount {
                link,
                user_name: account.user_name().to_owned(),
                active: account.active,
                attributes: account.attributes.clone(),
            },
        )
        .await?;
        // An adopted account is no longer an external one.
        let was_marked = tx.clear_account_mark(self.tenant, record.app.id, remote_id).await?;
        let detail = serde_json::json!({
            "app": app, "account": remote_id, "user_name": account.user_name(), "was_marked_external": was_marked,
        });
        let entry = AuditRecord {
            actor,
            action: "account.adopt",
            subject: &person.email,
            person: Some(&person.email),
            app: Some(app),
            detail: &detail,
        };
        tx.audit(self.tenant, entry).await?;
        // Its person's policy now applies to it: plan the person again.
        tx.mark_dirty(self.tenant, &[DirtyMark::person(person.id)]).await?;
        tx.commit().await?;
        Ok(Adopted {
            app: record.app.name,
            user_name: account.user_name().to_owned(),
            remote_id: account.remote_id,
            person: person.email,
        })
    }

    /// Marks an account nobody in the directory owns as a known external one (or clears the mark
    /// with `mark: None`). Linked accounts belong to a person and cannot be marked.
    pub async fn mark_account(
        &self,
        app: &str,
        remote_id: &str,
        mark: Option<&str>,
        actor: &str,
    ) -> Result<bool, EngineError> {
        let record = self.store.app_by_name(self.tenant, app).await?;
        let Some(note) = mark else {
            let mut tx = self.store.begin().await?;
            let cleared = tx.clear_account_mark(self.tenant, record.app.id, remote_id).await?;
            if cleared {
                let detail = serde_json::json!({"app": app, "account": remote_id});
                let entry = AuditRecord {
                    actor,
                    action: "account.unmark_external",
                    subject: remote_id,
                    person: None,
                    app: Some(app),
                    detail: &detail,
                };
                tx.audit(self.tenant, entry).await?;
            }
            tx.commit().await?;
            return Ok(cleared);
        };
        if let Some(linked) = self.store.get_account(self.tenant, record.app.id, remote_id).await? {
            return Err(EngineError::Refused(format!(
                "account {remote_id} is linked to person {}; unlink it before marking it external",
                linked.link.person_id
            )));
        }
        let account = self.live_account(&record, remote_id).await?;
        let mut tx = self.store.begin().await?;
        tx.set_account_mark(self.tenant, record.app.id, remote_id, AccountMarkKind::External, note, actor).await?;
        let detail =
            serde_json::json!({"app": app, "account": remote_id, "user_name": account.user_name(), "note": note});
        let entry = AuditRecord {
            actor,
            action: "account.mark_external",
            subject: remote_id,
            person: None,
            app: Some(app),
            detail: &detail,
        };
        tx.audit(self.tenant, entry).await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Engine {
    /// Forgets the link between an app account and its person; the account is left as it is.
    pub async fn unlink_account(&self, app: &str, remote_id: &str, actor: &str) -> Result<(), EngineError> {
        let record = self.store.app_by_name(self.tenant, app).await?;
        let linked = self
            .store
            .get_account(self.tenant, record.app.id, remote_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("linked account {remote_id} of {app}")))?;
        let mut tx = self.store.begin().await?;
        tx.remove_account(self.tenant, record.app.id, remote_id).await?;
        let detail = serde_json::json!({"app": app, "account": remote_id, "person_id": linked.link.person_id});
        let entry = AuditRecord {
            actor,
            action: "account.unlink",
            subject: remote_id,
            person: None,
            app: Some(app),
            detail: &detail,
        };
        tx.audit(self.tenant, entry).await?;
        tx.commit().await?;
        Ok(())
    }
}
