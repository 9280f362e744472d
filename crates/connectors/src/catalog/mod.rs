//! The app catalog: one data file per app (`crates/connectors/catalog/NAME.toml`, embedded in
//! the binary) holding what its vendor documents about provisioning it, each fact with the
//! addresses it was read from. Vendor profiles ([`crate::Vendor`]) are read from here; code
//! remains only for what a file cannot say (a custom connector).

mod compare;
mod entry;
mod fact;
mod files;

use std::sync::LazyLock;

use tenure_core::{AppLimits, RequestWindow, UserNameFormat};

pub use compare::{Comparison, compare, compare_connector};
pub use entry::{
    ApiKind, AttributeRule, AuthKind, CatalogEntry, DeleteEffect, DocumentedError, ListCompleteness, Pace, PaceScope,
    Period, Quirk, RateLimitFact, Reactivation, RuleKind, Source, SourceKind, UserNameFact, UserNameKind, Verbs,
};
pub use fact::{Fact, Known};

use crate::connector::DeleteMeaning;
use fact::FactRef;

/// Page size used where the vendor documents no cap.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// Every entry, parsed and checked.
#[derive(Debug)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
}

#[derive(Debug, thiserror::Error)]
#[error("catalog file {file}: {message}")]
pub struct CatalogError {
    pub file: String,
    pub message: String,
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| match Catalog::load(files::FILES) {
    Ok(catalog) => catalog,
    // The files are compiled in and every one is parsed and checked by the crate's tests, so
    // this is a build that skipped them, not bad input.
    Err(e) => panic!("the embedded app catalog is broken: {e}"),
});

/// The embedded catalog.
pub fn catalog() -> &'static Catalog {
    &CATALOG
}

impl Catalog {
    /// Parses and checks `files` (name, TOML text); the first problem found is the error.
    pub fn load(files: &[(&str, &str)]) -> Result<Self, CatalogError> {
        let mut entries = Vec::with_capacity(files.len());
        for (file, text) in files {
            let entry = parse(file, text)?;
            let problems = entry.problems();
            if let Some(first) = problems.first() {
                return Err(CatalogError { file: (*file).to_owned(), message: first.clone() });
            }
            if entry.name != *file {
                return Err(CatalogError {
                    file: (*file).to_owned(),
                    message: format!("name {:?} differs from the file's name", entry.name),
                });
            }
            entries.push(entry);
        }
        entries.sort_by_key(|e| (e.reserve, e.rank, e.name.clone()));
        for (i, e) in entries.iter().enumerate() {
            for other in &entries[i + 1..] {
                let clash = e.names().find(|n| other.names().any(|m| m.eq_ignore_ascii_case(n)));
                if let Some(name) = clash {
                    return Err(CatalogError {
                        file: other.name.clone(),
                        message: format!("{name:?} also names {}", e.name),
                    });
                }
            }
        }
        Ok(Self { entries })
    }

    /// In the reference's order: the most provisioned first, reserves last.
    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    /// The entry called `name` or one of its aliases, in any case.
    pub fn get(&self, name: &str) -> Option<&CatalogEntry> {
        let wanted = name.trim();
        self.entries.iter().find(|e| e.names().any(|n| n.eq_ignore_ascii_case(wanted)))
    }

    /// The names `app add scim --vendor` accepts.
    pub fn scim_names(&self) -> Vec<&str> {
        self.entries.iter().filter(|e| e.is_scim()).map(|e| e.name.as_str()).collect()
    }
}

/// One file's text as an entry.
pub fn parse(file: &str, text: &str) -> Result<CatalogEntry, CatalogError> {
    toml::from_str(text).map_err(|e| CatalogError { file: file.to_owned(), message: e.to_string() })
}

impl CatalogEntry {
    fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    fn facts(&self) -> Vec<FactRef<'_>> {
        let mut facts = vec![
            self.api.as_ref("api"),
            self.base_url.as_ref("base_url"),
            self.auth.as_ref("auth"),
            self.plan.as_ref("plan"),
            self.resources.as_ref("resources"),
            self.verbs.as_ref("verbs"),
            self.filters.as_ref("filters"),
            self.page_size_max.as_ref("page_size_max"),
            self.delete.as_ref("delete"),
            self.reactivate.as_ref("reactivate"),
            self.deactivate.as_ref("deactivate"),
            FactRef { field: "user_name", known: self.user_name.value.is_known(), sources: &self.user_name.sources },
            self.attributes.as_ref("attributes"),
            self.licenses.as_ref("licenses"),
            FactRef { field: "rate_limit", known: self.rate_limit.value.is_known(), sources: &self.rate_limit.sources },
            self.throttling.as_ref("throttling"),
            self.list.as_ref("list"),
        ];
        if let Some(joiners) = &self.joiners {
            facts.push(joiners.as_ref("joiners"));
        }
        for e in &self.errors {
            facts.push(FactRef { field: "errors", known: true, sources: &e.sources });
        }
        for q in &self.quirks {
            facts.push(FactRef { field: "quirks", known: true, sources: &q.sources });
        }
        for r in &self.rules {
            facts.push(FactRef { field: "rules", known: true, sources: &r.sources });
        }
        facts
    }

    /// Everything wrong with the entry: a known fact without a source, a source key that names
    /// no address, an address nothing cites, a pace without documented limits.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let valid_name =
            |n: &str| !n.is_empty() && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        for name in self.names() {
            if !valid_name(name) {
                problems.push(format!("name {name:?}: use lowercase letters, digits and hyphens"));
            }
        }
        if self.display_name.trim().is_empty() {
            problems.push("display_name is empty".to_owned());
        }
        for (key, source) in &self.sources {
            if !(source.url.starts_with("https://") || source.url.starts_with("http://")) {
                problems.push(format!("source {key}: {:?} is not an address", source.url));
            }
        }
        let facts = self.facts();
        for fact in &facts {
            if fact.known && fact.sources.is_empty() {
                problems.push(format!("{}: a documented value needs a source (or write \"unknown\")", fact.field));
            }
            for key in fact.sources {
                if !self.sources.contains_key(key) {
                    problems.push(format!("{}: source {key:?} is not in [sources]", fact.field));
                }
            }
        }
        for key in self.sources.keys() {
            if !facts.iter().any(|f| f.sources.contains(key)) {
                problems.push(format!("source {key} is cited by no fact"));
            }
        }
        if !self.rate_limit.pace.is_empty() && !self.rate_limit.value.is_known() {
            problems.push("rate_limit: a pace needs the documented limit it comes from".to_owned());
        }
        if self.rate_limit.pace.iter().any(|p| p.requests == 0) {
            problems.push("rate_limit.pace: requests must be at least 1".to_owned());
        }
        for rule in &self.rules {
            problems.extend(rule.problems());
        }
        if self.page_size_max.get() == Some(&0) {
            problems.push("page_size_max: at least 1".to_owned());
        }
        if self.user_name.max_len == Some(0) {
            problems.push("user_name.max_len: at least 1".to_owned());
        }
        problems
    }

    /// The facts no source establishes (written "unknown"), by field.
    pub fn unknown_facts(&self) -> Vec<&'static str> {
        self.facts().into_iter().filter(|f| !f.known).map(|f| f.field).collect()
    }

    /// Whether `app add scim` can provision it with the generic SCIM client.
    pub fn is_scim(&self) -> bool {
        matches!(self.api.get(), Some(ApiKind::Scim2 | ApiKind::Scim11))
    }

    /// Every address the entry's facts come from, without repeats, in the order of their keys.
    pub fn docs(&self) -> Vec<&str> {
        let mut urls: Vec<&str> = Vec::new();
        for source in self.sources.values() {
            if !urls.contains(&source.url.as_str()) {
                urls.push(&source.url);
            }
        }
        urls
    }

    /// The parameters the base URL template asks for (`my_domain` of `https://{my_domain}...`).
    pub fn base_url_parameters(&self) -> Vec<&str> {
        let Some(template) = self.base_url.get() else { return Vec::new() };
        template.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name)).collect()
    }

    /// What DELETE means to the engine. An undocumented DELETE is read as permanent: the safe
    /// assumption is that it cannot be undone.
    pub fn delete_meaning(&self) -> DeleteMeaning {
        match self.delete.get() {
            Some(DeleteEffect::Deactivates | DeleteEffect::UnlinksAndDeactivates) => DeleteMeaning::Deactivates,
            // Where DELETE does not exist, deprovisioning deactivates instead (refused as a
            // policy); the account remains either way.
            Some(DeleteEffect::NotSupported) => DeleteMeaning::Deactivates,
            Some(DeleteEffect::RemovesMembership) => DeleteMeaning::RemovesFromWorkspace,
            Some(
                DeleteEffect::Deprovisions
                | DeleteEffect::DeletesRecord
                | DeleteEffect::Permanent
                | DeleteEffect::SoftDelete,
            )
            | None => DeleteMeaning::Permanent,
        }
    }

    /// `true` / `false` where documented, `None` where not.
    pub fn reactivates(&self) -> Option<bool> {
        self.reactivate.get().map(|r| r.possible())
    }

    /// Whether deleting an account cannot be undone through the API: its DELETE is permanent
    /// or undocumented, or a deprovisioned account can never be re-activated.
    pub fn delete_irreversible(&self) -> bool {
        let delete_reversible = self.delete.get().is_some_and(|d| d.reversible());
        !delete_reversible || self.reactivates() == Some(false)
    }

    /// Whether deactivating an account cannot be undone (Asana: a deprovisioned user never
    /// comes back).
    pub fn deactivate_irreversible(&self) -> bool {
        self.reactivates() == Some(false)
    }

    pub fn delete_supported(&self) -> bool {
        self.delete.get() != Some(&DeleteEffect::NotSupported)
    }

    /// Whether an account missing from the user list may still exist.
    pub fn list_partial(&self) -> bool {
        self.list.get() == Some(&ListCompleteness::Partial)
    }

    pub fn user_name_format(&self) -> UserNameFormat {
        match (self.user_name.value.get(), self.user_name.max_len) {
            (Some(UserNameKind::Handle), max) => UserNameFormat::Handle { max_len: max.unwrap_or(21) },
            _ => UserNameFormat::Email,
        }
    }

    /// The rules an app of this vendor starts with: the entry's, without its source keys (they
    /// mean nothing outside the entry; `tenure app catalog --json` has them).
    pub fn app_rules(&self) -> Vec<AttributeRule> {
        self.rules.iter().map(|r| AttributeRule { sources: Vec::new(), ..r.clone() }).collect()
    }

    pub fn max_page_size(&self) -> u32 {
        self.page_size_max.get().copied().unwrap_or(DEFAULT_PAGE_SIZE)
    }

    /// The pace the rate limiter keeps: the strictest documented limit on every request (or on
    /// user writes: one bucket paces every request of an app, so it must fit the strictest) over
    /// a short period, and apart from it the strictest on creates, updates and deletes alone
    /// (Canva's one create a second; Miro's 100 updates and 20 deletes per 30 s).
    /// A limit over an hour or a day is a budget over its window instead (DocuSign's 3,000 an
    /// hour): spread into a rate, it would pace 3,000 an hour as one request every 1.2 s, and a
    /// day's budget as a trickle, where the vendor allows them sent as fast as the short limits
    /// let.
    pub fn documented_limits(&self) -> Option<AppLimits> {
        let long = |p: &&Pace| matches!(p.per, Period::Hour | Period::Day);
        let strictest = |scopes: &[PaceScope]| {
            self.rate_limit
                .pace
                .iter()
                .filter(|p| scopes.contains(&p.applies_to) && !long(p))
                .map(|p| (f64::from(p.requests) / p.per.seconds(), p.burst))
                .min_by(|a, b| a.0.total_cmp(&b.0))
        };
        let all = strictest(&[PaceScope::All, PaceScope::UserWrites]);
        // Per endpoint, beside the pace of every request: each paced apart, so a slow endpoint
        // (Miro's DELETE, 20 per 30 s) does not slow the others.
        let creates = strictest(&[PaceScope::Creates]).map(|(per_second, _)| per_second);
        let updates = strictest(&[PaceScope::Updates]).map(|(per_second, _)| per_second);
        let deletes = strictest(&[PaceScope::Deletes]).map(|(per_second, _)| per_second);
        let mut windows: Vec<RequestWindow> = Vec::new();
        for pace in self
            .rate_limit
            .pace
            .iter()
            .filter(|p| long(p) && matches!(p.applies_to, PaceScope::All | PaceScope::UserWrites))
        {
            let window = RequestWindow { requests: pace.requests, seconds: pace.per.seconds() as u64 };
            match windows.iter_mut().find(|w| w.seconds == window.seconds) {
                Some(w) => w.requests = w.requests.min(window.requests),
                None => windows.push(window),
            }
        }
        windows.sort_by_key(|w| w.seconds);
        if all.is_none() && creates.is_none() && updates.is_none() && deletes.is_none() && windows.is_empty() {
            return None;
        }
        Some(AppLimits {
            per_second: all.map(|(per_second, _)| per_second),
            burst: all.map(|(_, burst)| burst.unwrap_or(1)),
            concurrency: None,
            shared_key: None,
            creates_per_second: creates,
            updates_per_second: updates,
            deletes_per_second: deletes,
            windows,
        })
    }

    /// The paces of the group endpoints alone, reads then writes, in requests per second,
    /// where the vendor documents them apart (Miro: GET Groups 5 and a large PATCH group 5 per
    /// 30 s, against 200 for the user endpoints). The SCIM client paces its `/Groups` requests
    /// by them beside the app's own limiter ([`crate::ScimClient::with_vendor`]).
    pub fn group_paces(&self) -> (Option<f64>, Option<f64>) {
        let strictest = |scope: PaceScope| {
            self.rate_limit
                .pace
                .iter()
                .filter(|p| p.applies_to == scope && !matches!(p.per, Period::Hour | Period::Day))
                .map(|p| f64::from(p.requests) / p.per.seconds())
                .min_by(f64::total_cmp)
        };
        (strictest(PaceScope::GroupReads), strictest(PaceScope::GroupWrites))
    }

    /// The least time, in seconds, between two full reads of the user list where the vendor
    /// penalises reading it from the start more often (Adobe: page 0 at most once every two
    /// hours, or the integration is delayed for over half an hour).
    pub fn min_list_interval_s(&self) -> Option<u64> {
        self.rate_limit
            .pace
            .iter()
            .filter(|p| p.applies_to == PaceScope::ListStart)
            .map(|p| (p.per.seconds() / f64::from(p.requests.max(1))).ceil() as u64)
            .max()
    }

    /// The documented limit in words, `None` where the vendor publishes none.
    pub fn rate_limit_text(&self) -> Option<&str> {
        self.rate_limit.value.get().map(String::as_str)
    }
}

#[cfg(test)]
mod tests;
