//! What a probe found against what the app's catalog entry promises: each promise the probe
//! could test, confirmed or reported as a difference an admin should know about.

use serde::Serialize;
use tenure_core::capabilities::{Capabilities, FilterSupport, Probed};

use super::{CatalogEntry, Verbs};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Promises the probe confirmed.
    pub confirmed: Vec<String>,
    /// Where the app behaves otherwise than its entry says.
    pub differences: Vec<String>,
    /// Promises a read-only probe cannot test (what DELETE does, re-activation, pacing).
    pub untested: Vec<String>,
}

pub fn compare(entry: &CatalogEntry, caps: &Capabilities) -> Comparison {
    let mut out = Comparison::default();
    let name = &entry.display_name;
    match (entry.verbs.get(), caps.patch.supported) {
        (Some(Verbs::PatchAndPut | Verbs::Patch), Probed::Yes) => out.confirmed.push("PATCH works".to_owned()),
        (Some(Verbs::PatchAndPut | Verbs::Patch), Probed::No) => {
            out.differences.push(format!("{name} documents PATCH; the app refused it (updates will use GET + PUT)"))
        }
        (Some(Verbs::Put), Probed::Yes) => {
            out.differences.push(format!("{name} documents PUT only; the app accepted PATCH"))
        }
        (Some(Verbs::Put), Probed::No) => out.confirmed.push("no PATCH, as documented".to_owned()),
        (Some(_), Probed::Unknown) => out.untested.push("PATCH (try --write-probe)".to_owned()),
        _ => {}
    }
    if let Some(documented) = entry.filters.get().filter(|f| !f.is_empty()) {
        match caps.filter {
            FilterSupport::Refused | FilterSupport::Ignored => out.differences.push(format!(
                "{name} documents filters on {}; the app {} filters",
                documented.join(", "),
                if caps.filter == FilterSupport::Refused { "refused" } else { "ignored" }
            )),
            FilterSupport::Unverified => out.untested.push("filters (no user to test with)".to_owned()),
            FilterSupport::Works => {
                for path in documented {
                    match caps.filter_by.get(path) {
                        Some(Probed::Yes) => out.confirmed.push(format!("filter on {path} works")),
                        Some(Probed::No) => {
                            out.differences.push(format!("{name} documents a filter on {path}; it found nobody"))
                        }
                        _ => {}
                    }
                }
                for (path, probed) in &caps.filter_by {
                    if *probed == Probed::Yes && !documented.iter().any(|d| d == path) {
                        out.differences.push(format!(
                            "{name} documents filters on {} only; the app also filtered on {path}",
                            documented.join(", ")
                        ));
                    }
                }
            }
        }
    }
    match (entry.page_size_max.get(), caps.max_page_size) {
        (Some(documented), Some(found)) if *documented == found => {
            out.confirmed.push(format!("at most {found} users a page"))
        }
        (Some(documented), Some(found)) => out
            .differences
            .push(format!("{name} documents at most {documented} users a page; the app capped at {found}")),
        (Some(documented), None) => out.differences.push(format!(
            "{name} documents at most {documented} users a page; the probe found no cap (Tenure still asks for at \
             most {documented})"
        )),
        (None, Some(found)) => {
            out.differences.push(format!("{name} documents no page cap; the app capped at {found} users a page"))
        }
        (None, None) => {}
    }
    out.untested.push(format!("DELETE: {}", entry.delete.describe()));
    out.untested.push(format!("re-activation: {}", entry.reactivate.describe()));
    if let Some(limit) = entry.rate_limit_text() {
        out.untested.push(format!("rate limit: {limit}"));
    }
    if entry.list_partial() {
        out.untested.push(format!("list: {}", entry.list.describe()));
    }
    out
}

#[cfg(test)]
mod tests {
    use tenure_core::capabilities::{PatchSupport, Probed};

    use super::*;
    use crate::catalog::catalog;

    fn caps(filter: FilterSupport, by: &[(&str, Probed)], patch: Probed, page: Option<u32>) -> Capabilities {
        Capabilities {
            filter,
            filter_by: by.iter().map(|(p, v)| ((*p).to_owned(), *v)).collect(),
            patch: PatchSupport { supported: patch, ..Default::default() },
            max_page_size: page,
            ..Default::default()
        }
    }

    #[test]
    fn each_testable_promise_is_confirmed_or_reported() {
        let asana = catalog().get("asana").expect("asana");
        let same = compare(asana, &caps(FilterSupport::Works, &[("userName", Probed::Yes)], Probed::Yes, None));
        assert_eq!(same.differences, Vec::<String>::new());
        assert!(same.confirmed.contains(&"filter on userName works".to_owned()), "{same:?}");
        let other = compare(
            asana,
            &caps(
                FilterSupport::Works,
                &[("userName", Probed::Yes), ("externalId", Probed::Yes)],
                Probed::No,
                Some(50),
            ),
        );
        assert_eq!(other.differences.len(), 3, "{other:?}");
        assert!(other.differences.iter().any(|d| d.contains("also filtered on externalId")), "{other:?}");
        let canva = catalog().get("canva").expect("canva");
        let found = compare(canva, &caps(FilterSupport::Refused, &[], Probed::Yes, Some(10)));
        assert!(found.confirmed.contains(&"at most 10 users a page".to_owned()), "{found:?}");
        assert!(found.differences.iter().any(|d| d.contains("refused filters")), "{found:?}");
        assert!(found.untested.iter().any(|u| u.contains("DELETE: not supported")), "{found:?}");
    }
}
