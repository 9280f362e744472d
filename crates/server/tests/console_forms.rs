//! The console's workflow and holds screens over HTTP: workflows added (a bad step or offset
//! said under its field), runs with every step, an approval decided by whom the engine lets
//! decide (the manager for `approval:manager`, an org admin otherwise), a rejection's reason
//! required under its field; legal holds placed and lifted, apps' budgets and the guard shown.
//! An auditor sees no button and a forged POST from their session is 403; a POST without the
//! session's token is 403. A real server on port 0, a fresh SQLite database per test, a
//! sandbox SCIM app.

mod common;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tenure_core::{Role, Secret};
use tenure_engine::Actor;
use tenure_engine::admin::NewAdmin;

const PASSWORD: &str = "correct horse battery staple";

struct World {
    server: common::Server,
    http: reqwest::Client,
    tenant: tenure_core::TenantId,
    _slack: tenure_sandbox::SandboxApp,
    _files: tempfile::TempDir,
}

/// Ada starts today and reports to Bob; Bob is an admin of Tenure with the auditor's role.
async fn world() -> anyhow::Result<World> {
    let files = tempfile::tempdir()?;
    let server =
        common::Server::start_with(tenure_testkit::TestBackend::Sqlite, Some(files.path().join("files"))).await?;
    let tenant = server.store.ensure_tenant("acme").await?;
    let slack = common::sandbox(tenure_sandbox::Profile::Slack).await?;
    let cli = Actor::cli();
    let engine = server.contexts.engine(tenant);
    let admin = engine.admin(&cli);
    admin
        .create_app(tenure_engine::admin::NewApp {
            name: "slack".into(),
            kind: tenure_engine::admin::NewAppKind::Scim,
            base_url: Some(slack.base_url()),
            token: Some(slack.token().into()),
            oauth: None,
            google: None,
            github: None,
            owner: None,
            settings: tenure_engine::admin::SettingsSpec {
                vendor: Some("slack".into()),
                rate_limit_per_hour: Some(1200),
                ..Default::default()
            },
            disabled: false,
        })
        .await?;
    let today = tenure_engine::today();
    let people = format!(
        "employee_id,email,given_name,family_name,manager_id,start_date,groups\n\
         E1,ada@acme.example,Ada,Lovelace,E2,{today},eng\n\
         E2,bob@acme.example,Bob,Builder,,,eng\n"
    );
    std::fs::write(files.path().join("people.csv"), people)?;
    std::fs::write(files.path().join("groups.csv"), "name,parents\neng,\n")?;
    let config = json!({"file": files.path().join("people.csv"), "groups_file": files.path().join("groups.csv")});
    let spec = tenure_engine::admin::NewSource { name: "hr".into(), kind: "csv".into(), config };
    admin.create_source(spec, tenure_engine::admin::Origin::Local).await?;
    admin.sync(Some("hr"), Default::default()).await?;
    for (email, role) in [
        ("org@acme.example", Role::OrgAdmin),
        ("auditor@acme.example", Role::Auditor),
        ("bob@acme.example", Role::Auditor),
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

/// The section of a page drawn for one run (`<section class="run" id="run-ID">`).
fn run_section<'a>(html: &'a str, workflow: &str) -> Option<&'a str> {
    html.split(r#"<section class="run""#).skip(1).find(|s| s.contains(&format!("<h3>{workflow} ·"))).map(|s| {
        let end = s.find("</section>").unwrap_or(s.len());
        &s[..end]
    })
}

/// The run id a run's section names.
fn run_id(section: &str) -> String {
    section.split("id=\"run-").nth(1).and_then(|s| s.split('"').next()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn workflow_runs_are_shown_step_by_step_and_approved_by_whom_the_engine_allows() -> anyhow::Result<()> {
    let w = world().await?;
    let org = w.sign_in("org@acme.example").await?;

    // Bad parts are said under their fields, with what was typed kept.
    let (status, html) = org
        .post(
            "/workflows",
            &[("name", "starters"), ("trigger", "start-date"), ("offset_days", "soon"), ("steps", "approval:manager")],
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"id="error-offset_days""#) && html.contains("&#34;soon&#34; is not a number of days"),
        "{html}"
    );
    let (_, html) = org
        .post(
            "/workflows",
            &[
                ("name", "starters"),
                ("trigger", "start-date"),
                ("offset_days", "0"),
                ("steps", "approval:manager\nfly:away"),
            ],
        )
        .await?;
    assert!(html.contains(r#"id="error-steps""#) && html.contains("fly:away"), "{html}");
    assert!(html.contains("approval:manager\nfly:away</textarea>"), "the steps as typed are kept: {html}");
    let (_, html) =
        org.post("/workflows", &[("name", "starters"), ("trigger", "someday"), ("steps", "wait:1")]).await?;
    assert!(html.contains(r#"id="error-trigger""#), "{html}");

    // Two workflows: one the manager approves, one only an org admin may.
    for (name, steps) in [("starters", "approval:manager\nwait:1"), ("welcome", "approval:org-admin")] {
        let (status, html) = org
            .post("/workflows", &[("name", name), ("trigger", "start-date"), ("offset_days", "0"), ("steps", steps)])
            .await?;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(&format!("Workflow {name} added")), "{html}");
    }
    let engine = w.server.contexts.engine(w.tenant);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let html = loop {
        engine.workflow_pass().await?;
        let (_, html) = org.get("/workflows").await?;
        if run_section(&html, "starters").is_some() && run_section(&html, "welcome").is_some() {
            break html;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "no runs: {html}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let starters = run_section(&html, "starters").unwrap_or_default();
    assert!(starters.contains("ada@acme.example") && starters.contains("manager bob@acme.example"), "{starters}");
    assert!(starters.contains("<code>approval:manager</code></td><td>waiting</td>"), "{starters}");
    assert!(starters.contains("<code>wait:1</code></td><td>pending</td>"), "{starters}");
    let (starters_id, welcome_id) = (run_id(starters), run_id(run_section(&html, "welcome").unwrap_or_default()));

    // An auditor sees the runs but no button, and a forged decision from their session is 403.
    let auditor = w.sign_in("auditor@acme.example").await?;
    let (status, html) = auditor.get("/workflows").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("ada@acme.example"), "{html}");
    for button in ["approve-run", "reject-run", "add-workflow", "Remove</button>"] {
        assert!(!html.contains(button), "an auditor sees {button}: {html}");
    }
    let (status, _) = auditor.post(&format!("/workflows/runs/{welcome_id}/approve"), &[]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = auditor.post(&format!("/workflows/runs/{welcome_id}/reject"), &[("reason", "no")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        auditor.post("/workflows", &[("name", "x"), ("trigger", "onboarding"), ("steps", "wait:1")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = auditor.post("/workflows/welcome/remove", &[]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Without the session's form token, even an org admin's POST is refused.
    let (status, _) = org.post_raw(&format!("/workflows/runs/{welcome_id}/approve"), &[]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Bob, the manager (an auditor in Tenure), may decide the manager's approval only.
    let bob = w.sign_in("bob@acme.example").await?;
    let (_, html) = bob.get("/workflows").await?;
    assert!(run_section(&html, "starters").is_some_and(|s| s.contains("approve-run")), "{html}");
    assert!(run_section(&html, "welcome").is_some_and(|s| !s.contains("approve-run")), "{html}");
    let (status, html) = bob.post(&format!("/workflows/runs/{starters_id}/approve"), &[]).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Approved: ada@acme.example"), "{html}");
    let starters = run_section(&html, "starters").unwrap_or_default();
    assert!(starters.contains("<td>approved</td><td></td><td>bob@acme.example</td>"), "who approved: {starters}");
    assert!(!starters.contains("approve-run"), "decided once: {starters}");
    let (status, _) = bob.post(&format!("/workflows/runs/{welcome_id}/approve"), &[]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // An org admin rejects the other: the reason is required, under its field.
    let (status, html) = org.post(&format!("/workflows/runs/{welcome_id}/reject"), &[("reason", "  ")]).await?;
    assert_eq!(status, StatusCode::OK);
    let welcome = run_section(&html, "welcome").unwrap_or_default();
    assert!(welcome.contains("reason-error") && welcome.contains("say why the run is rejected"), "{welcome}");
    let (_, html) = org.post(&format!("/workflows/runs/{welcome_id}/reject"), &[("reason", "a contractor")]).await?;
    let welcome = run_section(&html, "welcome").unwrap_or_default();
    assert!(welcome.contains("run-status\">rejected") && welcome.contains("rejected: a contractor"), "{welcome}");
    // Filtered by person.
    let (_, html) = org.get("/workflows?person=bob%40acme.example").await?;
    assert!(html.contains("No run for bob@acme.example"), "{html}");

    // Removing a workflow cancels its unfinished run.
    let (_, html) = org.post("/workflows/starters/remove", &[]).await?;
    assert!(html.contains("Workflow starters removed; 1 unfinished run(s) cancelled."), "{html}");
    let audited = w.server.store.list_audit(w.tenant, 100).await?;
    for action in ["workflow.add", "workflow.approved", "workflow.rejected", "workflow.remove"] {
        assert!(audited.iter().any(|e| e.action == action && e.actor != "cli"), "{action} audited as the admin");
    }
    Ok(())
}

#[tokio::test]
async fn legal_holds_budgets_and_the_guard_are_shown_and_holds_placed_by_org_admins() -> anyhow::Result<()> {
    let w = world().await?;
    let org = w.sign_in("org@acme.example").await?;
    let (status, html) = org.get("/holds").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Nobody is on legal hold."), "{html}");
    assert!(html.contains(" of 1200 requests in an hour</div>"), "slack's hourly budget: {html}");
    assert!(html.contains("Nobody waits"), "{html}");
    assert!(html.contains("The deprovisioning guard") && html.contains("The guard holds nothing."), "{html}");

    // Refusals under their fields, the typed values kept.
    let (status, html) = org.post("/holds/legal", &[("email", "ada@acme.example"), ("reason", " ")]).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="error-reason""#) && html.contains("a hold needs its reason"), "{html}");
    assert!(html.contains(r#"value="ada@acme.example""#), "{html}");
    let (_, html) = org.post("/holds/legal", &[("email", "nobody@acme.example"), ("reason", "case 12")]).await?;
    assert!(html.contains(r#"id="error-email""#) && html.contains("person nobody@acme.example not found"), "{html}");

    let (_, html) =
        org.post("/holds/legal", &[("email", "ada@acme.example"), ("reason", "case 12: litigation")]).await?;
    assert!(html.contains("ada@acme.example is on legal hold"), "{html}");
    assert!(html.contains("<td>case 12: litigation</td><td>org@acme.example</td>"), "{html}");

    // The auditor sees the hold and no button; their forged POSTs are 403.
    let auditor = w.sign_in("auditor@acme.example").await?;
    let (status, html) = auditor.get("/holds").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("case 12: litigation"), "{html}");
    assert!(!html.contains("lift-hold") && !html.contains("place-hold"), "{html}");
    let (status, _) = auditor.post("/holds/legal/ada%40acme.example/lift", &[]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = auditor.post("/holds/legal", &[("email", "bob@acme.example"), ("reason", "mine")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = org.post_raw("/holds/legal/ada%40acme.example/lift", &[]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "no form token");
    assert_eq!(w.server.contexts.engine(w.tenant).admin(&Actor::cli()).legal_holds().await?.len(), 1);

    // A quarantined app: why, the next attempt and the fix; new credentials lift it.
    let slack = w.server.store.app_by_name(w.tenant, "slack").await?.app.id;
    let minute = Duration::from_secs(60);
    w.server.store.record_app_failure(w.tenant, slack, "HTTP 401: token revoked", 1, minute, minute).await?;
    let (_, html) = org.get("/holds").await?;
    let row = html.split(r#"<tr class="bad"><td><a href="/apps/slack">"#).nth(1).unwrap_or_default();
    assert!(row.contains("<strong>quarantined</strong> after 1 failure(s): HTTP 401: token revoked"), "{html}");
    assert!(row.contains(r#"href="/apps/slack?tab=provisioning#rotate-form">New credentials</a> lift it"#), "{row}");
    let (_, html) = auditor.get("/holds").await?;
    assert!(
        html.contains("token revoked") && !html.contains("New credentials</a>"),
        "the auditor is told, not offered"
    );
    let (_, page) = org.get("/apps/slack?tab=provisioning").await?;
    let version =
        page.split(r#"name="version" value=""#).nth(1).and_then(|s| s.split('"').next()).unwrap_or_default().to_owned();
    let token = w._slack.token().to_owned();
    let (status, _) = org.post("/apps/slack/credentials", &[("version", &version), ("secret", &token)]).await?;
    assert_eq!(status, StatusCode::OK);
    let (_, html) = org.get("/holds").await?;
    assert!(!html.contains("token revoked"), "the quarantine is lifted: {html}");

    let (_, html) = org.post("/holds/legal/ada%40acme.example/lift", &[]).await?;
    assert!(html.contains("legal hold is lifted") && html.contains("Nobody is on legal hold."), "{html}");
    Ok(())
}

#[tokio::test]
async fn apps_of_every_kind_are_added_with_refusals_under_their_fields_and_secrets_never_drawn_back()
-> anyhow::Result<()> {
    let w = world().await?;
    let org = w.sign_in("org@acme.example").await?;
    let (status, html) = org.get("/apps/new").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"href="/apps/new/m365""#) && html.contains(r#"href="/apps/new/manual""#), "{html}");
    let (status, _) = org.get("/apps/new/zoom").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Microsoft 365: a missing tenant is said under its field; the secret typed is not drawn back.
    const SECRET: &str = "graph-client-secret-4f1c9e";
    let (status, html) = org
        .post(
            "/apps/new/m365",
            &[("name", "m365"), ("tenant_id", " "), ("client_id", "c1d"), ("client_secret", SECRET)],
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="error-tenant_id""#) && html.contains("onmicrosoft.com domain"), "{html}");
    assert!(html.contains(r#"value="c1d""#), "what was typed is kept: {html}");
    assert!(!html.contains(SECRET), "the secret is never drawn back");
    let (_, html) = org
        .post(
            "/apps/new/m365",
            &[("name", "m365"), ("tenant_id", "acme.onmicrosoft.com"), ("client_id", "c1d"), ("client_secret", "")],
        )
        .await?;
    assert!(html.contains(r#"id="error-client_secret""#) && html.contains("must not be empty"), "{html}");
    let (_, html) = org
        .post(
            "/apps/new/m365",
            &[
                ("name", "m365"),
                ("tenant_id", "acme.onmicrosoft.com"),
                ("client_id", "c1d"),
                ("client_secret", SECRET),
                ("dry_run", "on"),
            ],
        )
        .await?;
    assert!(html.contains("m365 added (m365)"), "{html}");
    assert!(!html.contains(SECRET), "the secret is never drawn back");
    let admin_cli = Actor::cli();
    let engine = w.server.contexts.engine(w.tenant);
    let m365 = engine.admin(&admin_cli).app("m365").await?;
    assert_eq!(m365.kind, tenure_core::AppKind::M365);
    assert!(m365.settings.dry_run, "the dry-run box was ticked");

    // Box by the authorization-code flow: added, and the consent is started at once.
    let (_, html) = org
        .post(
            "/apps/new/box",
            &[("name", "box"), ("client_id", "boxclient"), ("client_secret", SECRET), ("flow", "authorization_code")],
        )
        .await?;
    assert!(html.contains("box added (box)") && html.contains(r#"id="authorize-link""#), "{html}");
    assert!(
        html.contains("https://account.box.com/api/oauth2/authorize") && html.contains("client_id=boxclient"),
        "{html}"
    );
    assert!(!html.contains(SECRET));
    // Box's client credentials need the enterprise id.
    let (_, html) = org
        .post(
            "/apps/new/box",
            &[("name", "box2"), ("client_id", "b"), ("client_secret", SECRET), ("flow", "client_credentials")],
        )
        .await?;
    assert!(html.contains(r#"id="error-box_enterprise_id""#), "{html}");

    // Dropbox: always the authorization code.
    let (_, html) = org
        .post("/apps/new/dropbox", &[("name", "dropbox"), ("client_id", "dbkey"), ("client_secret", SECRET)])
        .await?;
    assert!(html.contains("dropbox added (dropbox)") && html.contains("client_id=dbkey"), "{html}");

    // Google Workspace: an unusable key is refused under its field and not drawn back.
    let (_, html) = org
        .post(
            "/apps/new/google",
            &[
                ("name", "gws"),
                ("domain", "acme.example"),
                ("admin_email", "it@acme.example"),
                ("service_account_key", ""),
            ],
        )
        .await?;
    assert!(html.contains(r#"id="error-service_account_key""#), "{html}");
    assert!(html.contains(r#"value="acme.example""#), "{html}");

    // A manual app: its owner is required.
    let (_, html) = org.post("/apps/new/manual", &[("name", "payroll"), ("owner", "")]).await?;
    assert!(html.contains(r#"id="error-owner""#), "{html}");
    let (_, html) = org.post("/apps/new/manual", &[("name", "payroll"), ("owner", "pay@acme.example")]).await?;
    assert!(html.contains("payroll added"), "{html}");

    // An auditor: no form, and a forged POST is 403 (and adds nothing).
    let auditor = w.sign_in("auditor@acme.example").await?;
    let (status, _) = auditor.get("/apps/new/manual").await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = auditor.post("/apps/new/manual", &[("name", "mine"), ("owner", "x@acme.example")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = auditor
        .post(
            "/apps/new/box",
            &[("name", "b3"), ("client_id", "b"), ("client_secret", "s"), ("flow", "client_credentials")],
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = org.post_raw("/apps/new/manual", &[("name", "nocsrf"), ("owner", "x@acme.example")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let names: Vec<String> = engine.admin(&admin_cli).apps().await?.into_iter().map(|a| a.name).collect();
    assert!(!names.iter().any(|n| n == "mine" || n == "nocsrf" || n == "b3"), "{names:?}");
    Ok(())
}

#[tokio::test]
async fn an_apps_username_vendor_and_dry_run_and_license_pools_are_edited_in_the_console() -> anyhow::Result<()> {
    let w = world().await?;
    let org = w.sign_in("org@acme.example").await?;
    let engine = w.server.contexts.engine(w.tenant);
    let cli = Actor::cli();

    // userName format, its length and dry run: shown as the app has them, saved as changed.
    let (_, html) = org.get("/apps/slack?tab=provisioning").await?;
    assert!(html.contains("<option selected>handle</option>"), "slack's handles: {html}");
    assert!(html.contains("<option selected>slack</option>"), "its vendor profile: {html}");
    let version =
        html.split(r#"name="version" value=""#).nth(1).and_then(|s| s.split('"').next()).unwrap_or_default().to_owned();
    let keys = html
        .split(r#"name="match_keys" value=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let (_, html) = org
        .post(
            "/apps/slack/settings",
            &[
                ("version", &version),
                ("action", "save"),
                ("match_keys", &keys),
                ("user_name", "bogus"),
                ("user_name_max_len", "21"),
                ("vendor", "slack"),
            ],
        )
        .await?;
    assert!(html.contains(r#"id="error-user_name""#) && html.contains("use email, local-part or handle"), "{html}");
    let (_, html) = org
        .post(
            "/apps/slack/settings",
            &[
                ("version", &version),
                ("action", "save"),
                ("match_keys", &keys),
                ("user_name", "local-part"),
                ("user_name_max_len", "30"),
                ("vendor", "slack"),
                ("dry_run_shown", "1"),
                ("dry_run", "on"),
                ("deprovision", "deactivate"),
            ],
        )
        .await?;
    assert!(html.contains("Saved:"), "{html}");
    let slack = engine.admin(&cli).app("slack").await?;
    assert_eq!(slack.settings.user_name, tenure_core::UserNameFormat::EmailLocalPart { max_len: Some(30) });
    assert!(slack.settings.dry_run);
    assert!(html.contains(r#"id="dry_run" checked"#), "{html}");
    // A form that never showed the box (hand-made, or an older page) leaves dry run on.
    let saved_version =
        html.split(r#"name="version" value=""#).nth(1).and_then(|v| v.split('"').next()).unwrap_or_default().to_owned();
    let (_, html) = org
        .post(
            "/apps/slack/settings",
            &[
                ("version", &saved_version),
                ("action", "save"),
                ("match_keys", &keys),
                ("user_name", "local-part"),
                ("user_name_max_len", "30"),
                ("vendor", "slack"),
                ("deprovision", "deactivate"),
            ],
        )
        .await?;
    assert!(!html.contains("field-error"), "{html}");
    assert!(engine.admin(&cli).app("slack").await?.settings.dry_run, "dry run stays on without the box");

    // License pools: refused fields under them, then set, edited and removed.
    let (status, html) = org.get("/licenses/pools").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No license pool yet."), "{html}");
    let (_, html) =
        org.post("/licenses/pools", &[("app", "slack"), ("seats", "ten"), ("cost_per_seat", "8.75")]).await?;
    assert!(html.contains(r#"id="error-seats""#) && html.contains("&#34;ten&#34; is not a number of seats"), "{html}");
    let (_, html) = org.post("/licenses/pools", &[("app", "slack"), ("seats", "10"), ("cost_per_seat", "-1")]).await?;
    assert!(html.contains(r#"id="error-cost_per_seat""#), "{html}");
    let (_, html) = org
        .post("/licenses/pools", &[("app", "slack"), ("seats", "10"), ("cost_per_seat", "8.75"), ("unused_days", "45")])
        .await?;
    assert!(html.contains(r#"id="error-unused_days""#) && html.contains("30, 60 or 90"), "{html}");
    let (_, html) = org
        .post(
            "/licenses/pools",
            &[
                ("app", "slack"),
                ("seats", "10"),
                ("cost_per_seat", "8.75"),
                ("currency", "USD"),
                ("period", "year"),
                ("renews", "2027-01-31"),
                ("unused_days", "60"),
            ],
        )
        .await?;
    assert!(html.contains("Pool slack set: 10 seat(s) at 8.75 USD a year."), "{html}");
    let (_, html) = org.get("/licenses/pools?app=slack&tier=").await?;
    assert!(
        html.contains(r#"name="seats" value="10""#) && html.contains(r#"name="renews" value="2027-01-31""#),
        "{html}"
    );
    let (_, html) = org
        .post(
            "/licenses/pools",
            &[("app", "slack"), ("seats", "12"), ("cost_per_seat", "8.75"), ("currency", "USD"), ("period", "month")],
        )
        .await?;
    assert!(html.contains("Pool slack set: 12 seat(s)"), "{html}");
    let pools = engine.admin(&cli).licenses().await?;
    assert_eq!((pools.len(), pools[0].seats, pools[0].period.as_str()), (1, 12, "month"));
    // Where a freed seat goes: refused when unknown, kept by the form once chosen.
    let pool_with = |freed_to: &'static str| {
        [("app", "slack"), ("seats", "12"), ("cost_per_seat", "8.75"), ("currency", "USD"), ("freed_to", freed_to)]
    };
    let (_, html) = org.post("/licenses/pools", &pool_with("floor")).await?;
    assert!(html.contains(r#"id="error-freed_to""#) && html.contains("line, department or team"), "{html}");
    org.post("/licenses/pools", &pool_with("department")).await?;
    let (_, html) = org.get("/licenses/pools?app=slack&tier=").await?;
    assert!(html.contains(r#"<option value="department" selected>"#), "{html}");
    assert_eq!(engine.admin(&cli).licenses().await?[0].freed_to.as_str(), "department");

    // The auditor sees the terms, no form, and a forged change is 403.
    let auditor = w.sign_in("auditor@acme.example").await?;
    let (status, html) = auditor.get("/licenses/pools").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<td>12</td>") && !html.contains("pool-form") && !html.contains("remove-pool"), "{html}");
    let (status, _) =
        auditor.post("/licenses/pools", &[("app", "slack"), ("seats", "1"), ("cost_per_seat", "1")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        auditor.post("/licenses/pools", &[("app", "slack"), ("seats", "x"), ("cost_per_seat", "1")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "a bad field from a role that may not is still 403");
    let (status, _) = auditor.post("/licenses/pools/remove", &[("app", "slack")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        auditor.post("/apps/slack/settings", &[("version", &version), ("action", "save"), ("dry_run", "")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, html) = org.post("/licenses/pools/remove", &[("app", "slack"), ("tier", "")]).await?;
    assert!(html.contains("Pool slack removed.") && html.contains("No license pool yet."), "{html}");
    Ok(())
}

#[tokio::test]
async fn an_ldap_source_is_added_with_refusals_under_their_fields_and_its_password_never_shown() -> anyhow::Result<()> {
    let w = world().await?;
    let org = w.sign_in("org@acme.example").await?;
    let (_, html) = org.get("/sources").await?;
    assert!(html.contains(r#"href="/sources/new/ldap""#), "{html}");
    const PASSWORD_TYPED: &str = "bind-password-9d2e7a";
    let base = [
        ("name", "directory"),
        ("bind_dn", "cn=tenure,dc=acme,dc=example"),
        ("password", PASSWORD_TYPED),
        ("user_bases", "ou=people,dc=acme,dc=example"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        all
    };
    let (status, html) = org.post("/sources/new/ldap", &with(&[("url", "ldap://ldap.acme.example")])).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="error-url""#) && html.contains("in clear"), "{html}");
    assert!(!html.contains(PASSWORD_TYPED), "the password is never drawn back");
    assert!(html.contains(r#"value="cn=tenure,dc=acme,dc=example""#), "what was typed is kept");
    let (_, html) = org
        .post(
            "/sources/new/ldap",
            &with(&[("url", "ldaps://ldap.acme.example"), ("user_filter", "(objectClass=person")]),
        )
        .await?;
    assert!(html.contains(r#"id="error-user_filter""#), "{html}");
    let mut no_password = with(&[("url", "ldaps://ldap.acme.example")]);
    no_password.retain(|(k, _)| *k != "password");
    let (_, html) = org.post("/sources/new/ldap", &no_password).await?;
    assert!(html.contains(r#"id="error-password""#), "{html}");

    let (_, html) = org
        .post("/sources/new/ldap", &with(&[("url", "ldaps://ldap.acme.example"), ("flavor", "active_directory")]))
        .await?;
    assert!(html.contains("directory added (ldap)"), "{html}");
    assert!(!html.contains(PASSWORD_TYPED));
    let (_, html) = org.get("/sources").await?;
    assert!(html.contains("directory") && !html.contains(PASSWORD_TYPED), "{html}");

    let auditor = w.sign_in("auditor@acme.example").await?;
    let (status, _) = auditor.get("/sources/new/ldap").await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = auditor.post("/sources/new/ldap", &with(&[("url", "ldaps://x.example")])).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    Ok(())
}
