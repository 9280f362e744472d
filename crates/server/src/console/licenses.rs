//! Licenses and the app catalog. The license report (the same as `tenure license report`: seats
//! bought, used, free, wasted and what a reclaim would save, per app and tier) with a bar per
//! app; the catalog of apps Tenure knows, each with what its documentation says.

use askama::Template;
use axum::extract::Query;
use serde::Deserialize;
use tenure_engine::admin::Need;

use super::auth::Signed;
use super::svg::{self, Segment};
use super::view::{Nav, Notice, PageResult, render};

pub struct LicenseLine {
    pub app: String,
    pub tier: String,
    pub seats: u64,
    pub used: u64,
    pub free: u64,
    pub wasted: u64,
    pub over: bool,
    pub monthly: String,
    pub reclaimable: String,
    pub unread: String,
}

#[derive(Template)]
#[template(path = "console/licenses.html")]
struct LicensesPage {
    nav: Nav,
    notice: Option<Notice>,
    read: String,
    lines: Vec<LicenseLine>,
    totals: Vec<String>,
    chart: String,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    /// `stored`: as the last live reading left the seats (no app is read).
    #[serde(default)]
    read: Option<String>,
}

pub async fn page(signed: Signed, Query(q): Query<ReportQuery>) -> PageResult {
    signed.actor.require(Need::Reports)?;
    let stored = q.read.as_deref() == Some("stored");
    let quiet = |_: &str, _: usize, _: usize| {};
    let report = match signed.admin().license_report(None, stored, &quiet).await {
        Ok(report) => report,
        Err(e @ tenure_engine::EngineError::Forbidden(_)) => return Err(e.into()),
        Err(e) => {
            return Ok(render(&LicensesPage {
                nav: signed.nav("licenses"),
                notice: None,
                read: if stored { "stored" } else { "live" }.into(),
                lines: Vec::new(),
                totals: Vec::new(),
                chart: String::new(),
                error: Some(e.to_string()),
            }));
        }
    };
    let mut lines = Vec::new();
    let mut rows = Vec::new();
    for app in &report.apps {
        let f = &app.figures;
        let currency = app.currency.to_string();
        lines.push(LicenseLine {
            app: app.app.clone(),
            tier: "every tier".into(),
            seats: f.seats,
            used: f.used,
            free: f.free,
            wasted: f.wasted,
            over: f.over_allocated,
            monthly: format!("{} {currency}", f.monthly_cost),
            reclaimable: format!("{} {currency}", f.reclaimable_monthly),
            unread: app.unread.clone().unwrap_or_default(),
        });
        for t in app.tiers.iter().filter(|t| t.tier.is_some()) {
            let f = &t.figures;
            lines.push(LicenseLine {
                app: String::new(),
                tier: t.tier.clone().unwrap_or_default(),
                seats: f.seats,
                used: f.used,
                free: f.free,
                wasted: f.wasted,
                over: f.over_allocated,
                monthly: format!("{} {currency}", f.monthly_cost),
                reclaimable: format!("{} {currency}", f.reclaimable_monthly),
                unread: String::new(),
            });
        }
        // Seats used, wasted while used (left but active, unmanaged, ...), and bought but free.
        let wasted_used = f.wasted.saturating_sub(f.free).min(f.used);
        rows.push((
            app.app.clone(),
            vec![
                Segment { label: "used", count: (f.used - wasted_used) as usize, colour: "#2e7d32" },
                Segment { label: "wasted while held", count: wasted_used as usize, colour: "#c62828" },
                Segment { label: "free", count: f.free as usize, colour: "#bdbdbd" },
            ],
        ));
    }
    let totals = report
        .totals
        .iter()
        .map(|t| {
            format!(
                "{}: {} seats, {} used, {} wasted; {} {c} a month, {} {c} reclaimable",
                t.currency,
                t.figures.seats,
                t.figures.used,
                t.figures.wasted,
                t.figures.monthly_cost,
                t.figures.reclaimable_monthly,
                c = t.currency
            )
        })
        .collect();
    Ok(render(&LicensesPage {
        nav: signed.nav("licenses"),
        notice: None,
        read: report.read.to_owned(),
        lines,
        totals,
        chart: if rows.is_empty() { String::new() } else { svg::stacked_bars(&rows) },
        error: None,
    }))
}

pub struct CatalogLine {
    pub name: String,
    pub display_name: String,
    pub api: String,
    pub delete: String,
    pub reactivate: String,
    pub rate_limit: String,
    pub list: String,
    pub docs: Vec<String>,
    pub add_href: Option<String>,
}

#[derive(Template)]
#[template(path = "console/catalog.html")]
struct CatalogPage {
    nav: Nav,
    notice: Option<Notice>,
    entries: Vec<CatalogLine>,
}

pub async fn catalog(signed: Signed) -> PageResult {
    let can_add = signed.actor.allows(Need::OrgAdmin);
    let entries = signed
        .admin()
        .catalog()
        .into_iter()
        .map(|c| CatalogLine {
            add_href: (can_add && c.scim).then(|| format!("/apps/new?vendor={}", super::view::segment(&c.name))),
            reactivate: match c.reactivate {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "undocumented".into(),
            },
            rate_limit: c.rate_limit.unwrap_or_else(|| "none published".into()),
            name: c.name,
            display_name: c.display_name,
            api: c.api,
            delete: c.delete,
            list: c.list,
            docs: c.docs,
        })
        .collect();
    Ok(render(&CatalogPage { nav: signed.nav("catalog"), notice: None, entries }))
}
