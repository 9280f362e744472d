//! The overview: the directory, the apps and their accounts by state (drawn as bars), the queue,
//! held plans, quarantined apps with what to do, and each source's last sync. Each part is shown
//! when the admin's role may read it; a part that fails says so and the rest still shows.

use std::collections::BTreeMap;

use askama::Template;
use tenure_engine::AccountClass;
use tenure_engine::admin::Need;

use super::auth::Signed;
use super::svg::{Segment, class_colour, stacked_bars};
use super::view::{Nav, Notice, PageResult, render, segment, when};

pub struct AppLine {
    pub name: String,
    pub href: String,
    pub health: String,
    pub linked: i64,
    pub active: i64,
}

pub struct Quarantine {
    pub app: String,
    pub href: String,
    pub reason: String,
    pub next: String,
}

pub struct SourceLine {
    pub name: String,
    pub kind: String,
    pub last_sync: String,
    pub count: String,
}

#[derive(Default)]
pub struct Totals {
    pub managed: usize,
    pub unmanaged: usize,
    pub attention: usize,
    pub other: usize,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct Overview {
    nav: Nav,
    notice: Option<Notice>,
    people: Option<usize>,
    apps: Vec<AppLine>,
    totals: Totals,
    account_errors: Vec<String>,
    chart: String,
    queued: Option<i64>,
    failed: Option<i64>,
    held: usize,
    quarantined: Vec<Quarantine>,
    refused: Vec<(String, String)>,
    sources: Option<Vec<SourceLine>>,
}

/// How an app is doing, in a word or three.
pub fn health(app: &tenure_engine::admin::views::AppView) -> String {
    if app.disabled {
        "disabled".into()
    } else if app.paused_until_ms.is_some() {
        "quarantined".into()
    } else if app.failures > 0 {
        format!("{} failure(s)", app.failures)
    } else {
        "healthy".into()
    }
}

pub async fn page(signed: Signed) -> PageResult {
    let admin = signed.admin();
    let actor = &signed.actor;
    let apps = admin.apps().await?;
    let people = if actor.allows(Need::TenantRead) { Some(admin.people().await?.len()) } else { None };

    let mut totals = Totals::default();
    let mut account_errors = Vec::new();
    let mut rows = Vec::new();
    for app in &apps {
        let mut by_class: BTreeMap<AccountClass, usize> = BTreeMap::new();
        match admin.report(Some(&app.name)).await {
            Ok(accounts) => {
                for a in &accounts {
                    *by_class.entry(a.class).or_default() += 1;
                    match a.class {
                        AccountClass::Managed | AccountClass::Deactivated | AccountClass::Invited => {
                            totals.managed += 1
                        }
                        AccountClass::Unmanaged => totals.unmanaged += 1,
                        AccountClass::UnassignedButActive
                        | AccountClass::LeftButActive
                        | AccountClass::InactiveButLicensed
                        | AccountClass::Ambiguous
                        | AccountClass::Refused => totals.attention += 1,
                        _ => totals.other += 1,
                    }
                }
            }
            Err(e) => account_errors.push(format!("{}: {e}", app.name)),
        }
        let segments = by_class
            .iter()
            .map(|(class, n)| Segment { label: class.as_str(), count: *n, colour: class_colour(class.as_str()) })
            .collect();
        rows.push((app.name.clone(), segments));
    }

    let (queued, failed, refused) = if actor.allows(Need::TenantRead) {
        let status = admin.queue_status().await?;
        (
            Some(status.counts.ready + status.counts.waiting),
            Some(status.counts.failed),
            status.refused_apps.into_iter().map(|r| (r.app, r.reason)).collect(),
        )
    } else {
        (None, None, Vec::new())
    };
    let held = admin.holds().await?.iter().filter(|h| h.status == "held").count();
    let quarantined = apps
        .iter()
        .filter(|a| a.paused_until_ms.is_some())
        .map(|a| Quarantine {
            app: a.name.clone(),
            href: format!("/apps/{}?tab=provisioning", segment(&a.name)),
            reason: a.last_error.clone().unwrap_or_else(|| format!("{} failures in a row", a.failures)),
            next: when(a.paused_until_ms),
        })
        .collect();
    let sources = if actor.allows(Need::TenantRead) {
        Some(
            admin
                .sources()
                .await?
                .into_iter()
                .map(|s| SourceLine {
                    name: s.name,
                    kind: s.kind,
                    last_sync: when(s.last_sync_ms),
                    count: s.last_count.map_or_else(|| "-".into(), |n| n.to_string()),
                })
                .collect(),
        )
    } else {
        None
    };
    let page = Overview {
        nav: signed.nav("overview"),
        notice: None,
        people,
        apps: apps
            .iter()
            .map(|a| AppLine {
                name: a.name.clone(),
                href: format!("/apps/{}", segment(&a.name)),
                health: health(a),
                linked: a.linked_accounts,
                active: a.active_accounts,
            })
            .collect(),
        totals,
        account_errors,
        chart: stacked_bars(&rows),
        queued,
        failed,
        held,
        quarantined,
        refused,
        sources,
    };
    Ok(render(&page))
}
