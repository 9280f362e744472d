//! The console's lifecycle and license screens over HTTP, on both store backends: manual apps'
//! tasks listed per app, closed, and verified by an uploaded read of the app's users (also over
//! the API, `POST /api/v1/apps/{app}/tasks/verify`); a manual app's task settings from its
//! settings form (an absent checkbox changes nothing); notification channels added (a refused
//! form never shows a typed secret again; a generated signing key is shown once), tested
//! through a real SMTP server (aiosmtpd) and removed; license reclaims previewed and started
//! by a license admin after last activity is uploaded. An auditor sees no button and a forged
//! POST from their session is 403; a POST without the session's token is 403. A real server on
//! port 0, a fresh database per test, a sandbox SCIM app.

mod common;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::json;
use tenure_core::{Role, Secret};
use tenure_engine::Actor;
use tenure_engine::admin::{AssignmentSpec, NewAdmin, NewApp, NewAppKind, SettingsSpec};
use tenure_testkit::TestBackend;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() -> anyhow::Result<()> { super::$name(super::TestBackend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() -> anyhow::Result<()> { super::$name(super::TestBackend::Postgres).await })*
        }
    };
}

on_both_backends!(
    manual_tasks_are_listed_closed_and_verified_by_a_read,
    channels_are_added_tested_and_removed_without_showing_a_secret,
    a_license_admin_previews_and_starts_a_reclaim_after_uploading_activity,
);

const PASSWORD: &str = "correct horse battery staple";

struct World {
    server: common::Server,
    http: reqwest::Client,
    tenant: tenure_core::TenantId,
    _slack: tenure_sandbox::SandboxApp,
    _files: tempfile::TempDir,
}

impl World {
    fn engine(&self) -> tenure_engine::Engine {
        self.server.contexts.engine(self.tenant)
    }
}

/// Ada and Bob from an HR export; `slack` (a sandbox) and `payroll` (manual, owned by pay@)
/// granted to everyone and applied; an org admin, an auditor and a license admin.
async fn world(backend: TestBackend) -> anyhow::Result<World> {
    let files = tempfile::tempdir()?;
    let server = common::Server::start_with(backend, Some(files.path().join("files"))).await?;
    let tenant = server.store.ensure_tenant("acme").await?;
    let slack = common::sandbox(tenure_sandbox::Profile::Slack).await?;
    let cli = Actor::cli();
    let engine = server.contexts.engine(tenant);
    let admin = engine.admin(&cli);
    let new_app = |name: &str, kind: NewAppKind| NewApp {
        name: name.into(),
        kind,
        base_url: None,
        token: None,
        oauth: None,
        google: None,
        github: None,
        owner: None,
        settings: SettingsSpec::default(),
        disabled: false,
    };
    admin
        .create_app(NewApp {
            base_url: Some(slack.base_url()),
            token: Some(slack.token().into()),
            settings: SettingsSpec { vendor: Some("slack".into()), ..Default::default() },
            ..new_app("slack", NewAppKind::Scim)
        })
        .await?;
    admin
        .create_app(NewApp { owner: Some("pay@acme.example".into()), ..new_app("payroll", NewAppKind::Manual) })
        .await?;
    let today = tenure_engine::today();
    let people = format!(
        "employee_id,email,given_name,family_name,start_date\n\
         E1,ada@acme.example,Ada,Lovelace,{today}\n\
         E2,bob@acme.example,Bob,Builder,{today}\n"
    );
    std::fs::write(files.path().join("people.csv"), people)?;
    let config = json!({"file": files.path().join("people.csv")});
    let spec = tenure_engine::admin::NewSource { name: "hr".into(), kind: "csv".into(), config };
    admin.create_source(spec, tenure_engine::admin::Origin::Local).await?;
    admin.sync(Some("hr"), Default::default()).await?;
    for app in ["slack", "payroll"] {
        admin.assign(app, &AssignmentSpec { org_unit: Some("/".into()), ..Default::default() }, false).await?;
    }
    engine.apply(engine.plan(None, today).await?).await?;
    for (email, role) in [
        ("org@acme.example", Role::OrgAdmin),
        ("auditor@acme.example", Role::Auditor),
        ("lic@acme.example", Role::LicenseAdmin),
    ] {
        let password = Some(Secret::new(PASSWORD));
        admin.add_admin(NewAdmin { email: email.into(), role, apps: vec![], password }).await?;
    }
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    Ok(World { server, http, tenant, _slack: slack, _files: files })
}

type Browser = common::console::Session;

impl World {
    async fn sign_in(&self, email: &str) -> anyhow::Result<Browser> {
        Browser::sign_in(&self.http, &self.server.base, email, PASSWORD, common::console::Forms::WithToken).await
    }
}

/// The value a page's text input `name` holds.
fn value_of(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    html.split(&marker).nth(1).and_then(|s| s.split('"').next()).unwrap_or_default().to_owned()
}

/// The option selected in a page's select `name`.
fn selected(html: &str, name: &str) -> String {
    let select = html.split(&format!(r#"<select name="{name}""#)).nth(1).unwrap_or_default();
    let select = select.split("</select>").next().unwrap_or_default();
    select.split("<option selected>").nth(1).and_then(|s| s.split('<').next()).unwrap_or_default().to_owned()
}

/// The task of `person` in payroll, as the engine lists it.
async fn task_of(w: &World, person: &str) -> anyhow::Result<tenure_engine::admin::TaskView> {
    let cli = Actor::cli();
    let tasks = w.engine().admin(&cli).tasks(false).await?;
    tasks
        .into_iter()
        .find(|t| t.person == person && t.app == "payroll")
        .ok_or_else(|| anyhow::anyhow!("no payroll task for {person}"))
}

async fn manual_tasks_are_listed_closed_and_verified_by_a_read(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let org = w.sign_in("org@acme.example").await?;
    let auditor = w.sign_in("auditor@acme.example").await?;

    // Per app, and each task with its assignee and due time; an auditor sees them, not the buttons.
    let (status, html) = org.get("/tasks").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"href="/tasks""#) && html.contains("task-counts"), "{html}");
    let counts = html.split(r#"id="task-counts""#).nth(1).unwrap_or_default();
    assert!(counts.contains("payroll</a></td><td>2</td><td>0</td><td>0</td><td>0</td>"), "{counts}");
    assert!(html.contains("pay@acme.example") && html.contains("ada@acme.example"), "{html}");
    assert_eq!(html.matches("close-task").count(), 2, "{html}");
    assert!(html.contains("No manual app you may change is verified by a read"), "{html}");
    let (status, html) = auditor.get("/tasks").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("ada@acme.example") && !html.contains("close-task"), "{html}");
    let ada = task_of(&w, "ada@acme.example").await?;
    let close = format!("/tasks/{}/close", ada.id);
    let (status, _) = auditor.post(&close, &[("note", "forged")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "an auditor's forged close");
    let (status, _) = org.post_raw(&close, &[("note", "no token")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "a close without the session's token");
    assert_eq!(task_of(&w, "ada@acme.example").await?.status, "open");

    // The app's task settings, from its settings form: a bad due time is said under its field.
    let (_, html) = org.get("/apps/payroll?tab=provisioning").await?;
    assert!(html.contains(r#"id="task_due""#) && html.contains(r#"id="verify_by_read""#), "{html}");
    assert!(!html.contains(r#"id="transfer_drive_to""#), "no Drive field for a manual app: {html}");
    // The rest of the form as drawn, so that only the fields under test differ.
    let drawn = [("deprovision", selected(&html, "deprovision")), ("user_name", selected(&html, "user_name"))];
    let keys = value_of(&html, "match_keys");
    let settings = |due: &'static str, verify: bool, shown: bool| {
        let mut pairs = vec![("action", "save"), ("task_due", due), ("match_keys", keys.as_str())];
        pairs.extend(drawn.iter().map(|(k, v)| (*k, v.as_str())));
        if verify {
            pairs.push(("verify_by_read", "on"));
        }
        if shown {
            pairs.push(("verify_by_read_shown", "1"));
        }
        pairs
    };
    let (_, html) = org.post("/apps/payroll/settings", &settings("soon", true, true)).await?;
    assert!(html.contains(r#"id="error-task_due""#) && html.contains("&#34;soon&#34;"), "{html}");
    let cli = Actor::cli();
    let manual = |w: &World| {
        let engine = w.engine();
        async move {
            let app = engine.admin(&Actor::cli()).app("payroll").await?;
            anyhow::Ok(app.settings.manual.clone().expect("a manual app"))
        }
    };
    assert!(!manual(&w).await?.verify_by_read, "a refused form saves nothing");
    let (_, html) = org.post("/apps/payroll/settings", &settings("2d", true, true)).await?;
    assert!(html.contains("Saved:"), "{html}");
    let saved = manual(&w).await?;
    assert_eq!((saved.task_due_s, saved.verify_by_read), (Some(2 * 86_400), true));
    let (_, html) = org.get("/apps/payroll?tab=provisioning").await?;
    assert!(html.contains(r#"value="2d""#) && html.contains(r#"id="verify_by_read" checked"#), "{html}");
    // A form that did not draw the box leaves it; one that drew it unticked switches it off.
    org.post("/apps/payroll/settings", &settings("", false, false)).await?;
    assert!(manual(&w).await?.verify_by_read, "an absent box is not an unticked one");
    org.post("/apps/payroll/settings", &settings("", false, true)).await?;
    assert!(!manual(&w).await?.verify_by_read);
    org.post("/apps/payroll/settings", &settings("", true, true)).await?;
    assert!(manual(&w).await?.verify_by_read);
    let (status, _) = auditor.post("/apps/payroll/settings", &settings("1d", false, true)).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(manual(&w).await?.verify_by_read && manual(&w).await?.task_due_s == Some(2 * 86_400));

    // Closed, Ada's task awaits the next read; a read that does not list her reopens it.
    let (_, html) = org.post(&close, &[("note", "made by hand")]).await?;
    assert!(html.contains("awaits the next read of payroll"), "{html}");
    assert_eq!(task_of(&w, "ada@acme.example").await?.status, "verifying");
    let (_, html) = org.get("/tasks?status=verifying").await?;
    assert!(html.contains("ada@acme.example") && !html.contains("bob@acme.example</td>"), "{html}");
    assert!(html.contains(r#"id="verify-form""#), "{html}");
    let (status, _) =
        auditor.upload("/tasks/verify", &[("app", None, "payroll"), ("csv", Some("u.csv"), "email\n")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "an auditor's forged read");
    let (_, html) =
        org.upload("/tasks/verify", &[("app", None, "payroll"), ("csv", Some("u.csv"), "name\nx\n")]).await?;
    assert!(html.contains(r#"id="error-csv""#), "a bad export is said under the file: {html}");
    assert_eq!(task_of(&w, "ada@acme.example").await?.status, "verifying", "and changes nothing");
    let (_, html) = org.upload("/tasks/verify", &[("app", None, "payroll")]).await?;
    assert!(html.contains(r#"id="error-csv""#), "{html}");
    let (_, html) = org
        .upload(
            "/tasks/verify",
            &[("app", None, "payroll"), ("csv", Some("u.csv"), "email,active\nbob@acme.example,true\n")],
        )
        .await?;
    assert!(html.contains("Read 1 user(s) of payroll: 0 task(s) confirmed done, 1 reopened"), "{html}");
    assert!(html.contains(r#"id="reopened""#) && html.contains("does not list ada@acme.example"), "{html}");
    assert_eq!(task_of(&w, "ada@acme.example").await?.status, "open");

    // Closed again, a read that lists her confirms it: over the API this time, as the CLI does.
    org.post(&close, &[("note", "really made")]).await?;
    let token = w.engine().admin(&cli).create_token(serde_json::from_value(json!({"label": "verify"}))?).await?.token;
    let http = common::client();
    let url = format!("{}/api/v1/apps/payroll/tasks/verify", w.server.base);
    let response = http
        .post(&url)
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(CONTENT_TYPE, "text/csv")
        .body("email,active\nada@acme.example,true\n")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let read: serde_json::Value = response.json().await?;
    assert_eq!(read["users_read"], 1, "{read}");
    assert_eq!(read["confirmed"][0]["person"], "ada@acme.example", "{read}");
    assert_eq!(task_of(&w, "ada@acme.example").await?.status, "closed");
    let response = http.post(&url).header(AUTHORIZATION, format!("Bearer {token}")).body("name\nada\n").send().await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "an export without a user column is refused");
    let refused: serde_json::Value = response.json().await?;
    assert_eq!(refused["field"], "csv", "{refused}");
    let (_, html) = org.get("/tasks?status=closed").await?;
    assert!(html.contains("ada@acme.example") && html.contains("by org@acme.example"), "{html}");
    Ok(())
}

async fn channels_are_added_tested_and_removed_without_showing_a_secret(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let smtp = tenure_testkit::SmtpServer::start().await?;
    let org = w.sign_in("org@acme.example").await?;
    let auditor = w.sign_in("auditor@acme.example").await?;
    let (status, html) = org.get("/notify").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"href="/notify""#) && html.contains("No channel") && html.contains("task.overdue"),
        "{html}"
    );

    // An email channel whose URL carries a password: the page shows where it goes, never the password.
    let with_password = smtp.url().replacen("smtp://", "smtp://tenure:Pa55-w0rd-secret@", 1);
    let email = |name: &'static str, url: String| {
        [
            ("name", name.to_owned()),
            ("kind", "email".into()),
            ("smtp_url", url),
            ("from", "tenure@acme.example".into()),
            ("to", "it@acme.example".into()),
        ]
    };
    let pairs = email("relay", with_password);
    let (_, html) = org.post("/notify", &pairs.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()).await?;
    assert!(html.contains("Channel relay added") && html.contains(r#"id="channel-relay""#), "{html}");
    assert!(!html.contains("Pa55-w0rd-secret"), "{html}");
    let (_, html) = org.get("/notify").await?;
    assert!(!html.contains("Pa55-w0rd-secret") && html.contains(&smtp.url().replace("smtp://", "smtp ")), "{html}");
    // One without credentials (aiosmtpd offers no AUTH over plain SMTP) is tested for real.
    let pairs = email("mail", smtp.url());
    let (_, html) = org.post("/notify", &pairs.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()).await?;
    assert!(html.contains("Channel mail added"), "{html}");
    let (_, html) = org.post("/notify/mail/test", &[]).await?;
    assert!(html.contains("A test message went out through mail"), "{html}");
    let got = tenure_testkit::eventually(Duration::from_secs(10), || async {
        smtp.messages().into_iter().find(|m| m.text.contains("Tenure test message for channel mail"))
    })
    .await?;
    assert_eq!(got.rcpt_to, ["it@acme.example"]);

    // A refused webhook: the reason under its field, the form again without the URL it held.
    let slack_url = "https://hooks.slack.example/services/T0001/B0001/XoXoSeCrEtToKeN";
    let (_, html) = org
        .post(
            "/notify",
            &[("name", "chat"), ("kind", "slack"), ("url", slack_url), ("events", "task.*, no.such-event")],
        )
        .await?;
    assert!(html.contains(r#"id="error-events""#) && html.contains(r#"value="chat""#), "{html}");
    assert!(!html.contains("XoXoSeCrEtToKeN"), "a refused form shows no typed secret: {html}");
    let (_, html) =
        org.post("/notify", &[("name", "chat"), ("kind", "slack"), ("url", "not a url XoXoSeCrEtToKeN")]).await?;
    assert!(html.contains(r#"id="error-url""#) && !html.contains("XoXoSeCrEtToKeN"), "{html}");
    let (_, html) =
        org.post("/notify", &[("name", "chat"), ("kind", "slack"), ("url", slack_url), ("events", "task.*")]).await?;
    assert!(html.contains("Channel chat added") && !html.contains("XoXoSeCrEtToKeN"), "{html}");
    assert!(html.contains("hooks.slack.example"), "where it goes, by host: {html}");

    // A generic webhook's generated signing key is shown once.
    let (_, html) =
        org.post("/notify", &[("name", "hook"), ("kind", "webhook"), ("url", "http://127.0.0.1:9/hook")]).await?;
    let key = html
        .split(r#"id="signing-key""#)
        .nth(1)
        .and_then(|s| s.split("<pre>").nth(1))
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_default()
        .to_owned();
    assert!(key.len() >= 16, "{html}");
    let (_, html) = org.get("/notify").await?;
    assert!(!html.contains(&key) && html.contains(r#"id="channel-hook""#), "shown once: {html}");

    // An auditor reads the list; their forged forms are refused.
    let (status, html) = auditor.get("/notify").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"id="channel-mail""#) && !html.contains("remove-channel") && !html.contains("add-channel"),
        "{html}"
    );
    for (path, pairs) in [
        ("/notify", vec![("name", "mine"), ("kind", "webhook"), ("url", "http://127.0.0.1:9/x")]),
        ("/notify/mail/remove", vec![]),
        ("/notify/mail/test", vec![]),
    ] {
        let (status, _) = auditor.post(path, &pairs).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    // A channel's events changed: unknown names refused with the known ones, emptied for every event.
    let (_, html) = org.post("/notify/mail/events", &[("events", "task.*, no.such-event")]).await?;
    assert!(html.contains("mail&#39;s events were not changed") && html.contains("no.such-event"), "{html}");
    let (_, html) = org.post("/notify/mail/events", &[("events", "task.*")]).await?;
    assert!(html.contains("mail now sends task.*"), "{html}");
    let (_, html) = org.post("/notify/mail/events", &[("events", "")]).await?;
    assert!(html.contains("mail now sends every event"), "{html}");
    let (status, _) = auditor.post("/notify/mail/events", &[("events", "task.*")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = org.post_raw("/notify/mail/remove", &[]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "a remove without the session's token");

    let (_, html) = org.post("/notify/chat/remove", &[]).await?;
    assert!(html.contains("Channel chat removed") && !html.contains(r#"id="channel-chat""#), "{html}");
    let cli = Actor::cli();
    let names: Vec<String> = w.engine().admin(&cli).channels().await?.into_iter().map(|c| c.name).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"mail".to_owned()) && names.contains(&"hook".to_owned()), "{names:?}");
    Ok(())
}

async fn a_license_admin_previews_and_starts_a_reclaim_after_uploading_activity(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let cli = Actor::cli();
    let spec = serde_json::from_value(json!({"seats": 10, "cost_per_seat": 8, "unused_days": 30}))?;
    w.engine().admin(&cli).set_license("slack", spec).await?;
    // Reclaim questions go by email only: with no email channel nobody would be asked.
    let mail = serde_json::from_value(json!({"name": "mail", "kind": "email", "smtp_url": "smtp://127.0.0.1:9",
        "from": "tenure@acme.example", "to": ["person"], "events": ["license.*"]}))?;
    w.engine().admin(&cli).add_channel(mail).await?;
    let lic = w.sign_in("lic@acme.example").await?;
    let auditor = w.sign_in("auditor@acme.example").await?;
    let (status, html) = lic.get("/licenses").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"href="/licenses/reclaims""#), "{html}");
    let (status, html) = lic.get("/licenses/reclaims").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No reclaim yet") && html.contains(r#"id="start-reclaim""#), "{html}");

    // Last activity, uploaded: a bad date is said under the file and nothing is stored.
    let bad = "user,last_active\nada@acme.example,last spring\n";
    let (_, html) = lic.upload("/licenses/activity", &[("app", None, "slack"), ("csv", Some("a.csv"), bad)]).await?;
    assert!(html.contains(r#"id="error-activity-csv""#) && html.contains("last spring"), "{html}");
    let today = tenure_engine::today();
    let activity = format!("user,last_active\nada@acme.example,2020-01-01\nbob@acme.example,{today}\n");
    let (_, html) =
        lic.upload("/licenses/activity", &[("app", None, "slack"), ("csv", Some("a.csv"), &activity)]).await?;
    assert!(html.contains("Last activity of 2 account(s) of slack stored"), "{html}");

    // A bad deadline under its field; the preview names Ada (unused for years), not Bob.
    let (_, html) =
        lic.post("/licenses/reclaims", &[("app", "slack"), ("deadline_days", "0"), ("action", "preview")]).await?;
    assert!(html.contains(r#"id="error-deadline_days""#), "{html}");
    let (_, html) =
        lic.post("/licenses/reclaims", &[("app", "payroll"), ("deadline_days", "7"), ("action", "preview")]).await?;
    assert!(html.contains(r#"id="error-app""#) && html.contains("no license pool"), "{html}");
    let (_, html) =
        lic.post("/licenses/reclaims", &[("app", "slack"), ("deadline_days", "7"), ("action", "preview")]).await?;
    assert!(html.contains("Preview: 1 account(s) of slack would be asked"), "{html}");
    let run = html.split(r#"id="reclaim-run""#).nth(1).unwrap_or_default();
    assert!(run.contains("ada@acme.example") && !run.contains("bob@acme.example"), "{run}");
    assert!(html.contains(r#"id="start-reclaim-button""#), "{html}");
    assert!(w.engine().admin(&cli).license_reclaims(None).await?.is_empty(), "a preview asks nobody");

    // An auditor reads the questions but may not start one or upload activity.
    let (status, html) = auditor.get("/licenses/reclaims").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(r#"id="start-reclaim""#) && !html.contains("activity-form"), "{html}");
    let (status, _) = auditor.post("/licenses/reclaims", &[("app", "slack"), ("action", "start")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        auditor.upload("/licenses/activity", &[("app", None, "slack"), ("csv", Some("a.csv"), &activity)]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = lic.post_raw("/licenses/reclaims", &[("app", "slack"), ("action", "start")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "without the session's token");

    let (_, html) =
        lic.post("/licenses/reclaims", &[("app", "slack"), ("deadline_days", "5"), ("action", "start")]).await?;
    assert!(html.contains("Reclaim of slack started: 1 account(s) asked"), "{html}");
    let table = html.split(r#"id="reclaims""#).nth(1).unwrap_or_default();
    assert!(table.contains("ada@acme.example") && table.contains("<td>asked</td>"), "{table}");
    let asked = w.engine().admin(&cli).license_reclaims(Some("slack")).await?;
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!((asked[0].person.as_str(), asked[0].state.as_str()), ("ada@acme.example", "asked"));
    Ok(())
}
