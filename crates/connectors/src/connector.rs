//! The one contract every app connector meets, SCIM or not: what it can do, what "deactivate"
//! and "delete" mean in that app, and typed errors ([`ConnectorError`]) that say whether a retry
//! can help and carry the app's own message. The engine talks to apps only through it.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use tenure_core::attributes::Attributes;
use tenure_core::{RemoteAccount, RemoteGroup};

use crate::error::ConnectorError;

/// A boxed future, so connectors can live behind `dyn Connector`.
pub type ConnectorFuture<'a, T> = crate::bearer::BoxFuture<'a, Result<T, ConnectorError>>;

/// One lifecycle action a connector may support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    List,
    Get,
    Find,
    Create,
    /// The app sends the person an invitation instead of creating a ready account.
    Invite,
    Update,
    Activate,
    Deactivate,
    Delete,
    Groups,
    GroupMembership,
    Licenses,
}

/// What the app does when Tenure deactivates an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeactivateMeaning {
    /// Sign-in is blocked; the account, its data and its seat stay (SCIM `active: false`).
    Suspend,
    /// The member is taken out of the workspace; re-activation adds them back.
    RemoveFromWorkspace,
}

/// What the app does on delete. The engine reads it: an app whose delete only deactivates
/// keeps the account linked (it is still there, inactive), and an admin choosing "delete" for an
/// app whose delete is permanent must confirm it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteMeaning {
    /// The account stays, inactive (Slack, Atlassian).
    Deactivates,
    /// The member leaves the workspace; the identity may be restored later (Notion).
    RemovesFromWorkspace,
    /// The account and its data are gone for good (GitHub EMU, Google Workspace after 20 days,
    /// a generic SCIM app per RFC 7644 §3.6).
    Permanent,
}

impl DeleteMeaning {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deactivates => "deactivates",
            Self::RemovesFromWorkspace => "removes_from_workspace",
            Self::Permanent => "permanent",
        }
    }

    /// Whether the account is still in the app after a delete.
    pub fn account_remains(self) -> bool {
        self == Self::Deactivates
    }
}

impl fmt::Display for DeleteMeaning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deactivates => "delete only deactivates the account",
            Self::RemovesFromWorkspace => "delete removes the member from the workspace",
            Self::Permanent => "delete is permanent",
        })
    }
}

/// What a connector declares about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Descriptor {
    /// `scim`, `google_workspace`, ...
    pub kind: &'static str,
    pub operations: BTreeSet<Operation>,
    pub deactivate: DeactivateMeaning,
    pub delete: DeleteMeaning,
}

impl Descriptor {
    pub fn supports(&self, operation: Operation) -> bool {
        self.operations.contains(&operation)
    }
}

/// One page of an app's live user list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// 1-based position of the first account wanted.
    pub start_index: usize,
    pub count: usize,
    /// Case-insensitive substring of the email or userName; `None` for everyone.
    pub search: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserPage {
    pub accounts: Vec<RemoteAccount>,
    /// Matching accounts in all, when the app says.
    pub total: Option<usize>,
}

/// True when `account`'s email or userName contains `needle` (compared lowercased).
pub fn account_matches(account: &RemoteAccount, needle: &str) -> bool {
    let needle = needle.to_lowercase();
    account.user_name().to_lowercase().contains(&needle)
        || account.email().is_some_and(|e| e.to_lowercase().contains(&needle))
}

/// An app Tenure provisions. Methods an app cannot do answer [`ConnectorError::Unsupported`]
/// by default; [`Connector::describe`] says which those are before anyone asks.
pub trait Connector: Send + Sync + fmt::Debug {
    fn describe(&self) -> Descriptor;

    /// Every account in the app, paged through to the end.
    fn list_users(&self) -> ConnectorFuture<'_, Vec<RemoteAccount>>;

    /// One page of the live list, optionally searched. The default lists everyone and pages
    /// locally; connectors whose app can page or search server-side do better.
    fn list_users_page<'a>(&'a self, query: &'a UserQuery) -> ConnectorFuture<'a, UserPage> {
        Box::pin(async move {
            let all = self.list_users().await?;
            Ok(page_locally(all, query))
        })
    }

    /// `None` when the app has no such account.
    fn get_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>>;

    /// The one account whose Tenure attribute (`userName`, `externalId`, `email`) equals
    /// `value`. Several are [`ConnectorError::Ambiguous`]; a failed lookup is an error, never
    /// "not found".
    fn find_user<'a>(&'a self, attribute: &'a str, value: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>>;

    /// Creates an active account. A taken unique value is [`ConnectorError::Conflict`].
    fn create_user<'a>(&'a self, attributes: &'a Attributes) -> ConnectorFuture<'a, RemoteAccount>;

    /// Creates the account disabled from the start, in the create itself (an account prepared
    /// ahead of its person's start date). [`ConnectorError::Unsupported`] where the app's create
    /// cannot say so: the caller creates it active and disables it at once. The account
    /// returned says what the app made (a provider may ignore the request and make it active).
    fn create_inactive_user<'a>(&'a self, _attributes: &'a Attributes) -> ConnectorFuture<'a, RemoteAccount> {
        unsupported("create a disabled account")
    }

    /// Applies changed attributes (an empty value removes the attribute).
    fn update_user<'a>(&'a self, remote_id: &'a str, changes: &'a Attributes) -> ConnectorFuture<'a, ()>;

    fn set_active<'a>(&'a self, remote_id: &'a str, active: bool) -> ConnectorFuture<'a, ()>;

    /// Whatever the app's delete means ([`Descriptor::delete`]). An account already gone is
    /// [`ConnectorError::NotFound`].
    fn delete_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, ()>;

    fn list_groups(&self) -> ConnectorFuture<'_, Vec<RemoteGroup>> {
        unsupported("list groups")
    }

    fn create_group<'a>(&'a self, _name: &'a str, _members: &'a [String]) -> ConnectorFuture<'a, RemoteGroup> {
        unsupported("create groups")
    }

    fn change_group_members<'a>(
        &'a self,
        _group_id: &'a str,
        _add: &'a [String],
        _remove: &'a [String],
    ) -> ConnectorFuture<'a, ()> {
        unsupported("change group members")
    }

    /// Hands the files the account owns to `recipient` (a user key the app knows: its id or
    /// address) before the account goes. Idempotent over retries: a transfer between the two
    /// requested at or after `since_ms` is resumed, never requested again. Waits a bounded time;
    /// a transfer still running comes back [`TransferStatus::InProgress`] for the caller to ask
    /// again later.
    fn transfer_files<'a>(
        &'a self,
        _remote_id: &'a str,
        _recipient: &'a str,
        _since_ms: i64,
    ) -> ConnectorFuture<'a, FileTransfer> {
        unsupported("transfer files to another user")
    }
}

/// Where a transfer of an account's files stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferStatus {
    InProgress,
    Completed,
    Failed,
}

/// A transfer of one account's files to another user, as the app reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTransfer {
    /// The app's id for the transfer.
    pub id: String,
    /// The recipient, by the app's id for them.
    pub recipient_id: String,
    pub status: TransferStatus,
    /// An earlier attempt had requested it already (a retry, a restart): found, not requested again.
    pub resumed: bool,
}

fn unsupported<'a, T: Send + 'a>(operation: &'static str) -> ConnectorFuture<'a, T> {
    Box::pin(async move { Err(ConnectorError::Unsupported { operation: operation.into() }) })
}

/// Filters and pages a full listing the way a server would.
pub fn page_locally(all: Vec<RemoteAccount>, query: &UserQuery) -> UserPage {
    let matching: Vec<RemoteAccount> = match query.search.as_deref().filter(|s| !s.is_empty()) {
        Some(needle) => all.into_iter().filter(|a| account_matches(a, needle)).collect(),
        None => all,
    };
    let total = matching.len();
    let skip = query.start_index.saturating_sub(1);
    let accounts = matching.into_iter().skip(skip).take(query.count).collect();
    UserPage { accounts, total: Some(total) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenure_core::attributes;

    fn account(id: &str, user_name: &str, email: &str) -> RemoteAccount {
        RemoteAccount {
            remote_id: id.into(),
            active: true,
            attributes: Attributes::from([(attributes::USER_NAME, user_name), (attributes::EMAIL, email)]),
        }
    }

    #[test]
    fn local_paging_searches_email_and_user_name_case_insensitively() {
        let all = vec![
            account("1", "ada", "Ada@Example.com"),
            account("2", "bob", "bob@example.com"),
            account("3", "ADAM", "adam@other.org"),
        ];
        let page = page_locally(all.clone(), &UserQuery { start_index: 1, count: 10, search: Some("ada".into()) });
        assert_eq!(page.total, Some(2));
        assert_eq!(page.accounts.iter().map(|a| a.remote_id.as_str()).collect::<Vec<_>>(), ["1", "3"]);
        let second = page_locally(all, &UserQuery { start_index: 2, count: 1, search: None });
        assert_eq!((second.total, second.accounts[0].remote_id.as_str()), (Some(3), "2"));
    }

    #[test]
    fn only_a_deactivating_delete_leaves_the_account() {
        assert!(DeleteMeaning::Deactivates.account_remains());
        assert!(!DeleteMeaning::Permanent.account_remains());
        assert!(!DeleteMeaning::RemovesFromWorkspace.account_remains());
    }
}
