//! License pools from the console: each pool's terms (seats, cost a seat, currency, period,
//! renewal, owner, when unused is waste, where a freed seat goes first), set or replaced with one form (prefilled to edit a
//! pool), and removed. Org admins and license admins change them (the engine's `Licenses`
//! need); others see the terms without a form. A refused field is said under it.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use serde::Deserialize;
use tenure_core::licenses::LicensePool;
use tenure_engine::admin::{LicenseSpec, Need};

use super::auth::Signed;
use super::forms::{Refusal, refusal};
use super::view::{Failure, Nav, Notice, PageResult, render, segment};

pub struct PoolLine {
    pub app: String,
    pub tier: String,
    pub seats: u64,
    pub cost: String,
    pub currency: String,
    pub period: &'static str,
    pub renews: String,
    pub owner: String,
    pub unused_days: u16,
    pub freed_to: &'static str,
    pub edit_href: String,
}

/// The pool form, as shown (a pool's terms) or as typed (after a refusal).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PoolForm {
    #[serde(default)]
    pub app: String,
    #[serde(default)]
    pub tier: String,
    #[serde(default)]
    pub seats: String,
    #[serde(default)]
    pub cost_per_seat: String,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub period: String,
    #[serde(default)]
    pub renews: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub unused_days: String,
    #[serde(default)]
    pub freed_to: String,
}

#[derive(Template)]
#[template(path = "console/license_pools.html")]
struct PoolsPage {
    nav: Nav,
    notice: Option<Notice>,
    pools: Vec<PoolLine>,
    can_change: bool,
    apps: Vec<String>,
    form: PoolForm,
    error: Refusal,
    unused_choices: [&'static str; 3],
    freed_choices: [(&'static str, &'static str); 3],
}

impl PoolsPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.error.on(field)
    }
}

const FIELDS: &[&str] =
    &["app", "tier", "seats", "cost_per_seat", "currency", "period", "renews", "owner", "unused_days", "freed_to"];

fn form_of(p: &LicensePool) -> PoolForm {
    PoolForm {
        app: p.app.clone(),
        tier: p.tier.clone().unwrap_or_default(),
        seats: p.seats.to_string(),
        cost_per_seat: p.cost_per_seat.to_string(),
        currency: p.currency.to_string(),
        period: p.period.as_str().to_owned(),
        renews: p.renews.map(|d| d.to_string()).unwrap_or_default(),
        owner: p.owner.clone().unwrap_or_default(),
        unused_days: p.unused_days.to_string(),
        freed_to: p.freed_to.as_str().to_owned(),
    }
}

async fn pools_page(signed: &Signed, notice: Option<Notice>, form: Option<PoolForm>, error: Refusal) -> PageResult {
    let admin = signed.admin();
    let pools = admin.licenses().await?;
    let lines = pools
        .iter()
        .map(|p| PoolLine {
            edit_href: format!(
                "/licenses/pools?app={}&tier={}",
                segment(&p.app),
                segment(p.tier.as_deref().unwrap_or_default())
            ),
            app: p.app.clone(),
            tier: p.tier.clone().unwrap_or_default(),
            seats: p.seats,
            cost: p.cost_per_seat.to_string(),
            currency: p.currency.to_string(),
            period: p.period.as_str(),
            renews: p.renews.map(|d| d.to_string()).unwrap_or_default(),
            owner: p.owner.clone().unwrap_or_default(),
            unused_days: p.unused_days,
            freed_to: p.freed_to.as_str(),
        })
        .collect();
    let can_change = signed.actor.allows(Need::Licenses);
    let apps = if can_change { admin.apps().await?.into_iter().map(|a| a.name).collect() } else { Vec::new() };
    let notice = notice.or_else(|| error.general(FIELDS).and_then(|m| Notice::error(m.to_owned())));
    Ok(render(&PoolsPage {
        nav: signed.nav("licenses"),
        notice,
        pools: lines,
        can_change,
        apps,
        form: form.unwrap_or_else(|| PoolForm {
            period: "month".into(),
            unused_days: "90".into(),
            freed_to: "line".into(),
            ..Default::default()
        }),
        error,
        unused_choices: ["30", "60", "90"],
        freed_choices: [
            ("line", "the first in line"),
            ("department", "the leaver's department, else the first in line"),
            ("team", "the leaver's team (org unit), else the first in line"),
        ],
    }))
}

#[derive(Debug, Default, Deserialize)]
pub struct EditQuery {
    #[serde(default)]
    app: Option<String>,
    #[serde(default)]
    tier: Option<String>,
}

/// The pools, with the form prefilled with the pool named by `app` and `tier`, if any.
pub async fn page(signed: Signed, Query(q): Query<EditQuery>) -> PageResult {
    let form = match q.app.as_deref() {
        Some(app) => {
            let tier = q.tier.as_deref().map(str::trim).filter(|t| !t.is_empty());
            signed.admin().licenses().await?.iter().find(|p| p.app == app && p.tier.as_deref() == tier).map(form_of)
        }
        None => None,
    };
    pools_page(&signed, None, form, Refusal::default()).await
}

fn spec(form: &PoolForm) -> Result<LicenseSpec, Refusal> {
    let bad = |field: &str, message: String| Refusal { field: field.into(), message };
    let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let seats = form
        .seats
        .trim()
        .parse::<u64>()
        .map_err(|_| bad("seats", format!("{:?} is not a number of seats", form.seats.trim())))?;
    let cost_per_seat = form
        .cost_per_seat
        .trim()
        .parse::<tenure_core::money::Money>()
        .map_err(|e: tenure_core::money::BadAmount| bad("cost_per_seat", e.to_string()))?;
    let unused_days = match text(&form.unused_days) {
        Some(d) => Some(d.parse::<u16>().map_err(|_| bad("unused_days", format!("{d:?}: 30, 60 or 90")))?),
        None => None,
    };
    Ok(LicenseSpec {
        tier: text(&form.tier),
        seats,
        cost_per_seat,
        currency: text(&form.currency),
        period: text(&form.period),
        renews: text(&form.renews),
        owner: text(&form.owner),
        unused_days,
        // The form always shows the choice: what it posts is the pool's (absent: a form that
        // predates it, and the pool keeps its own).
        freed_to: text(&form.freed_to),
    })
}

/// Sets (adds or replaces) the pool of the form's app and tier.
pub async fn set(signed: Signed, Form(form): Form<PoolForm>) -> PageResult {
    let outcome = match spec(&form) {
        Ok(spec) => signed.admin().set_license(form.app.trim(), spec).await.map_err(refusal),
        Err(r) => {
            signed.actor.require(Need::Licenses).map_err(Failure::from)?;
            Err(Ok(r))
        }
    };
    match outcome {
        Ok(pool) => {
            let name = match &pool.tier {
                Some(t) => format!("{} {t}", pool.app),
                None => pool.app.clone(),
            };
            let notice = format!(
                "Pool {name} set: {} seat(s) at {} {} a {}.",
                pool.seats,
                pool.cost_per_seat,
                pool.currency,
                pool.period.as_str()
            );
            pools_page(&signed, Notice::ok(notice), None, Refusal::default()).await
        }
        Err(r) => {
            let mut r = r?;
            // An unknown app is the app field's problem.
            if r.field.is_empty() && r.message.starts_with("app ") && r.message.ends_with(" not found") {
                r.field = "app".into();
            }
            pools_page(&signed, None, Some(form), r).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct RemoveForm {
    app: String,
    #[serde(default)]
    tier: String,
}

/// Removes a pool: its seats are no longer counted or priced.
pub async fn remove(signed: Signed, Form(form): Form<RemoveForm>) -> PageResult {
    let tier = Some(form.tier.trim()).filter(|t| !t.is_empty());
    let notice = match signed.admin().remove_license(form.app.trim(), tier).await {
        Ok(()) => Notice::ok(format!(
            "Pool {}{} removed.",
            form.app.trim(),
            tier.map(|t| format!(" {t}")).unwrap_or_default()
        )),
        Err(e) => Notice::error(refusal(e)?.message),
    };
    pools_page(&signed, notice, None, Refusal::default()).await
}
