//! The generic SCIM 2.0 client as a [`Connector`].

use reqwest::Method;
use serde_json::Value;
use tenure_core::attributes::Attributes;
use tenure_core::{RemoteAccount, RemoteGroup};
use tenure_scim::{ListResponse, parse_filter};

use crate::client::{ScimClient, filter_refused, parse_json, quote};
use crate::connector::{
    Connector, ConnectorFuture, DeactivateMeaning, Descriptor, Operation, UserPage, UserQuery, account_matches,
    page_locally,
};
use crate::error::ConnectorError;

impl ScimClient {
    /// One page straight from the app (`startIndex`/`count`); a search goes to the app as a
    /// `co` filter on userName and email where the app filters, and is matched here otherwise.
    async fn users_page(&self, query: &UserQuery) -> Result<UserPage, ConnectorError> {
        let url = self.users_url(None);
        // An app probed to page wrongly is read whole (checked, or by partitions) and paged here.
        if self.capabilities.as_ref().is_some_and(|c| c.paging.is_broken()) {
            return Ok(page_locally(self.list_users().await?, query));
        }
        let count = query.count.min(self.options.page_size as usize).max(1);
        let start = query.start_index.max(1);
        let mut params = vec![("startIndex", start.to_string()), ("count", count.to_string())];
        let needle = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if let Some(needle) = needle {
            let can_filter = self.capabilities.as_ref().is_none_or(|c| c.filters_on("emails.value"));
            if !can_filter {
                return Ok(page_locally(self.list_users().await?, query));
            }
            let filter_text = format!("userName co {q} or emails.value co {q}", q = quote(needle));
            // Refuses quotes or backslashes that would not survive as a filter literal.
            if parse_filter(&filter_text).is_err() {
                return Ok(page_locally(self.list_users().await?, query));
            }
            params.push(("filter", filter_text));
        }
        let body = match self.send(Method::GET, &url, &params, None).await {
            Ok(body) => body,
            Err(e) if needle.is_some() && filter_refused(&e) => {
                tracing::debug!(url = %url, error = %e, "the app refused a search filter; searching a full listing");
                return Ok(page_locally(self.list_users().await?, query));
            }
            Err(e) => return Err(e),
        };
        let page: ListResponse<Value> = parse_json(&Method::GET, &url, &body)?;
        if !page.resources.is_empty() && page.start_index != start as u64 {
            // The page is not the one asked for: only a checked full listing can say what is.
            tracing::warn!(url = %url, asked = start, answered = page.start_index, "the app ignored startIndex");
            return Ok(page_locally(self.list_users().await?, query));
        }
        let total = usize::try_from(page.total_results).ok();
        let accounts = page
            .resources
            .into_iter()
            .map(|raw| self.account_from_raw(&Method::GET, &url, raw))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(needle) = needle
            && !accounts.iter().all(|a| account_matches(a, needle))
        {
            // The app ignored the filter (or matches differently): only a full listing is right.
            return Ok(page_locally(self.list_users().await?, query));
        }
        Ok(UserPage { accounts, total })
    }
}

impl Connector for ScimClient {
    fn describe(&self) -> Descriptor {
        use Operation::*;
        Descriptor {
            kind: "scim",
            operations: [
                List,
                Get,
                Find,
                Create,
                Update,
                Activate,
                Deactivate,
                Delete,
                Groups,
                GroupMembership,
                Licenses,
            ]
            .into(),
            deactivate: DeactivateMeaning::Suspend,
            delete: self.delete_meaning,
        }
    }

    fn list_users(&self) -> ConnectorFuture<'_, Vec<RemoteAccount>> {
        Box::pin(ScimClient::list_users(self))
    }

    fn list_users_page<'a>(&'a self, query: &'a UserQuery) -> ConnectorFuture<'a, UserPage> {
        Box::pin(self.users_page(query))
    }

    fn get_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>> {
        Box::pin(ScimClient::get_user(self, remote_id))
    }

    fn find_user<'a>(&'a self, attribute: &'a str, value: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>> {
        Box::pin(ScimClient::find_user(self, attribute, value))
    }

    fn create_user<'a>(&'a self, attributes: &'a Attributes) -> ConnectorFuture<'a, RemoteAccount> {
        Box::pin(ScimClient::create_user(self, attributes))
    }

    fn create_inactive_user<'a>(&'a self, attributes: &'a Attributes) -> ConnectorFuture<'a, RemoteAccount> {
        Box::pin(ScimClient::create_user_with(self, attributes, false))
    }

    fn update_user<'a>(&'a self, remote_id: &'a str, changes: &'a Attributes) -> ConnectorFuture<'a, ()> {
        Box::pin(ScimClient::update_user(self, remote_id, changes))
    }

    fn set_active<'a>(&'a self, remote_id: &'a str, active: bool) -> ConnectorFuture<'a, ()> {
        Box::pin(ScimClient::set_active(self, remote_id, active))
    }

    fn delete_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, ()> {
        Box::pin(ScimClient::delete_user(self, remote_id))
    }

    fn list_groups(&self) -> ConnectorFuture<'_, Vec<RemoteGroup>> {
        Box::pin(ScimClient::list_groups(self))
    }

    fn create_group<'a>(&'a self, name: &'a str, members: &'a [String]) -> ConnectorFuture<'a, RemoteGroup> {
        Box::pin(ScimClient::create_group(self, name, members))
    }

    fn change_group_members<'a>(
        &'a self,
        group_id: &'a str,
        add: &'a [String],
        remove: &'a [String],
    ) -> ConnectorFuture<'a, ()> {
        Box::pin(ScimClient::change_group_members(self, group_id, add, remove))
    }
}
