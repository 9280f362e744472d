//! What a probe found against what the app's catalog entry promises: each promise the probe
//! could test, confirmed or reported as a difference an admin should know about.

use serde::Serialize;
use tenure_core::capabilities::{Capabilities, FilterSupport, Probed};

use super::{CatalogEntry, Reactivation, Verbs};

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

/// What an app reached through a connector of its own (Box, Dropbox, Microsoft 365) does,
/// against what its catalog entry documents: the connector's declared DELETE, deactivation and
/// re-activation, and the pace the app is set to, since there is no probe to run. `found` is
/// what the check read (its users), if it could.
pub fn compare_connector(
    entry: &CatalogEntry,
    descriptor: &crate::Descriptor,
    limits: Option<&tenure_core::AppLimits>,
    found: Option<&str>,
) -> Comparison {
    use crate::connector::Operation;
    let mut out = Comparison::default();
    let name = &entry.display_name;
    if let Some(found) = found {
        out.confirmed.push(format!("the user list reads ({found})"));
    }
    match entry.delete.get() {
        Some(_) if entry.delete_meaning() == descriptor.delete => {
            out.confirmed.push(format!("DELETE {}, as the connector treats it", entry.delete.describe()))
        }
        Some(_) => out.differences.push(format!(
            "{name} documents DELETE as: {}; the connector treats it as {}",
            entry.delete.describe(),
            descriptor.delete.as_str()
        )),
        None => out.untested.push(format!("DELETE: {}", entry.delete.describe())),
    }
    match (entry.deactivate.get(), descriptor.supports(Operation::Deactivate)) {
        (Some(_), true) => out.confirmed.push(format!("deactivation: {}", entry.deactivate.describe())),
        (Some(_), false) => out
            .differences
            .push(format!("{name} documents deactivation ({}); the connector cannot", entry.deactivate.describe())),
        (None, _) => out.untested.push(format!("deactivation: {}", entry.deactivate.describe())),
    }
    // "Only as a new account" (Dropbox: a suspended member comes back, a removed one does not)
    // says nothing a connector's declared operations could confirm.
    match (entry.reactivate.get(), descriptor.supports(Operation::Activate)) {
        (Some(Reactivation::Supported), true) => {
            out.confirmed.push(format!("re-activation: {}", entry.reactivate.describe()))
        }
        (Some(Reactivation::Supported), false) => out.differences.push(format!(
            "{name} documents re-activation ({}); the connector cannot re-activate",
            entry.reactivate.describe()
        )),
        (Some(Reactivation::Unsupported), true) => out.differences.push(format!(
            "{name} documents no re-activation ({}); the connector would try",
            entry.reactivate.describe()
        )),
        (Some(Reactivation::Unsupported), false) => out.confirmed.push("no re-activation, as documented".to_owned()),
        (Some(Reactivation::NewAccount) | None, _) => {
            out.untested.push(format!("re-activation: {}", entry.reactivate.describe()))
        }
    }
    let per_second = |l: Option<&tenure_core::AppLimits>| l.and_then(|l| l.per_second);
    match (entry.documented_limits(), limits) {
        (Some(documented), Some(set)) if per_second(Some(set)) == documented.per_second => out
            .confirmed
            .push(format!("paced as documented: {}", entry.rate_limit_text().unwrap_or("the documented limit"))),
        (Some(documented), set) => out.differences.push(format!(
            "{name} documents {}; this app is paced at {} (the entry's pace: {})",
            entry.rate_limit_text().unwrap_or("a limit"),
            pace(per_second(set)),
            pace(documented.per_second)
        )),
        (None, _) => {
            if let Some(limit) = entry.rate_limit_text() {
                out.untested.push(format!("rate limit: {limit}"));
            }
        }
    }
    out.untested.push(format!("list: {}", entry.list.describe()));
    out
}

fn pace(per_second: Option<f64>) -> String {
    match per_second {
        Some(p) => format!("{p} requests a second"),
        None => "no pace".to_owned(),
    }
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

    /// Microsoft 365's entry against the Graph connector (https://learn.microsoft.com/en-us/graph/api/user-delete:
    /// restorable for 30 days, then gone; accountEnabled for deactivation and back).
    #[test]
    fn a_connector_app_is_compared_with_its_entry() {
        use crate::connector::{DeactivateMeaning, DeleteMeaning, Descriptor, Operation};
        let m365 = catalog().get("m365").expect("m365");
        let descriptor = Descriptor {
            kind: "m365",
            operations: [Operation::List, Operation::Deactivate, Operation::Activate, Operation::Delete].into(),
            deactivate: DeactivateMeaning::Suspend,
            delete: DeleteMeaning::Permanent,
        };
        let limits = m365.documented_limits();
        let same = compare_connector(m365, &descriptor, limits.as_ref(), Some("3 users"));
        assert_eq!(same.differences, Vec::<String>::new(), "{same:?}");
        assert!(same.confirmed.iter().any(|c| c.starts_with("DELETE soft delete")), "{same:?}");
        assert!(same.confirmed.iter().any(|c| c.starts_with("paced as documented")), "{same:?}");
        let unpaced = compare_connector(
            m365,
            &Descriptor { delete: DeleteMeaning::Deactivates, ..descriptor.clone() },
            None,
            None,
        );
        assert_eq!(unpaced.differences.len(), 2, "{unpaced:?}");
        // Dropbox: a suspended member comes back, a removed one only as a new account (Okta's
        // https://help.okta.com/en-us/Content/topics/provisioning/dropbox/drbx-supported-features.htm):
        // not a difference.
        let dropbox = catalog().get("dropbox").expect("dropbox");
        let found = compare_connector(dropbox, &Descriptor { kind: "dropbox", ..descriptor }, None, None);
        assert_eq!(found.differences, Vec::<String>::new(), "{found:?}");
        assert!(found.untested.iter().any(|u| u.starts_with("re-activation: only as a new account")), "{found:?}");
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
