//! The app catalog as admins read it: each app with what its vendor documents (what DELETE does,
//! whether an account comes back, the published limits, the addresses), and what Tenure does
//! with it by default.

use tenure_connectors::catalog::{CatalogEntry, catalog};
use tenure_connectors::vendor::Vendor;

use super::Admin;
use super::views::CatalogApp;

impl Admin<'_> {
    /// Every app of the catalog, the most provisioned first. The catalog is public vendor
    /// documentation compiled into Tenure, no tenant's data, so every role may read it.
    pub fn catalog(&self) -> Vec<CatalogApp> {
        catalog_apps()
    }
}

/// The catalog without a tenant: it needs no database (`tenure app catalog` reads it offline).
pub fn catalog_apps() -> Vec<CatalogApp> {
    catalog().entries().iter().map(catalog_app).collect()
}

fn catalog_app(e: &CatalogEntry) -> CatalogApp {
    let vendor: Option<Vendor> = e.name.parse().ok();
    CatalogApp {
        name: e.name.clone(),
        display_name: e.display_name.clone(),
        api: e.api.get().map_or("unknown", |a| a.as_str()).to_owned(),
        delete: e.delete.describe(),
        reactivate: e.reactivates(),
        rate_limit: e.rate_limit_text().map(str::to_owned),
        docs: e.docs().into_iter().map(str::to_owned).collect(),
        reserve: e.reserve,
        scim: e.is_scim(),
        connector: e.connector.clone(),
        base_url: e.base_url.get().cloned(),
        base_url_parameters: e.base_url_parameters().into_iter().map(str::to_owned).collect(),
        auth: e.auth.describe(),
        plan: e.plan.describe(),
        filters: e.filters.get().cloned(),
        page_size_max: e.page_size_max.get().copied(),
        list: e.list.describe(),
        deprovision_default: vendor.map(|v| v.default_deprovision().to_string()),
        delete_needs_confirmation: vendor.map(|v| v.delete_needs_confirmation()),
        deactivate_irreversible: e.deactivate_irreversible(),
        pace_per_second: e.documented_limits().and_then(|l| l.per_second),
        creates_per_second: e.documented_limits().and_then(|l| l.creates_per_second),
        updates_per_second: e.documented_limits().and_then(|l| l.updates_per_second),
        deletes_per_second: e.documented_limits().and_then(|l| l.deletes_per_second),
        group_reads_per_second: e.group_paces().0,
        group_writes_per_second: e.group_paces().1,
        per_hour: window_of(e, tenure_core::RequestWindow::HOUR),
        per_day: window_of(e, tenure_core::RequestWindow::DAY),
        min_list_interval_s: e.min_list_interval_s(),
        rules: e.rules.iter().filter_map(|r| serde_json::to_value(r).ok()).collect(),
        unknown: e.unknown_facts().into_iter().map(str::to_owned).collect(),
        entry: serde_json::to_value(e).unwrap_or_default(),
    }
}

/// The entry's documented budget over a window of `seconds`.
fn window_of(e: &tenure_connectors::CatalogEntry, seconds: u64) -> Option<u32> {
    e.documented_limits()?.windows.iter().find(|w| w.seconds == seconds).map(|w| w.requests)
}
