//! License reclaims: every "still needed?" question asked of a holder of a seat unused for their
//! pool's days, with its state, deadline and answer; a reclaim of an app (or one tier's pool)
//! started after a preview of who would be asked and who is skipped and why (as `tenure license
//! reclaim APP --preview`); and the last activity of an app's accounts uploaded (a CSV of
//! `user,last_active`, as `tenure license activity`) where the app does not tell it. Reading
//! takes the reports' role; starting and uploading the license admin's (or an org admin's).

use askama::Template;
use axum::Form;
use axum::http::HeaderMap;
use serde::Deserialize;
use tenure_engine::EngineError;
use tenure_engine::admin::{ActivityUpload, Need, ReclaimSpec};
use tenure_engine::license_reclaim::ReclaimRun;

use super::auth::Signed;
use super::forms::{Refusal, field_root, refusal};
use super::multipart;
use super::view::{Nav, Notice, PageResult, render, when};

pub struct ReclaimLine {
    pub app: String,
    pub pool: String,
    pub user_name: String,
    pub person: String,
    pub last_active: String,
    pub unused_days: i64,
    pub state: String,
    pub deadline: String,
    pub answered_by: String,
}

/// The start form as typed.
#[derive(Debug, Clone, Default)]
pub struct StartShown {
    pub app: String,
    pub tier: String,
    pub deadline_days: String,
}

#[derive(Template)]
#[template(path = "console/reclaims.html")]
struct ReclaimsPage {
    nav: Nav,
    notice: Option<Notice>,
    reclaims: Vec<ReclaimLine>,
    /// Apps with a pool, which the start form offers; every app, which the upload form offers.
    pooled: Vec<String>,
    apps: Vec<String>,
    /// The admin may start reclaims and upload activity.
    can_reclaim: bool,
    start: StartShown,
    start_error: Refusal,
    /// What a preview (or the run just started) asks and skips.
    run: Option<RunShown>,
    activity_app: String,
    activity_error: Refusal,
}

pub struct RunShown {
    pub preview: bool,
    pub asked: Vec<ReclaimLine>,
    pub skipped: Vec<(String, String, String)>,
    pub activity_unknown: usize,
    pub audience: Vec<String>,
}

#[derive(Default)]
struct Shown {
    notice: Option<Notice>,
    start: StartShown,
    start_error: Refusal,
    run: Option<RunShown>,
    activity_app: String,
    activity_error: Refusal,
}

fn line(r: tenure_engine::license_reclaim::ReclaimView) -> ReclaimLine {
    ReclaimLine {
        deadline: when(Some(r.deadline_ms)),
        app: r.app,
        pool: r.pool,
        user_name: r.user_name,
        person: r.person,
        last_active: r.last_active,
        unused_days: r.unused_days,
        state: r.state,
        answered_by: r.answered_by,
    }
}

fn run_shown(run: ReclaimRun) -> RunShown {
    RunShown {
        preview: run.preview,
        asked: run.asked.into_iter().map(line).collect(),
        skipped: run.skipped.into_iter().map(|s| (s.user_name, s.person, s.why)).collect(),
        activity_unknown: run.activity_unknown,
        audience: run.audience,
    }
}

async fn reclaims_page(signed: &Signed, shown: Shown) -> PageResult {
    signed.actor.require(Need::Reports)?;
    let admin = signed.admin();
    let reclaims = admin.license_reclaims(None).await?.into_iter().map(line).collect();
    let apps = admin.apps().await?.into_iter().map(|a| a.name).collect();
    let mut pooled: Vec<String> = admin.licenses().await?.into_iter().map(|p| p.app).collect();
    pooled.dedup();
    let mut start = shown.start;
    if start.deadline_days.is_empty() {
        start.deadline_days = tenure_engine::license_reclaim::DEFAULT_DEADLINE_DAYS.to_string();
    }
    Ok(render(&ReclaimsPage {
        nav: signed.nav("licenses"),
        notice: shown.notice,
        reclaims,
        pooled,
        apps,
        can_reclaim: signed.actor.allows(Need::Licenses),
        start,
        start_error: shown.start_error,
        run: shown.run,
        activity_app: shown.activity_app,
        activity_error: shown.activity_error,
    }))
}

pub async fn page(signed: Signed) -> PageResult {
    reclaims_page(&signed, Shown::default()).await
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    app: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    deadline_days: String,
    /// `preview` or `start`.
    #[serde(default)]
    action: String,
}

/// Previews a reclaim of an app's pools (or one tier's) or, confirmed, starts it: the
/// questions go out by the notification channels.
pub async fn start(signed: Signed, Form(form): Form<StartForm>) -> PageResult {
    let preview = form.action != "start";
    let mut shown = Shown {
        start: StartShown { app: form.app.clone(), tier: form.tier.clone(), deadline_days: form.deadline_days.clone() },
        ..Default::default()
    };
    let days = form.deadline_days.trim();
    let refused = if days.is_empty() || days.parse::<u32>().is_ok() {
        let tier = Some(form.tier.trim().to_owned()).filter(|t| !t.is_empty());
        let spec = ReclaimSpec { tier, preview, deadline_days: days.parse().ok() };
        match signed.admin().license_reclaim(form.app.trim(), spec).await {
            Ok(run) => {
                shown.notice = Notice::ok(if preview {
                    format!(
                        "Preview: {} account(s) of {} would be asked; nothing is sent until you start it.",
                        run.asked.len(),
                        run.app
                    )
                } else {
                    format!("Reclaim of {} started: {} account(s) asked.", run.app, run.asked.len())
                });
                shown.run = Some(run_shown(run));
                None
            }
            Err(e) => Some(refusal(e)?),
        }
    } else {
        Some(Refusal { field: "deadline_days".into(), message: format!("{days:?} is not a number of days") })
    };
    if let Some(mut r) = refused {
        // The engine names an unknown app without a field: it is the app chosen.
        if r.field.is_empty() && r.message.starts_with("app ") {
            r.field = "app".into();
        }
        r.field = match field_root(&r.field) {
            "deadline" => "deadline_days".to_owned(),
            other => other.to_owned(),
        };
        shown.notice = Notice::error(
            r.general(&["app", "tier", "deadline_days"])
                .map_or("Nothing was started: see the reason under the field.".to_owned(), str::to_owned),
        );
        shown.start_error = r;
    }
    reclaims_page(&signed, shown).await
}

/// Replaces the last activity known of an app's accounts with an uploaded CSV.
pub async fn activity(signed: Signed, headers: HeaderMap, body: axum::body::Bytes) -> PageResult {
    let parts = multipart::form(&headers, &body)?;
    let app = multipart::text(&parts, "app").trim().to_owned();
    let mut shown = Shown { activity_app: app.clone(), ..Default::default() };
    let file = parts.iter().find(|p| p.name == "csv" && !p.data.is_empty());
    let outcome = match file {
        None => Err(EngineError::BadField {
            field: "csv".into(),
            message: "choose the CSV of last activity (user,last_active)".into(),
        }),
        Some(file) => match ActivityUpload::from_csv(&file.data) {
            Ok(upload) => signed.admin().set_license_activity(&app, upload).await,
            Err(e) => Err(e),
        },
    };
    match outcome {
        Ok(n) => shown.notice = Notice::ok(format!("Last activity of {n} account(s) of {app} stored.")),
        Err(e) => {
            let mut r = refusal(e)?;
            r.field = match field_root(&r.field) {
                "" if r.message.starts_with("app ") => "app".into(),
                "entries" | "csv" | "" => "csv".into(),
                other => other.to_owned(),
            };
            shown.notice = Notice::error("Nothing was stored: see the reason under the form.");
            shown.activity_error = r;
        }
    }
    reclaims_page(&signed, shown).await
}
