//! Manual apps' tasks: what each app's owner still has to do by hand (per app: open, awaiting a
//! read, overdue, closed), each task closed by whoever may change its app, and the next read of
//! an app whose tasks are verified by one (its users' CSV export uploaded, as `tenure task
//! verify`): a task the read shows done is confirmed, one it does not is reopened with why.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use serde::Deserialize;
use tenure_engine::admin::{Need, TaskView};

use super::auth::Signed;
use super::forms::{Refusal, refusal};
use super::multipart;
use super::view::{Nav, Notice, PageResult, render, segment, when};

/// The statuses the list can be narrowed to; `""` is every task not closed.
pub const STATUSES: [&str; 6] = ["", "open", "verifying", "overdue", "closed", "all"];

pub struct TaskLine {
    pub short: String,
    pub app: String,
    pub app_href: String,
    pub person: String,
    pub assignee: String,
    pub text: String,
    pub status: String,
    pub overdue: bool,
    pub due: String,
    pub created: String,
    pub closed: String,
    pub note: String,
    /// Open, and the admin may change its app.
    pub closable: bool,
    pub close_href: String,
}

pub struct AppCount {
    pub app: String,
    /// Its tasks, every status.
    pub href: String,
    pub open: usize,
    pub verifying: usize,
    pub overdue: usize,
    pub closed: usize,
}

#[derive(Template)]
#[template(path = "console/tasks.html")]
struct TasksPage {
    nav: Nav,
    notice: Option<Notice>,
    status: String,
    app: String,
    statuses: &'static [&'static str],
    counts: Vec<AppCount>,
    tasks: Vec<TaskLine>,
    /// Manual apps read back whose tasks the admin may verify.
    verifiable: Vec<String>,
    verify_app: String,
    verify_error: Refusal,
    /// Tasks a read just reopened, with why.
    reopened: Vec<TaskLine>,
}

#[derive(Debug, Default, Deserialize)]
pub struct TaskQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    app: String,
}

#[derive(Default)]
struct Shown {
    notice: Option<Notice>,
    verify_app: String,
    verify_error: Refusal,
    reopened: Vec<TaskView>,
}

/// A task as a row; its close button only where the admin may change its app.
fn line(t: TaskView, writable: &[String]) -> TaskLine {
    TaskLine {
        short: t.id.chars().take(8).collect(),
        close_href: format!("/tasks/{}/close", segment(&t.id)),
        app_href: format!("/apps/{}", segment(&t.app)),
        closable: t.status == "open" && writable.contains(&t.app),
        due: when(Some(t.due_ms)),
        created: when(Some(t.created_ms)),
        closed: t
            .closed_ms
            .map(|ms| format!("{} by {}", when(Some(ms)), t.closed_by.as_deref().unwrap_or("?")))
            .unwrap_or_default(),
        note: t.note.unwrap_or_default(),
        app: t.app,
        person: t.person,
        assignee: t.assignee,
        text: t.text,
        status: t.status,
        overdue: t.overdue,
    }
}

fn wanted(t: &TaskView, status: &str) -> bool {
    match status {
        "" => t.status != "closed",
        "all" => true,
        "overdue" => t.overdue,
        s => t.status == s,
    }
}

async fn tasks_page(signed: &Signed, q: &TaskQuery, shown: Shown) -> PageResult {
    let admin = signed.admin();
    let apps = admin.apps().await?;
    let writable: Vec<String> =
        apps.iter().filter(|a| signed.actor.allows(Need::AppWrite(a.id))).map(|a| a.name.clone()).collect();
    let verifiable = apps
        .iter()
        .filter(|a| signed.actor.allows(Need::AppWrite(a.id)))
        .filter(|a| a.settings.manual.as_ref().is_some_and(|m| m.verify_by_read))
        .map(|a| a.name.clone())
        .collect();
    let all = admin.tasks(false).await?;
    let mut counts: Vec<AppCount> = apps
        .iter()
        .filter(|a| a.settings.manual())
        .map(|a| AppCount {
            app: a.name.clone(),
            href: format!("/tasks?status=all&app={}", segment(&a.name)),
            open: 0,
            verifying: 0,
            overdue: 0,
            closed: 0,
        })
        .collect();
    for t in &all {
        let Some(c) = counts.iter_mut().find(|c| c.app == t.app) else { continue };
        match t.status.as_str() {
            "open" => c.open += 1,
            "verifying" => c.verifying += 1,
            _ => c.closed += 1,
        }
        c.overdue += usize::from(t.overdue);
    }
    let status = if STATUSES.contains(&q.status.as_str()) { q.status.clone() } else { String::new() };
    let tasks = all
        .into_iter()
        .filter(|t| wanted(t, &status) && (q.app.is_empty() || t.app == q.app))
        .map(|t| line(t, &writable))
        .collect();
    let reopened = shown.reopened.into_iter().map(|t| line(t, &writable)).collect();
    Ok(render(&TasksPage {
        nav: signed.nav("tasks"),
        notice: shown.notice,
        status,
        app: q.app.clone(),
        statuses: &STATUSES,
        counts,
        tasks,
        verifiable,
        verify_app: shown.verify_app,
        verify_error: shown.verify_error,
        reopened,
    }))
}

pub async fn page(signed: Signed, Query(q): Query<TaskQuery>) -> PageResult {
    tasks_page(&signed, &q, Shown::default()).await
}

#[derive(Debug, Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    note: String,
}

/// Closes a task (whoever may change its app): done by hand; in an app read back it awaits the
/// next read instead.
pub async fn close(signed: Signed, Path(id): Path<String>, Form(form): Form<CloseForm>) -> PageResult {
    let note = Some(form.note.trim()).filter(|n| !n.is_empty());
    let notice = match signed.admin().close_task(&id, note).await {
        Ok(t) if t.status == "verifying" => Notice::ok(format!(
            "Closed: “{}” now awaits the next read of {} (upload its users' export below) to be confirmed.",
            t.text, t.app
        )),
        Ok(t) => Notice::ok(format!("Closed: “{}”.", t.text)),
        Err(e) => Notice::error(refusal(e)?.message),
    };
    tasks_page(&signed, &TaskQuery::default(), Shown { notice, ..Default::default() }).await
}

/// The next read of a manual app: its users' export, uploaded.
pub async fn verify(signed: Signed, headers: HeaderMap, body: axum::body::Bytes) -> PageResult {
    let parts = multipart::form(&headers, &body)?;
    let app = multipart::text(&parts, "app").trim().to_owned();
    let csv = parts.iter().find(|p| p.name == "csv" && !p.data.is_empty());
    let mut shown = Shown { verify_app: app.clone(), ..Default::default() };
    let outcome = match (app.is_empty(), csv) {
        (true, _) => Err(Refusal { field: "app".into(), message: "choose the app the export is of".into() }),
        (false, None) => Err(Refusal { field: "csv".into(), message: "choose the app's users export (CSV)".into() }),
        (false, Some(file)) => match signed.admin().verify_tasks(&app, &file.data).await {
            Ok(read) => Ok(read),
            Err(e) => {
                let mut r = refusal(e)?;
                if r.field.is_empty() {
                    r.field = "app".into();
                }
                Err(r)
            }
        },
    };
    match outcome {
        Ok(read) => {
            shown.notice = Notice::ok(format!(
                "Read {} user(s) of {}: {} task(s) confirmed done, {} reopened.",
                read.users_read,
                read.app,
                read.confirmed.len(),
                read.reopened.len()
            ));
            shown.reopened = read.reopened;
        }
        Err(r) => {
            shown.notice = Notice::error("Nothing was read: see the reason under the form.");
            shown.verify_error = r;
        }
    }
    tasks_page(&signed, &TaskQuery::default(), shown).await
}
