//! Reading a whole SCIM list without trusting the app to page correctly.
//!
//! RFC 7644 §3.4.2.4 pages a list by `startIndex` (1-based) and `count`, and every page says the
//! `totalResults` of the whole query. Some apps ignore `startIndex` or `count`, hand the same page
//! twice or say a `totalResults` they do not hold. A list read from such an app looks complete and
//! is not: the planner would then propose a create for every account it did not see, again and
//! again. So every page is checked (the `startIndex` it echoes, ids never seen twice, pages that
//! add up to `totalResults`), and a list that does not add up is a [`PagingFault`], never a
//! complete list.
//!
//! Where the walk fails, a list can often still be read another way: by filters that partition
//! it (`userName sw "a"`, `"b"`, ...), each partition checked against its own `totalResults`, and
//! all of them against the unfiltered one (see [`ScimClient::list_partitioned`]).

use std::collections::HashSet;
use std::fmt;

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use tenure_scim::{Filter, parse_filter};
use url::Url;

use crate::client::{ScimClient, parse_json, quote};
use crate::error::ConnectorError;

/// What an app did wrong while a list was read from it. Each one means the list cannot be
/// trusted to be complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PagingFault {
    /// Asked for the page at `asked`, the app answered the page at `answered`.
    StartIndexIgnored { asked: u64, answered: u64 },
    /// The page at `start` held `id`, already read on an earlier page (a repeated page, or an
    /// app that ignores `startIndex` without saying so).
    RepeatedId { start: u64, id: String },
    /// The list ended (an empty page) after `read` resources of the `total` the app announced.
    ShortOfTotal { read: u64, total: u64 },
    /// The app handed out `read` distinct resources but announced only `total`.
    BeyondTotal { read: u64, total: u64 },
    /// `totalResults` changed between pages and stayed inconsistent when read again.
    TotalChanged { first: u64, later: u64 },
    /// A resource without an `id`: it cannot be told from the others.
    NoId { start: u64 },
    /// A partition filter was answered with a resource it does not match (the app ignores it).
    FilterIgnored { filter: String },
    /// The partitions did not add up to the whole: `found` of `total`.
    PartitionsShort { found: u64, total: u64 },
}

impl fmt::Display for PagingFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StartIndexIgnored { asked, answered } => {
                write!(f, "the app ignores startIndex: asked for {asked}, it answered the page at {answered}")
            }
            Self::RepeatedId { start, id } => {
                write!(f, "the app repeats resources across pages: id {id:?} came again on the page at {start}")
            }
            Self::ShortOfTotal { read, total } => {
                write!(f, "the app's pages end after {read} of the {total} resources its totalResults announces")
            }
            Self::BeyondTotal { read, total } => {
                write!(f, "the app's totalResults says {total}, but its pages held {read} different resources")
            }
            Self::TotalChanged { first, later } => {
                write!(f, "the app's totalResults changed from {first} to {later} between pages, twice over")
            }
            Self::NoId { start } => write!(f, "the page at {start} holds a resource without an id"),
            Self::FilterIgnored { filter } => write!(f, "the app answers {filter} with resources it does not match"),
            Self::PartitionsShort { found, total } => {
                write!(f, "reading by userName prefixes found {found} of {total} resources")
            }
        }
    }
}

/// One page as the app sent it: `startIndex` and `totalResults` kept as optional, because
/// "absent" and "1" mean different things here.
#[derive(Debug, Deserialize)]
struct RawPage {
    #[serde(rename = "totalResults")]
    total_results: Option<u64>,
    #[serde(rename = "startIndex")]
    start_index: Option<u64>,
    #[serde(rename = "Resources", default)]
    resources: Vec<Value>,
}

fn id_of(raw: &Value) -> Option<String> {
    match raw.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Most requests one partitioned read may send: a partition that needs more is not worth it.
const MAX_PARTITION_REQUESTS: usize = 2_000;
/// Longest prefix tried; deeper than this the app's page is too small to read it by filters.
const MAX_PREFIX_LEN: usize = 24;
/// The characters a userName prefix is extended with. `sw` on userName is case-insensitive
/// (RFC 7643 §4.1.1: userName has `caseExact: false`), so lower case covers upper case; anything
/// outside this set shows up as partitions that do not add up, which is an error, never a gap.
const PREFIX_CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789._-@+'";

impl ScimClient {
    /// Every resource behind `url`, read page by page and checked; a fault is
    /// [`ConnectorError::Paging`]. A `totalResults` that moves between pages (the list changed
    /// while it was read) earns one more walk before it is [`ConnectorError::ListChanging`].
    pub(crate) async fn list_checked(&self, url: &Url) -> Result<Vec<Value>, ConnectorError> {
        match self.walk(url).await {
            Err(Walk::Fault(PagingFault::TotalChanged { .. })) => self.walk(url).await,
            other => other,
        }
        .map_err(|w| w.into_error(url))
    }

    /// [`Self::list_checked`], and where the walk fails, the same list read by `attribute sw`
    /// partitions when the app's profile says it filters on `attribute`. A list that changed
    /// while read, twice, is [`ConnectorError::ListChanging`] without partitions: they would
    /// race the same writes for many more requests; the caller reads again when writes pause.
    pub(crate) async fn list_checked_or_partitioned(
        &self,
        url: &Url,
        attribute: &str,
    ) -> Result<Vec<Value>, ConnectorError> {
        let fault = match self.walk(url).await {
            Ok(all) => return Ok(all),
            Err(Walk::Fault(PagingFault::TotalChanged { .. })) => match self.walk(url).await {
                Ok(all) => return Ok(all),
                Err(Walk::Fault(fault @ PagingFault::TotalChanged { .. })) => {
                    return Err(ConnectorError::ListChanging { url: url.to_string(), fault: fault.to_string() });
                }
                Err(Walk::Fault(fault)) => fault,
                Err(Walk::Error(e)) => return Err(e),
            },
            Err(Walk::Fault(fault)) => fault,
            Err(Walk::Error(e)) => return Err(e),
        };
        if !self.capabilities.as_ref().is_none_or(|c| c.filters_on(attribute)) {
            return Err(ConnectorError::Paging { url: url.to_string(), fault: fault.to_string() });
        }
        tracing::warn!(url = %url, %fault, "the app does not page correctly; reading it by {attribute} prefixes");
        // Whatever stops the partitioned read (the app refuses the filter, or it does not add
        // up either), the app's paging fault is what the admin must hear about.
        match self.list_partitioned(url, attribute).await {
            Ok(all) => Ok(all),
            Err(ConnectorError::Paging { fault: partition_fault, .. }) => Err(ConnectorError::Paging {
                url: url.to_string(),
                fault: format!("{fault}; reading by {attribute} prefixes instead failed too: {partition_fault}"),
            }),
            Err(e) => Err(ConnectorError::Paging {
                url: url.to_string(),
                fault: format!("{fault}; reading by {attribute} prefixes instead failed too: {e}"),
            }),
        }
    }

    async fn page(&self, url: &Url, query: &[(&str, String)]) -> Result<RawPage, ConnectorError> {
        let body = self.send(Method::GET, url, query, None).await?;
        parse_json(&Method::GET, url, &body)
    }

    async fn walk(&self, url: &Url) -> Result<Vec<Value>, Walk> {
        let page_size = u64::from(self.options.page_size);
        let mut seen = HashSet::new();
        let mut all = Vec::new();
        let mut total: Option<u64> = None;
        let mut start = 1u64;
        loop {
            let query = [("startIndex", start.to_string()), ("count", page_size.to_string())];
            let page = self.page(url, &query).await.map_err(Walk::Error)?;
            let returned = page.resources.len() as u64;
            if let Some(answered) = page.start_index
                && answered != start
                && returned > 0
            {
                return Err(Walk::Fault(PagingFault::StartIndexIgnored { asked: start, answered }));
            }
            match (total, page.total_results) {
                (Some(first), Some(later)) if first != later => {
                    return Err(Walk::Fault(PagingFault::TotalChanged { first, later }));
                }
                (None, t) => total = t,
                _ => {}
            }
            for raw in page.resources {
                let id = id_of(&raw).ok_or(Walk::Fault(PagingFault::NoId { start }))?;
                if !seen.insert(id.clone()) {
                    return Err(Walk::Fault(PagingFault::RepeatedId { start, id }));
                }
                all.push(raw);
            }
            let read = all.len() as u64;
            match total {
                Some(total) if read > total => {
                    return Err(Walk::Fault(PagingFault::BeyondTotal { read, total }));
                }
                Some(total) if returned == 0 && read < total => {
                    return Err(Walk::Fault(PagingFault::ShortOfTotal { read, total }));
                }
                // The pages add up; one more request proves the end, so an app that says the
                // first page is all there is (whatever it holds) cannot pass for complete.
                Some(total) if read == total => {
                    self.confirm_end(url, read, total, &seen).await?;
                    break;
                }
                // Without totalResults only an empty page ends the list.
                _ if returned == 0 => break,
                _ => {}
            }
            start += returned;
        }
        Ok(all)
    }

    /// Asks for the page after the last: it must be empty. Resources there mean the app
    /// ignored `startIndex` (ids already read) or said too little in `totalResults` (new ids).
    /// An error answer to a page past the end is taken as the end.
    async fn confirm_end(&self, url: &Url, read: u64, total: u64, seen: &HashSet<String>) -> Result<(), Walk> {
        let start = read + 1;
        let query = [("startIndex", start.to_string()), ("count", self.options.page_size.to_string())];
        let page = match self.page(url, &query).await {
            Ok(page) => page,
            Err(e) if e.status().is_some_and(|s| (400..500).contains(&s) && s != 401 && s != 403 && s != 429) => {
                return Ok(());
            }
            Err(e) => return Err(Walk::Error(e)),
        };
        if let Some(answered) = page.start_index.filter(|a| *a != start && !page.resources.is_empty()) {
            return Err(Walk::Fault(PagingFault::StartIndexIgnored { asked: start, answered }));
        }
        // Resources past the end under a new total are the list growing while read (a create
        // landed after the last page), not a total that lies.
        if let Some(later) = page.total_results.filter(|later| *later != total) {
            return Err(Walk::Fault(PagingFault::TotalChanged { first: total, later }));
        }
        if let Some(id) = page.resources.iter().filter_map(id_of).find(|id| seen.contains(id)) {
            return Err(Walk::Fault(PagingFault::RepeatedId { start, id }));
        }
        if !page.resources.is_empty() {
            return Err(Walk::Fault(PagingFault::BeyondTotal { read: read + page.resources.len() as u64, total }));
        }
        Ok(())
    }

    /// The list read by `attribute sw PREFIX` filters: a partition whose first page holds all of
    /// its `totalResults` is read; one that does not is split by one more character (and an `eq`
    /// for the prefix itself). The partitions must add up to the unfiltered `totalResults`, and
    /// every resource must match the filter it came back for.
    pub(crate) async fn list_partitioned(&self, url: &Url, attribute: &str) -> Result<Vec<Value>, ConnectorError> {
        let fail = |fault: PagingFault| ConnectorError::Paging { url: url.to_string(), fault: fault.to_string() };
        let count = self.options.page_size.to_string();
        let first = self.page(url, &[("startIndex", "1".to_owned()), ("count", count.clone())]).await?;
        let Some(total) = first.total_results else {
            return Err(fail(PagingFault::PartitionsShort { found: 0, total: 0 }));
        };
        let mut seen = HashSet::new();
        let mut all = Vec::new();
        let mut requests = 1usize;
        // Depth-first over prefixes, each checked on its own.
        let mut pending: Vec<String> = PREFIX_CHARS.chars().rev().map(String::from).collect();
        while let Some(prefix) = pending.pop() {
            if requests >= MAX_PARTITION_REQUESTS {
                return Err(fail(PagingFault::PartitionsShort { found: all.len() as u64, total }));
            }
            let filter_text = format!("{attribute} sw {}", quote(&prefix));
            let filter = parse_filter(&filter_text)
                .map_err(|e| ConnectorError::InvalidRequest(format!("filter {filter_text}: {e}")))?;
            requests += 1;
            let page = self
                .page(url, &[("filter", filter_text.clone()), ("startIndex", "1".to_owned()), ("count", count.clone())])
                .await?;
            check_matches(&page.resources, &filter, &filter_text).map_err(fail)?;
            let returned = page.resources.len() as u64;
            let part_total = page.total_results.unwrap_or(returned);
            if returned >= part_total {
                take(page.resources, &mut seen, &mut all).map_err(fail)?;
                continue;
            }
            if prefix.chars().count() >= MAX_PREFIX_LEN {
                return Err(fail(PagingFault::PartitionsShort { found: all.len() as u64, total }));
            }
            // The prefix itself as a whole value is in no longer prefix's partition.
            let exact_text = format!("{attribute} eq {}", quote(&prefix));
            let exact = parse_filter(&exact_text)
                .map_err(|e| ConnectorError::InvalidRequest(format!("filter {exact_text}: {e}")))?;
            requests += 1;
            let page = self.page(url, &[("filter", exact_text.clone())]).await?;
            check_matches(&page.resources, &exact, &exact_text).map_err(fail)?;
            take(page.resources, &mut seen, &mut all).map_err(fail)?;
            pending.extend(PREFIX_CHARS.chars().rev().map(|c| format!("{prefix}{c}")));
        }
        let found = all.len() as u64;
        if found != total {
            // More than the app held at the start can be the app growing while it was read (a
            // long read beside a wave of creates, Tenure's own among them): accepted when the
            // app now holds at least what was found, so every resource of the start was found
            // and none found is one the app does not count. An app whose totalResults lies low
            // still says less than was found, and fewer than the start is never accepted.
            let now = self.page(url, &[("startIndex", "1".to_owned()), ("count", "1".to_owned())]).await?;
            let grew = now.total_results.is_some_and(|end| total < found && found <= end);
            if !grew {
                return Err(fail(PagingFault::PartitionsShort { found, total }));
            }
            tracing::info!(%url, start = total, found, "the app grew while read by userName prefixes");
        }
        Ok(all)
    }
}

/// Why a walk stopped: the app's paging, or the request itself.
enum Walk {
    Fault(PagingFault),
    Error(ConnectorError),
}

impl Walk {
    fn into_error(self, url: &Url) -> ConnectorError {
        match self {
            Self::Fault(fault @ PagingFault::TotalChanged { .. }) => {
                ConnectorError::ListChanging { url: url.to_string(), fault: fault.to_string() }
            }
            Self::Fault(fault) => ConnectorError::Paging { url: url.to_string(), fault: fault.to_string() },
            Self::Error(e) => e,
        }
    }
}

fn check_matches(resources: &[Value], filter: &Filter, text: &str) -> Result<(), PagingFault> {
    if resources.iter().all(|r| filter.matches(r)) {
        Ok(())
    } else {
        Err(PagingFault::FilterIgnored { filter: text.to_owned() })
    }
}

/// Adds a partition's resources; an id already taken from another partition means the
/// partitions overlap, which prefixes of one attribute cannot.
fn take(resources: Vec<Value>, seen: &mut HashSet<String>, all: &mut Vec<Value>) -> Result<(), PagingFault> {
    for raw in resources {
        let id = id_of(&raw).ok_or(PagingFault::NoId { start: 1 })?;
        if !seen.insert(id.clone()) {
            return Err(PagingFault::RepeatedId { start: 1, id });
        }
        all.push(raw);
    }
    Ok(())
}
