//! People: the directory searched by name or email, and a person's page with their attributes,
//! groups, org unit, dates, and every app with their account and why (the planner's own
//! explanation, the same text as `tenure explain`); for org admins, offboarding the person
//! (a preview of what each app loses, then the offboard command, confirmed).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde::Deserialize;
use tenure_engine::admin::{Need, OffboardSpec};

use super::auth::Signed;
use super::view::{Failure, Nav, Notice, PageResult, render, segment, when, word};

const SHOWN: usize = 200;

pub struct PersonLine {
    pub name: String,
    pub email: String,
    pub href: String,
    pub department: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "console/people.html")]
struct PeoplePage {
    nav: Nav,
    notice: Option<Notice>,
    q: String,
    matching: usize,
    people: Vec<PersonLine>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Search {
    #[serde(default)]
    q: Option<String>,
}

pub async fn list(signed: Signed, Query(search): Query<Search>) -> PageResult {
    let q = search.q.unwrap_or_default().trim().to_lowercase();
    let people = signed.admin().people().await?;
    let matching: Vec<_> = people
        .iter()
        .filter(|p| q.is_empty() || p.email.to_lowercase().contains(&q) || p.display().to_lowercase().contains(&q))
        .collect();
    let lines = matching
        .iter()
        .take(SHOWN)
        .map(|p| PersonLine {
            name: p.display(),
            email: p.email.clone(),
            href: format!("/people/{}", segment(&p.email)),
            department: p.department.clone().unwrap_or_default(),
            status: word(&p.status),
        })
        .collect();
    Ok(render(&PeoplePage { nav: signed.nav("people"), notice: None, q, matching: matching.len(), people: lines }))
}

pub struct AppStanding {
    pub app: String,
    pub href: String,
    pub explanation: String,
}

#[derive(Template)]
#[template(path = "console/person.html")]
struct PersonPage {
    nav: Nav,
    notice: Option<Notice>,
    name: String,
    attributes: Vec<(String, String)>,
    groups: Vec<String>,
    apps: Vec<AppStanding>,
    email: String,
    offboard_href: String,
    /// An offboarding previewed or carried out.
    offboarding: Option<OffboardLines>,
    /// Tenure's offboarding of the person, when they are offboarded: what an undo would end.
    offboarded: Option<OffboardedLine>,
}

pub struct OffboardedLine {
    pub effective: String,
    pub by: String,
    pub since: String,
}

/// What an offboarding does (or did) in each app.
pub struct OffboardLines {
    pub status: String,
    pub effective: String,
    pub preview: bool,
    /// The date asked for, kept for the confirmation.
    pub at: String,
    /// The successor named, kept for the confirmation.
    pub successor: String,
    pub steps: Vec<OffboardStepLine>,
    pub notified: Vec<String>,
}

pub struct OffboardStepLine {
    pub app: String,
    pub action: String,
    pub account: String,
    pub reason: String,
    pub outcome: String,
}

pub async fn person(signed: Signed, Path(email): Path<String>) -> PageResult {
    person_page(&signed, &email, None, None).await
}

async fn person_page(
    signed: &Signed,
    email: &str,
    notice: Option<Notice>,
    offboarding: Option<OffboardLines>,
) -> PageResult {
    let admin = signed.admin();
    let people = admin.people().await?;
    let person = people
        .iter()
        .find(|p| p.email.eq_ignore_ascii_case(email.trim()))
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, format!("person {email} not found")))?;
    let offboarded = admin.offboarding_of(&person.email).await?.map(|o| OffboardedLine {
        effective: o.effective,
        by: o.by,
        since: when(Some(o.since_ms)),
    });
    let groups = admin.groups().await?.into_iter().filter(|g| g.members.contains(&person.id)).map(|g| g.name).collect();
    let date = |d: Option<time::Date>| d.map(|d| d.to_string()).unwrap_or_default();
    let mut attributes = vec![
        ("Email".to_owned(), person.email.clone()),
        ("userName".to_owned(), person.user_name.clone()),
        ("Status".to_owned(), word(&person.status)),
        ("Department".to_owned(), person.department.clone().unwrap_or_default()),
        ("Title".to_owned(), person.title.clone().unwrap_or_default()),
        ("Employee id".to_owned(), person.employee_id.clone().unwrap_or_default()),
        ("Org unit".to_owned(), person.org_unit.as_ref().map(|o| o.to_string()).unwrap_or_default()),
        ("Start date".to_owned(), date(person.start_date)),
        ("Leave date".to_owned(), date(person.leave_date)),
        ("Manager (source key)".to_owned(), person.manager_key.clone().unwrap_or_default()),
    ];
    attributes.extend(person.custom.iter().map(|(k, v)| (k.clone(), v.clone())));
    attributes.retain(|(_, v)| !v.is_empty());
    let mut apps = Vec::new();
    for app in admin.apps().await? {
        if !signed.actor.allows(Need::AppPlans(app.id)) {
            continue;
        }
        let explanation = match admin.explain(&person.email, &app.name).await {
            Ok(e) => e.to_string(),
            Err(e) => format!("cannot explain: {e}"),
        };
        apps.push(AppStanding { href: format!("/apps/{}", segment(&app.name)), app: app.name, explanation });
    }
    Ok(render(&PersonPage {
        nav: signed.nav("people"),
        notice,
        name: person.display(),
        offboard_href: format!("/people/{}/offboard", segment(&person.email)),
        email: person.email.clone(),
        attributes,
        groups,
        apps,
        offboarding,
        offboarded,
    }))
}

#[derive(Debug, Deserialize)]
pub struct OffboardForm {
    /// `preview` or `confirm`.
    action: String,
    /// Empty for now, or `YYYY-MM-DD`.
    #[serde(default)]
    at: String,
    /// Empty for none, or the email of who gets the person's seats.
    #[serde(default)]
    successor: String,
}

/// Offboards a person through the offboard command: first a preview of what each app loses,
/// then, confirmed, the offboarding itself with each app's outcome.
pub async fn offboard(signed: Signed, Path(email): Path<String>, Form(form): Form<OffboardForm>) -> PageResult {
    let (preview, undo) = match form.action.as_str() {
        "preview" => (true, false),
        "confirm" => (false, false),
        "undo" => (false, true),
        other => return Err(Failure::new(StatusCode::BAD_REQUEST, format!("{other:?}: preview, confirm or undo"))),
    };
    let at = Some(form.at.trim().to_owned()).filter(|a| !a.is_empty() && !undo);
    let spec = OffboardSpec { at: at.clone(), preview, undo };
    let successor = Some(form.successor.trim().to_owned()).filter(|s| !s.is_empty() && !undo);
    match signed.admin().offboard_to(&email, spec, successor.as_deref()).await {
        Ok(view) => {
            let notice = if preview {
                Notice::ok("Preview: nothing has changed yet. Confirm below to offboard.")
            } else if undo {
                Notice::ok(format!(
                    "{}'s offboarding is undone: what their assignments grant is given back (accounts re-activated, not duplicated).",
                    view.person
                ))
            } else {
                Notice::ok(format!("{} offboarding: {}.", view.person, view.status))
            };
            let lines = OffboardLines {
                status: view.status,
                effective: view.effective,
                preview,
                at: at.unwrap_or_default(),
                successor: successor.unwrap_or_default(),
                steps: view
                    .apps
                    .into_iter()
                    .map(|s| OffboardStepLine {
                        app: s.app,
                        action: s.action,
                        account: s.user_name.or(s.account).unwrap_or_default(),
                        reason: s.reason,
                        outcome: match (s.outcome, s.error) {
                            (Some(o), Some(e)) => format!("{o}: {e}"),
                            (Some(o), None) => o,
                            (None, Some(e)) => e,
                            (None, None) => String::new(),
                        },
                    })
                    .collect(),
                notified: view.notified,
            };
            person_page(&signed, &email, notice, Some(lines)).await
        }
        Err(e @ tenure_engine::EngineError::Forbidden(_)) => Err(e.into()),
        Err(e @ tenure_engine::EngineError::NotFound(_)) => Err(e.into()),
        Err(e) => person_page(&signed, &email, Notice::error(e.to_string()), None).await,
    }
}
