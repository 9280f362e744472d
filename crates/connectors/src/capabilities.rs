//! What an app's probed profile means for provisioning it: the incompatibilities an admin should
//! know about before the first sync, each with what Tenure will do about it.

pub use tenure_core::capabilities::{Capabilities, Discovery, FilterSupport, PagingSupport, PatchSupport, Probed};

/// One line per limitation found, worded for the admin: what is missing and how Tenure copes.
pub fn incompatibilities(caps: &Capabilities) -> Vec<String> {
    let mut found = Vec::new();
    if caps.paging.is_broken() {
        let fault = caps.paging.fault.as_deref().unwrap_or("paging is broken");
        found.push(match caps.paging.partitioned {
            Probed::Yes => {
                format!("paging broken ({fault}): listings read the app by userName prefixes instead (more requests)")
            }
            _ => format!(
                "paging broken ({fault}) and no partitioned read works: Tenure refuses to plan this app, since \
                 a partial list would re-create the accounts it did not see"
            ),
        });
    }
    match caps.filter {
        FilterSupport::Works => {}
        FilterSupport::Ignored => {
            found.push("filtering ignored: lookups will list all users (slow for large apps)".to_owned());
        }
        FilterSupport::Refused => {
            found.push("filtering not supported: lookups will list all users (slow for large apps)".to_owned());
        }
        FilterSupport::Unverified => found.push(
            "filtering unverified (no user to test with): lookups filter, and fall back to listing all users if \
             the app turns out to ignore filters"
                .to_owned(),
        ),
    }
    for (path, probed) in &caps.filter_by {
        if *probed == Probed::No {
            found.push(format!("filtering on {path} does not work: lookups by {path} will list all users"));
        }
    }
    match caps.patch.supported {
        Probed::No => found.push("no PATCH: updates replace the whole user (GET + PUT)".to_owned()),
        Probed::Unknown => found.push("PATCH support unknown: updates will use PATCH".to_owned()),
        Probed::Yes => {}
    }
    if caps.patch.value_filter_path == Probed::No {
        found.push(
            "PATCH paths with a value filter (emails[type eq \"work\"].value) do not work: email changes may fail"
                .to_owned(),
        );
    }
    // Below the client's usual page size, listings (and lookups by listing) take more requests.
    if let Some(max) = caps.max_page_size.filter(|m| *m < 100) {
        found.push(format!("at most {max} users per page: listings take more requests"));
    }
    if caps.etag != Probed::Yes {
        found.push("no ETags: concurrent changes in the app cannot be detected (no If-Match)".to_owned());
    }
    if !caps.discovery.service_provider_config {
        found.push("no /ServiceProviderConfig: features were found by trying them".to_owned());
    }
    found
}
