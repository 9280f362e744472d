//! The console's configuration screens over HTTP: apps added from the catalog, their settings,
//! mappings (a bad expression shown under its field with the caret), pause, new credentials and
//! removal; plans saved, diffed and applied with live progress; the tenant's guard; sources added,
//! scoped and fed by uploads whose row problems are tabled; offboarding; admins' passwords;
//! licenses, the catalog and the audit export. Each form's bad input shows its error, and a form
//! without the session's token, or from a role that may not use it, is 403.
//! A real server on port 0, a fresh database per test, sandbox apps.

mod common;

use std::time::Duration;

use anyhow::Context;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::json;
use tenure_core::{Role, Secret};
use tenure_engine::Actor;
use tenure_engine::admin::{AssignmentSpec, NewAdmin, Unassign};

const PASSWORD: &str = "correct horse battery staple";
const PEOPLE: &str = "employee_id,email,given_name,family_name,groups\n\
E1,ada@acme.example,Ada,Lovelace,eng\n\
E2,bob@acme.example,Bob,Builder,eng\n";
const GROUPS: &str = "name,parents\neng,\n";

struct World {
    server: common::Server,
    http: reqwest::Client,
    slack: tenure_sandbox::SandboxApp,
    _notion: tenure_sandbox::SandboxApp,
    _files: tempfile::TempDir,
}

async fn world() -> anyhow::Result<World> {
    let files = tempfile::tempdir()?;
    let server =
        common::Server::start_with(tenure_testkit::TestBackend::Sqlite, Some(files.path().join("files"))).await?;
    let tenant = server.store.ensure_tenant("acme").await?;
    let slack = common::sandbox(tenure_sandbox::Profile::Slack).await?;
    let notion = common::sandbox(tenure_sandbox::Profile::Notion).await?;
    let cli = Actor::cli();
    let engine = server.contexts.engine(tenant);
    let admin = engine.admin(&cli);
    for (name, app, vendor) in [("slack", &slack, Some("slack")), ("notion", &notion, None)] {
        admin
            .create_app(tenure_engine::admin::NewApp {
                name: name.into(),
                kind: tenure_engine::admin::NewAppKind::Scim,
                base_url: Some(app.base_url()),
                token: Some(app.token().into()),
                oauth: None,
                google: None,
                github: None,
                owner: None,
                settings: tenure_engine::admin::SettingsSpec {
                    vendor: vendor.map(str::to_owned),
                    ..Default::default()
                },
                disabled: false,
            })
            .await?;
    }
    std::fs::write(files.path().join("people.csv"), PEOPLE)?;
    std::fs::write(files.path().join("groups.csv"), GROUPS)?;
    let config = json!({"file": files.path().join("people.csv"), "groups_file": files.path().join("groups.csv")});
    let spec = tenure_engine::admin::NewSource { name: "hr".into(), kind: "csv".into(), config };
    admin.create_source(spec, tenure_engine::admin::Origin::Local).await?;
    admin.sync(Some("hr"), Default::default()).await?;
    for (email, role, apps) in [
        ("org@acme.example", Role::OrgAdmin, vec![]),
        ("auditor@acme.example", Role::Auditor, vec![]),
        ("notion-admin@acme.example", Role::AppAdmin, vec!["notion".to_owned()]),
    ] {
        let password = Some(Secret::new(PASSWORD));
        admin.add_admin(NewAdmin { email: email.into(), role, apps, password }).await?;
    }
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let _ = common::client();
    Ok(World { server, http, slack, _notion: notion, _files: files })
}

/// The value of the first `name="version" value="N"` of a page.
fn version(html: &str) -> String {
    let marker = r#"name="version" value=""#;
    html.find(marker)
        .map(|at| html[at + marker.len()..].split('"').next().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

type Browser = common::console::Session;

impl World {
    /// A session whose forms send what the test gives (the token included, from `token()`).
    async fn sign_in_with(&self, email: &str, password: &str) -> anyhow::Result<Browser> {
        Browser::sign_in(&self.http, &self.server.base, email, password, common::console::Forms::AsGiven).await
    }

    async fn sign_in(&self, email: &str) -> anyhow::Result<Browser> {
        self.sign_in_with(email, PASSWORD).await
    }

    fn cli(&self, tenant: tenure_core::TenantId) -> tenure_engine::Engine {
        self.server.contexts.engine(tenant)
    }
}

#[tokio::test]
async fn an_app_is_added_configured_paused_and_removed_in_the_console() -> anyhow::Result<()> {
    let w = world().await?;
    let b = w.sign_in("org@acme.example").await?;
    let t = b.token().await?;
    let t = t.as_str();

    // Added from the catalog: a bad field is said on the form, the good one lands on its page.
    let (status, html) = b.get("/apps/new?vendor=slack").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"<option value="slack" selected>"#), "the catalog entry is chosen: {html}");
    let base = w.slack.base_url();
    let (status, html) = b
        .post(
            "/apps/new",
            &[("csrf", t), ("name", "slack-two"), ("vendor", "slack"), ("base_url", &base), ("token", "")],
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("notice bad") && html.contains("token"), "an empty token is refused by name: {html}");
    assert!(html.contains(r#"value="slack-two""#), "what was typed stays: {html}");
    let (_, html) = b
        .post(
            "/apps/new",
            &[("csrf", t), ("name", "slack-two"), ("vendor", "nosuchvendor"), ("base_url", &base), ("token", "x")],
        )
        .await?;
    assert!(html.contains("notice bad") && html.contains("settings.vendor"), "{html}");
    let (_, html) = b
        .post(
            "/apps/new",
            &[("csrf", t), ("name", "slack-two"), ("vendor", "slack"), ("base_url", &base), ("token", w.slack.token())],
        )
        .await?;
    assert!(html.contains("slack-two added (slack)"), "{html}");

    // Settings: a number that is not one, an unknown policy, then a save and its audit entry.
    let (_, page) = b.get("/apps/slack-two").await?;
    let v = version(&page);
    let (_, html) = b.post("/apps/slack-two/settings", &[("csrf", t), ("version", &v), ("burst", "lots")]).await?;
    assert!(html.contains("notice bad") && html.contains("settings.burst"), "{html}");
    assert!(html.contains(r#"name="burst" value="lots""#), "the typed value is kept: {html}");
    let (_, html) =
        b.post("/apps/slack-two/settings", &[("csrf", t), ("version", &v), ("deprovision", "explode")]).await?;
    assert!(html.contains("settings.deprovision"), "{html}");
    let current = [("csrf", t), ("version", v.as_str()), ("deprovision", "deactivate")];
    let mut pairs = current.to_vec();
    pairs.extend([("guard_count", "3"), ("match_keys", "email, user-name"), ("action", "preview")]);
    let (_, html) = b.post("/apps/slack-two/settings", &pairs).await?;
    assert!(html.contains("Preview of") && html.contains("settings-preview"), "{html}");
    pairs.pop();
    pairs.push(("action", "save"));
    let (_, html) = b.post("/apps/slack-two/settings", &pairs).await?;
    assert!(html.contains("Saved:") && html.contains("settings.guard"), "{html}");
    assert!(html.contains(r#"name="guard_count" value="3""#) && html.contains(r#"value="email, user-name""#));
    // The same form again, drawn from the old version, is refused.
    let (_, html) = b.post("/apps/slack-two/settings", &pairs).await?;
    assert!(html.contains("notice bad"), "a stale form changes nothing: {html}");
    // Budgets: shown empty, set, shown set; a word is refused by name; 0 removes one.
    let (_, page) = b.get("/apps/slack-two").await?;
    assert!(page.contains(r#"name="rate_limit_per_hour" value="""#), "{page}");
    let v = version(&page);
    let (_, html) =
        b.post("/apps/slack-two/settings", &[("csrf", t), ("version", &v), ("rate_limit_per_day", "many")]).await?;
    assert!(html.contains("notice bad") && html.contains("settings.rate_limit_per_day"), "{html}");
    // The rest of the form as the page drew it.
    let kept = [("deprovision", "deactivate"), ("match_keys", "email, user-name"), ("guard_count", "3")];
    let budgets = [("rate_limit_per_hour", "3000"), ("rate_limit_per_day", "20000"), ("action", "save")];
    let (_, html) = b
        .post(
            "/apps/slack-two/settings",
            &[[("csrf", t), ("version", v.as_str())].as_slice(), &kept, &budgets].concat(),
        )
        .await?;
    assert!(html.contains("Saved:") && html.contains("settings.limits"), "{html}");
    assert!(html.contains(r#"name="rate_limit_per_hour" value="3000""#), "{html}");
    assert!(html.contains(r#"name="rate_limit_per_day" value="20000""#), "{html}");
    let (_, page) = b.get("/apps/slack-two").await?;
    let v = version(&page);
    let removed = [("rate_limit_per_hour", "0"), ("rate_limit_per_day", "20000"), ("action", "save")];
    let (_, html) = b
        .post(
            "/apps/slack-two/settings",
            &[[("csrf", t), ("version", v.as_str())].as_slice(), &kept, &removed].concat(),
        )
        .await?;
    assert!(html.contains(r#"name="rate_limit_per_hour" value="""#), "the hourly budget is gone: {html}");
    assert!(html.contains(r#"name="rate_limit_per_day" value="20000""#), "{html}");

    // Mappings: a bad expression is shown under its own field, line, column and caret.
    let (_, page) = b.get("/apps/slack-two").await?;
    let v = version(&page);
    let (status, html) = b
        .post(
            "/apps/slack-two/mappings",
            &[
                ("csrf", t),
                ("version", &v),
                ("target_0", "title"),
                ("expression_0", "upper(title)"),
                ("target_1", "displayName"),
                ("expression_1", "concat(givenName, lowr(familyName))"),
                ("target_2", ""),
                ("expression_2", ""),
            ],
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let error = html.split(r#"id="mapping-error-1""#).nth(1).unwrap_or_default();
    assert!(error.contains("Line 1, column 19") && error.contains("lower"), "{html}");
    assert!(
        error.contains("concat(givenName, lowr(familyName))") && error.contains('^'),
        "the caret under it: {error}"
    );
    assert!(!html.contains(r#"id="mapping-error-0""#), "the good row has no error");
    assert!(html.contains(r#"value="concat(givenName, lowr(familyName))""#), "what was typed stays");
    let (_, html) = b
        .post(
            "/apps/slack-two/mappings",
            &[
                ("csrf", t),
                ("version", &v),
                ("target_0", "displayName"),
                ("expression_0", "concat(givenName, \" \", familyName)"),
            ],
        )
        .await?;
    assert!(html.contains("Mappings saved"), "{html}");
    assert!(html.contains(r#"value="concat(givenName, &#34; &#34;, familyName)""#), "{html}");

    // Paused and resumed; new credentials.
    let (_, page) = b.get("/apps/slack-two").await?;
    let (_, html) =
        b.post("/apps/slack-two/state", &[("csrf", t), ("version", &version(&page)), ("what", "disable")]).await?;
    assert!(html.contains("Provisioning paused") && html.contains("paused by an admin"), "{html}");
    let (_, html) =
        b.post("/apps/slack-two/state", &[("csrf", t), ("version", &version(&html)), ("what", "enable")]).await?;
    assert!(html.contains("Provisioning resumed"), "{html}");
    let (_, html) =
        b.post("/apps/slack-two/credentials", &[("csrf", t), ("version", &version(&html)), ("secret", "")]).await?;
    assert!(html.contains("notice bad") && html.contains("credentials.token"), "{html}");
    let (_, html) = b
        .post("/apps/slack-two/credentials", &[("csrf", t), ("version", &version(&html)), ("secret", w.slack.token())])
        .await?;
    assert!(html.contains("New credentials saved"), "{html}");

    // Removal: a confirmation page, the name typed again, and then gone (nobody deprovisioned).
    let (status, html) = b.get("/apps/slack-two/remove").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("never deprovisions") && html.contains("confirm-remove"), "{html}");
    let v = version(&html);
    let (_, html) = b.post("/apps/slack-two/remove", &[("csrf", t), ("version", &v), ("confirm", "slack")]).await?;
    assert!(html.contains("Type the app"), "{html}");
    let (_, html) = b.post("/apps/slack-two/remove", &[("csrf", t), ("version", &v), ("confirm", "slack-two")]).await?;
    assert!(html.contains("slack-two removed from Tenure") && !html.contains(r#"href="/apps/slack-two""#), "{html}");

    // Another role: an app admin may not add apps or remove theirs, but may set their settings;
    // an auditor's forged forms are 403; a form without the token is 403.
    let app_admin = w.sign_in("notion-admin@acme.example").await?;
    let at = app_admin.token().await?;
    assert_eq!(app_admin.get("/apps/new").await?.0, StatusCode::FORBIDDEN);
    let (_, page) = app_admin.get("/apps/notion").await?;
    assert!(page.contains("save-settings") && !page.contains("remove-link"), "{page}");
    let (status, _) = app_admin.post("/apps/notion/remove", &[("csrf", &at), ("confirm", "notion")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app_admin.post("/apps/slack/settings", &[("csrf", &at), ("guard_count", "1")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "not their app");
    let auditor = w.sign_in("auditor@acme.example").await?;
    let ut = auditor.token().await?;
    let (_, page) = auditor.get("/apps/slack").await?;
    assert!(!page.contains(r#"class="action"#) && page.contains("<fieldset disabled>"), "{page}");
    for (path, pairs) in [
        ("/apps/new", vec![("csrf", ut.as_str()), ("name", "x"), ("base_url", &base), ("token", "y")]),
        ("/apps/slack/settings", vec![("csrf", ut.as_str()), ("guard_count", "1")]),
        ("/apps/slack/mappings", vec![("csrf", ut.as_str()), ("target_0", "title"), ("expression_0", "title")]),
        ("/apps/slack/state", vec![("csrf", ut.as_str()), ("what", "disable")]),
        ("/apps/slack/credentials", vec![("csrf", ut.as_str()), ("secret", "x")]),
        ("/apps/slack/remove", vec![("csrf", ut.as_str()), ("confirm", "slack")]),
    ] {
        let (status, html) = auditor.post(path, &pairs).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "a forged {path} from an auditor: {html}");
        let (status, _) = b.post(path, &pairs[1..]).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} without the token");
    }
    Ok(())
}

#[tokio::test]
async fn plans_are_saved_diffed_and_applied_with_live_progress() -> anyhow::Result<()> {
    let w = world().await?;
    let tenant = w.server.store.ensure_tenant("acme").await?;
    let cli = Actor::cli();
    let engine = w.cli(tenant);
    let group = AssignmentSpec { group: Some("eng".into()), ..Default::default() };
    engine.admin(&cli).assign("slack", &group, false).await?;
    let b = w.sign_in("org@acme.example").await?;
    let t = b.token().await?;
    let t = t.as_str();

    let (_, html) = b.post("/plans/save", &[("csrf", t), ("app", "slack")]).await?;
    assert!(html.contains("saved"), "{html}");
    let body = html.split("<main>").nth(1).unwrap_or_default();
    assert!(body.contains(r#"<table id="saved-plans">"#) && body.contains(r#"id="guard-form""#), "{html}");
    let id = html.split(r#"<a href="/plans/"#).nth(1).and_then(|r| r.split('"').next()).unwrap_or_default().to_owned();
    let (status, html) = b.get(&format!("/plans/{id}")).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("create ada@acme.example") && html.contains("create bob@acme.example"), "{html}");
    assert!(html.contains("0 new since it was saved, 0 no longer needed"), "{html}");
    // Unassigned since: the saved plan's creates are no longer needed.
    engine.admin(&cli).unassign("slack", Unassign::Target(&group), false).await?;
    let (_, html) = b.get(&format!("/plans/{id}")).await?;
    assert!(html.contains("0 new since it was saved, 2 no longer needed"), "{html}");
    assert_eq!(b.get("/plans/not-a-plan").await?.0, StatusCode::NOT_FOUND);

    // Applied by hand: a job page, refreshed until it says how it ended.
    engine.admin(&cli).assign("slack", &group, false).await?;
    let (status, html) = b.post("/plans/apply", &[("csrf", t), ("app", "slack")]).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(r#"id="job""#) && html.contains("Apply of slack"), "{html}");
    let job = html.split(r#"href="/jobs/"#).nth(1).and_then(|r| r.split('"').next()).map(str::to_owned);
    let job = match job {
        Some(job) => job,
        None => {
            // Already finished: the page has no refresh link; the outcome is on it.
            assert!(html.contains("job-outcome"), "{html}");
            String::new()
        }
    };
    let outcome = if job.is_empty() {
        html
    } else {
        tenure_testkit::eventually(Duration::from_secs(30), || async {
            let (_, html) = b.get(&format!("/jobs/{job}")).await.ok()?;
            html.contains("job-outcome").then_some(html)
        })
        .await
        .context("the apply never ended")?
    };
    if !outcome.contains("2 operation(s) carried out, 0 failed") {
        let (_, activity) = b.get("/apps/slack?tab=activity").await?;
        panic!("{outcome}\n\nthe app's activity:\n{activity}");
    }
    assert!(outcome.contains("2 operation(s) carried out and 0 failed since it started, of 2 planned"), "{outcome}");
    // The apps list and the app's activity now show when and how much.
    let (_, html) = b.get("/apps").await?;
    assert!(html.contains(r#"<svg class="spark""#) && html.contains("2 h ago") | html.contains("1 h ago"), "{html}");
    let (_, html) = b.get("/apps/slack?tab=activity").await?;
    assert!(html.contains("2 operation(s) settled, 0 failed"), "{html}");

    // The tenant's guard: a bad number is said, a good one set.
    let (_, html) = b.post("/plans/guard", &[("csrf", t), ("max_percent", "many"), ("action", "set")]).await?;
    assert!(html.contains("notice bad") && html.contains("max_percent"), "{html}");
    let (_, html) = b.post("/plans/guard", &[("csrf", t), ("max_percent", "150"), ("action", "set")]).await?;
    assert!(html.contains("notice bad") && html.contains("0 to 100"), "{html}");
    let (_, html) = b.post("/plans/guard", &[("csrf", t), ("max_count", "5"), ("action", "set")]).await?;
    assert!(html.contains("or 5 people"), "{html}");

    // Nobody else's: an auditor may neither apply, save nor read the org admin's job.
    let auditor = w.sign_in("auditor@acme.example").await?;
    let ut = auditor.token().await?;
    let (_, html) = auditor.get("/plans").await?;
    assert!(!html.contains(r#"class="action"#), "{html}");
    for path in ["/plans/apply", "/plans/save", "/plans/guard"] {
        let (status, _) = auditor.post(path, &[("csrf", &ut), ("app", "slack"), ("max_count", "1")]).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    if !job.is_empty() {
        assert_eq!(auditor.get(&format!("/jobs/{job}")).await?.0, StatusCode::NOT_FOUND);
    }
    let app_admin = w.sign_in("notion-admin@acme.example").await?;
    let (status, _) = app_admin.post("/plans/apply", &[("csrf", &app_admin.token().await?), ("app", "")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "every app at once is for org admins");
    Ok(())
}

#[tokio::test]
async fn a_csv_upload_tables_every_row_problem_and_a_scope_is_previewed() -> anyhow::Result<()> {
    let w = world().await?;
    let b = w.sign_in("org@acme.example").await?;
    let t = b.token().await?;
    let t = t.as_str();
    let (_, html) = b.post("/sources", &[("csrf", t), ("name", "")]).await?;
    assert!(html.contains("notice bad") && html.contains("name"), "{html}");
    let (_, html) = b.post("/sources", &[("csrf", t), ("name", "uploads")]).await?;
    assert!(html.contains("uploads added") && html.contains("upload-form"), "{html}");

    let bad = "employee_id,email,given_name,family_name,start_date\n\
E7,cy@acme.example,Cy,Twombly,2026-13-01\n\
E8,cy@acme.example,Cy,Again,\n\
E9,not-an-email,Dee,Dee,\n";
    let groups = "name,parents\neng,\n";
    let fields = [("csrf", None, t), ("people", Some("hr.csv"), bad), ("groups", Some("g.csv"), groups)];
    let (status, html) = b.upload("/sources/uploads/upload", &fields).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Nothing was imported"), "{html}");
    let table = html.split(r#"<table id="problems">"#).nth(1).unwrap_or_default();
    for (line, words) in [("2", "start_date"), ("3", "duplicate"), ("4", "not-an-email")] {
        assert!(table.contains(&format!("<td>{line}</td>")) && table.contains(words), "line {line}: {table}");
    }
    let good = "employee_id,email,given_name,family_name\nE7,cy@acme.example,Cy,Twombly\n";
    let (_, html) = b
        .upload(
            "/sources/uploads/upload",
            &[("csrf", None, t), ("people", Some("hr.csv"), good), ("groups", Some("g.csv"), groups)],
        )
        .await?;
    assert!(html.contains("Imported: 1 people read (1 new"), "{html}");
    let (_, html) = b.upload("/sources/uploads/upload", &[("csrf", None, t)]).await?;
    assert!(html.contains("Choose the people export"), "{html}");
    let (status, _) = b.upload("/sources/uploads/upload", &[("people", Some("hr.csv"), good)]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "an upload without the token");
    let (status, _) =
        b.upload("/sources/uploads/upload", &[("csrf", None, "tnr_forged"), ("people", Some("hr.csv"), good)]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The scope: who a new one leaves out is previewed; a rule that does not read has its caret.
    let (_, page) = b.get("/sources/hr").await?;
    let v = version(&page);
    let (_, html) = b
        .post("/sources/hr/scope", &[("csrf", t), ("version", &v), ("exclude_groups", "eng"), ("action", "preview")])
        .await?;
    let leaving = html.split(r#"id="leaving""#).nth(1).unwrap_or_default();
    assert!(leaving.contains("ada@acme.example") && leaving.contains("bob@acme.example"), "{html}");
    let (_, html) = b
        .post(
            "/sources/hr/scope",
            &[("csrf", t), ("version", &v), ("condition", "department ==== 1"), ("action", "save")],
        )
        .await?;
    let error = html.split(r#"id="condition-error""#).nth(1).unwrap_or_default();
    assert!(error.contains("1:14") && error.contains("expected a value"), "said under the rule: {html}");
    let (_, html) = b
        .post("/sources/hr/scope", &[("csrf", t), ("version", &v), ("include_groups", "eng"), ("action", "save")])
        .await?;
    assert!(html.contains("Scope saved"), "{html}");
    assert!(html.contains(r#"name="include_groups" value="eng""#), "{html}");

    // Sync now is a job; the auditor may do none of it.
    let (status, html) = b.post("/sources/hr/sync", &[("csrf", t)]).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Sync of hr"), "{html}");
    let auditor = w.sign_in("auditor@acme.example").await?;
    let ut = auditor.token().await?;
    let (_, html) = auditor.get("/sources/hr").await?;
    assert!(!html.contains(r#"class="action"#) && !html.contains("upload-form"), "{html}");
    let (status, _) =
        auditor.upload("/sources/hr/upload", &[("csrf", None, &ut), ("people", Some("a.csv"), good)]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = auditor.post("/sources", &[("csrf", &ut), ("name", "mine")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = auditor.post("/sources/hr/scope", &[("csrf", &ut), ("include_groups", "x")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    Ok(())
}

#[tokio::test]
async fn a_person_is_offboarded_and_admins_passwords_are_set_in_the_console() -> anyhow::Result<()> {
    let w = world().await?;
    let tenant = w.server.store.ensure_tenant("acme").await?;
    let cli = Actor::cli();
    let group = AssignmentSpec { group: Some("eng".into()), ..Default::default() };
    w.cli(tenant).admin(&cli).assign("slack", &group, false).await?;
    w.cli(tenant).admin(&cli).apply(Some("slack")).await?;
    let b = w.sign_in("org@acme.example").await?;
    let t = b.token().await?;
    let t = t.as_str();
    let (_, html) = b.get("/people/bob@acme.example").await?;
    assert!(html.contains("offboard-form"), "{html}");
    let (_, html) = b.post("/people/bob@acme.example/offboard", &[("csrf", t), ("action", "preview")]).await?;
    let shown = html.split(r#"id="offboarding""#).nth(1).unwrap_or_default();
    assert!(shown.contains("slack") && shown.contains("deactivate") && shown.contains("confirm-offboard"), "{html}");
    let (_, html) =
        b.post("/people/bob@acme.example/offboard", &[("csrf", t), ("action", "preview"), ("at", "tomorrow")]).await?;
    assert!(html.contains("notice bad"), "a date that is not one: {html}");
    // A successor the directory does not know, or the person themselves, is refused: nothing
    // is previewed, nothing changes.
    for (successor, words) in [("ghost@acme.example", "ghost@acme.example"), ("bob@acme.example", "successor")] {
        let form = [("csrf", t), ("action", "preview"), ("successor", successor)];
        let (_, html) = b.post("/people/bob@acme.example/offboard", &form).await?;
        assert!(html.contains("notice bad") && html.contains(words), "{successor}: {html}");
        assert!(!html.contains("confirm-offboard"), "{html}");
    }
    assert!(b.get("/people/bob@acme.example").await?.1.contains(r#"id="successor""#), "the form names a successor");
    let (_, html) =
        b.post("/people/bob@acme.example/offboard", &[("csrf", t), ("action", "confirm"), ("at", "")]).await?;
    assert!(html.contains("bob@acme.example offboarding: done"), "{html}");
    assert_eq!(
        b.post("/people/nobody@acme.example/offboard", &[("csrf", t), ("action", "preview")]).await?.0,
        StatusCode::NOT_FOUND
    );
    let bob = |u: &&tenure_scim::ScimUser| u.user_name.starts_with("bob");
    let bob_active = || w.slack.users().iter().find(bob).map(|u| u.active);
    assert_eq!(bob_active(), Some(false), "deactivated in Slack");
    // Offboarded, the page says so and offers the undoing (a re-hire), not a second offboarding.
    let (_, html) = b.get("/people/bob@acme.example").await?;
    assert!(html.contains(r#"id="offboarded""#) && html.contains("by org@acme.example"), "{html}");
    assert!(html.contains("undo-offboard") && !html.contains(r#"id="offboard-form""#), "{html}");

    // Passwords: too short is said; set, the admin signs in with it; cleared, they cannot.
    let path = "/admins/auditor@acme.example/password";
    let (_, html) = b.post(path, &[("csrf", t), ("what", "set"), ("password", "short")]).await?;
    assert!(html.contains("notice bad") && html.contains("12"), "{html}");
    let (_, html) = b.post(path, &[("csrf", t), ("what", "set"), ("password", "a much longer passphrase")]).await?;
    assert!(html.contains("auditor@acme.example&#39;s password set"), "{html}");
    let auditor = w.sign_in_with("auditor@acme.example", "a much longer passphrase").await?;
    let ut = auditor.token().await?;
    let (status, _) =
        auditor.post("/people/ada@acme.example/offboard", &[("csrf", &ut), ("action", "confirm")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "an auditor's forged offboarding");
    let (_, html) = auditor.get("/people/bob@acme.example").await?;
    assert!(html.contains("Offboarding") || !html.contains("undo-offboard"), "no undo button for an auditor: {html}");
    let (status, _) = auditor.post("/people/bob@acme.example/offboard", &[("csrf", &ut), ("action", "undo")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "an auditor's forged undoing");
    let (_, html) = b.post("/people/bob@acme.example/offboard", &[("csrf", t), ("action", "undo")]).await?;
    assert!(html.contains("offboarding is undone"), "{html}");
    assert!(html.contains("<strong>undone</strong>"), "{html}");
    let (_, html) = b.get("/people/bob@acme.example").await?;
    assert!(html.contains(r#"id="offboard-form""#) && !html.contains("undo-offboard"), "offboardable again: {html}");
    tenure_testkit::eventually(Duration::from_secs(30), || async { (bob_active() == Some(true)).then_some(()) })
        .await
        .context("Bob's Slack account was not re-activated")?;
    assert_eq!(w.slack.users().iter().filter(bob).count(), 1, "not created twice");
    let (status, _) = auditor.post("/admins/org@acme.example/password", &[("csrf", &ut), ("what", "clear")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, html) = b.post(path, &[("csrf", t), ("what", "clear")]).await?;
    assert!(html.contains("password cleared"), "{html}");
    assert!(w.sign_in_with("auditor@acme.example", "a much longer passphrase").await.is_err());
    Ok(())
}

#[tokio::test]
async fn licenses_the_catalog_and_the_audit_export() -> anyhow::Result<()> {
    let w = world().await?;
    let b = w.sign_in("org@acme.example").await?;
    let (status, html) = b.get("/licenses").await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("table id=\"licenses\"") && html.contains(r#"href="/licenses""#), "{html}");
    let (status, html) = b.get("/catalog").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Slack") && html.contains(r#"href="/apps/new?vendor=slack""#), "{html}");

    let response = w
        .http
        .get(format!("{}/audit/export?format=csv&action=console", w.server.base))
        .header(COOKIE, b.cookie())
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[CONTENT_TYPE].to_str()?.starts_with("text/csv"));
    assert!(response.headers()["content-disposition"].to_str()?.contains("audit.csv"));
    let csv = response.text().await?;
    assert!(csv.starts_with("at,actor,action") && csv.contains("console.sign_in"), "{csv}");
    let response = w
        .http
        .get(format!("{}/audit/export?format=jsonl&action=console.sign_in", w.server.base))
        .header(COOKIE, b.cookie())
        .send()
        .await?;
    let lines = response.text().await?;
    for line in lines.lines() {
        let entry: serde_json::Value = serde_json::from_str(line)?;
        assert_eq!(entry["action"], "console.sign_in", "{line}");
    }
    assert!(lines.lines().count() >= 1);
    assert_eq!(b.get("/audit/export?format=xml").await?.0, StatusCode::BAD_REQUEST);
    let (_, html) = b.get("/audit?action=console").await?;
    assert!(html.contains(r#"href="/audit/export?action=console&#38;format=csv""#), "{html}");

    let app_admin = w.sign_in("notion-admin@acme.example").await?;
    assert_eq!(app_admin.get("/licenses").await?.0, StatusCode::FORBIDDEN);
    assert_eq!(app_admin.get("/audit/export").await?.0, StatusCode::FORBIDDEN);
    let (_, html) = app_admin.get("/catalog").await?;
    assert!(!html.contains("/apps/new"), "only org admins add apps: {html}");
    let auditor = w.sign_in("auditor@acme.example").await?;
    assert_eq!(auditor.get("/audit/export?format=csv").await?.0, StatusCode::OK);
    Ok(())
}
