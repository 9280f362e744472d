//! Holds and waiting: what keeps work from happening, and why. People on legal hold (placed
//! and lifted by org admins), the lines of people waiting for a license seat, each app's
//! budgets over long windows (requests counted, and until when a spent one makes operations
//! wait) and its quarantine (why, the next attempt, and the fix: new credentials), and the
//! tenant's deprovisioning guard with the plans it holds. Each part is read with the admin's
//! own rights: a part their role may not read is left out, not refused.

use askama::Template;
use axum::Form;
use axum::extract::Path;
use serde::Deserialize;
use tenure_engine::EngineError;
use tenure_engine::admin::{LegalHoldSpec, Need};

use super::auth::Signed;
use super::forms::{Refusal, refusal};
use super::view::{Failure, Nav, Notice, PageResult, render, segment, when};

pub struct LegalHoldLine {
    pub person: String,
    pub person_href: String,
    pub reason: String,
    pub actor: String,
    pub since: String,
    pub lift_href: String,
}

pub struct WaitingLine {
    pub pool: String,
    pub place: usize,
    pub person: String,
    pub since: String,
}

pub struct BudgetLine {
    /// `hour`, `day`, or `N s`.
    pub window: String,
    pub used: u64,
    pub limit: u32,
    /// While spent: when it lets the next request go.
    pub spent_until: String,
}

pub struct AppLine {
    pub name: String,
    pub href: String,
    pub quarantined: bool,
    pub next_attempt: String,
    pub failures: i64,
    pub last_error: String,
    pub budgets: Vec<BudgetLine>,
    /// The admin may give the app new credentials (which lift a quarantine).
    pub can_write: bool,
}

pub struct GuardLine {
    pub max_percent: u8,
    pub max_count: usize,
    pub window_s: u64,
}

pub struct HeldLine {
    pub app: String,
    pub status: String,
    pub losses: usize,
    pub since: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "console/holds.html")]
struct HoldsPage {
    nav: Nav,
    notice: Option<Notice>,
    /// `None`: the role may not read legal holds.
    legal_holds: Option<Vec<LegalHoldLine>>,
    waiting: Option<Vec<WaitingLine>>,
    apps: Vec<AppLine>,
    guard: Option<GuardLine>,
    held: Vec<HeldLine>,
    /// The place-a-hold form as typed after a refusal (a reason is no secret).
    hold_email: String,
    hold_reason: String,
    hold_error: Refusal,
}

/// A part of the page the role may not read is left out; any other failure fails the page.
fn readable<T>(outcome: Result<T, EngineError>) -> Result<Option<T>, Failure> {
    match outcome {
        Ok(value) => Ok(Some(value)),
        Err(EngineError::Forbidden(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn window_name(seconds: u64) -> String {
    match seconds {
        tenure_core::RequestWindow::HOUR => "an hour".into(),
        tenure_core::RequestWindow::DAY => "a day".into(),
        s => format!("{s} s"),
    }
}

#[derive(Default)]
struct Shown {
    notice: Option<Notice>,
    hold_email: String,
    hold_reason: String,
    hold_error: Refusal,
}

async fn holds_page(signed: &Signed, shown: Shown) -> PageResult {
    let admin = signed.admin();
    let legal_holds = readable(admin.legal_holds().await)?.map(|holds| {
        holds
            .into_iter()
            .map(|h| LegalHoldLine {
                person_href: format!("/people/{}", segment(&h.person)),
                lift_href: format!("/holds/legal/{}/lift", segment(&h.person)),
                person: h.person,
                reason: h.reason,
                actor: h.actor,
                since: h.since,
            })
            .collect()
    });
    let waiting = readable(admin.license_waiting(None).await)?.map(|lines| {
        lines
            .into_iter()
            .map(|w| WaitingLine { pool: w.pool, place: w.place, person: w.person, since: when(Some(w.since_ms)) })
            .collect()
    });
    let apps = admin
        .apps()
        .await?
        .into_iter()
        .map(|a| AppLine {
            href: format!("/apps/{}", segment(&a.name)),
            can_write: signed.actor.allows(Need::AppWrite(a.id)),
            quarantined: a.paused_until_ms.is_some(),
            next_attempt: when(a.paused_until_ms),
            failures: a.failures,
            last_error: a.last_error.unwrap_or_default(),
            budgets: a
                .request_windows
                .iter()
                .map(|w| BudgetLine {
                    window: window_name(w.window.seconds),
                    used: w.used,
                    limit: w.window.requests,
                    spent_until: w.spent_until_ms.map(|ms| when(Some(ms))).unwrap_or_default(),
                })
                .collect(),
            name: a.name,
        })
        .collect();
    let (guard, held) = match readable(admin.guard().await)? {
        Some(g) => (
            Some(GuardLine {
                max_percent: g.global.max_percent,
                max_count: g.global.max_count,
                window_s: g.global.window_s,
            }),
            g.holds
                .into_iter()
                .map(|h| HeldLine {
                    app: h.app.unwrap_or_else(|| "every app (tenant guard)".into()),
                    status: h.status,
                    losses: h.losses,
                    since: when(Some(h.since_ms)),
                    reason: h.reason,
                })
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    Ok(render(&HoldsPage {
        nav: signed.nav("holds"),
        notice: shown.notice,
        legal_holds,
        waiting,
        apps,
        guard,
        held,
        hold_email: shown.hold_email,
        hold_reason: shown.hold_reason,
        hold_error: shown.hold_error,
    }))
}

pub async fn page(signed: Signed) -> PageResult {
    holds_page(&signed, Shown::default()).await
}

#[derive(Debug, Deserialize)]
pub struct PlaceForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    reason: String,
}

/// Places a person on legal hold (org admins): nothing takes their access away while it stands.
pub async fn place(signed: Signed, Form(form): Form<PlaceForm>) -> PageResult {
    let spec = LegalHoldSpec { reason: form.reason.clone() };
    let mut shown = Shown::default();
    match signed.admin().place_legal_hold(&form.email, spec).await {
        Ok(h) => {
            shown.notice = Notice::ok(format!(
                "{} is on legal hold: nothing takes their access away until it is lifted ({} queued loss(es) dismissed).",
                h.person, h.dismissed
            ))
        }
        Err(e) => {
            let mut r = refusal(e)?;
            // The engine names an unknown person, not a field: it is the email typed.
            if r.field.is_empty() && r.message.starts_with("person ") && r.message.ends_with(" not found") {
                r.field = "email".into();
            }
            if r.general(&["email", "reason"]).is_some() {
                shown.notice = Notice::error(r.message.clone());
            }
            shown.hold_email = form.email;
            shown.hold_reason = form.reason;
            shown.hold_error = r;
        }
    }
    holds_page(&signed, shown).await
}

/// Lifts a person's legal hold (org admins): they are planned again at once.
pub async fn lift(signed: Signed, Path(email): Path<String>) -> PageResult {
    let notice = match signed.admin().lift_legal_hold(&email).await {
        Ok(h) => Notice::ok(format!("{}'s legal hold is lifted; they are planned again now.", h.person)),
        Err(e) => Notice::error(refusal(e)?.message),
    };
    holds_page(&signed, Shown { notice, ..Default::default() }).await
}
