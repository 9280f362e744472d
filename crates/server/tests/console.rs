//! The web console over HTTP: sign-in (cookie, wrong password, limits), every screen answering
//! 200 with the tenant's data, the anti-forgery check, the security headers, and the roles (an
//! auditor sees no action and a forged POST of theirs is 403; an app admin sees only their apps).
//! A real server on port 0, a fresh database, sandbox apps.

mod common;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use serde_json::json;
use tenure_core::{Role, Secret};
use tenure_engine::Actor;
use tenure_engine::admin::NewAdmin;

const PASSWORD: &str = "correct horse battery staple";
const PEOPLE: &str = "employee_id,email,given_name,family_name,groups\n\
E1,ada@acme.example,Ada,Lovelace,eng\n\
E2,bob@acme.example,Bob,Builder,eng\n";
const GROUPS: &str = "name,parents\neng,\n";

struct World {
    server: common::Server,
    http: reqwest::Client,
    _slack: tenure_sandbox::SandboxApp,
    _notion: tenure_sandbox::SandboxApp,
    _files: tempfile::TempDir,
}

async fn world() -> anyhow::Result<World> {
    world_on(tenure_testkit::TestBackend::Sqlite).await
}

async fn world_on(backend: tenure_testkit::TestBackend) -> anyhow::Result<World> {
    let files = tempfile::tempdir()?;
    let server = common::Server::start_with(backend, Some(files.path().join("files"))).await?;
    let tenant = server.store.ensure_tenant("acme").await?;
    let slack = common::sandbox(tenure_sandbox::Profile::Slack).await?;
    let notion = common::sandbox(tenure_sandbox::Profile::Notion).await?;
    let cli = Actor::cli();
    let engine = server.contexts.engine(tenant);
    let admin = engine.admin(&cli);
    for (name, app) in [("slack", &slack), ("notion", &notion)] {
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
                settings: Default::default(),
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
    Ok(World { server, http, _slack: slack, _notion: notion, _files: files })
}

use common::console::{Forms, form};

type Browser = common::console::Session;

impl World {
    async fn post_login(&self, email: &str, password: &str) -> anyhow::Result<reqwest::Response> {
        common::console::post_login(&self.http, &self.server.base, email, password).await
    }

    /// A session whose forms send what the test gives (the token included, from `token()`).
    async fn sign_in(&self, email: &str) -> anyhow::Result<Browser> {
        Browser::sign_in(&self.http, &self.server.base, email, PASSWORD, Forms::AsGiven).await
    }
}

#[tokio::test]
async fn an_admin_signs_in_and_every_screen_names_the_tenants_data() -> anyhow::Result<()> {
    let w = world().await?;
    // Signed out: every page leads to the sign-in form.
    let response = w.http.get(format!("{}/", w.server.base)).send().await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/login");
    let response = w.http.get(format!("{}/login", w.server.base)).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let policy = headers["content-security-policy"].to_str()?;
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let html = response.text().await?;
    assert!(html.contains(r#"name="email""#) && html.contains(r#"name="password""#) && !html.contains("<script>"));

    let response = w.post_login("Org@Acme.example", PASSWORD).await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/");
    let set = response.headers()[SET_COOKIE].to_str()?.to_owned();
    assert!(set.starts_with("tenure_session=tnr_"), "{set}");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && !set.contains("Secure"), "{set}");
    let b = Browser::with_cookie(&w.http, &w.server.base, set.split(';').next().unwrap_or_default(), Forms::AsGiven);

    let (status, html) = b.get("/").await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("slack") && html.contains("notion") && html.contains("<svg"), "{html}");
    let (status, html) = b.get("/apps").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"href="/apps/slack""#) && html.contains(r#"href="/apps/notion""#), "{html}");
    for path in [
        "/apps/slack",
        "/apps/slack?tab=users",
        "/apps/slack?tab=users&q=ada",
        "/apps/slack?tab=assignments",
        "/apps/slack?tab=activity",
        "/plans",
        "/people",
        "/people?q=ada",
        "/people/ada@acme.example",
        "/sources",
        "/audit",
        "/audit?action=console",
        "/admins",
    ] {
        let (status, html) = b.get(path).await?;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        assert!(html.contains("org@acme.example"), "{path} names who is signed in");
    }
    let (_, html) = b.get("/people/ada@acme.example").await?;
    assert!(html.contains("Lovelace") && html.contains("eng"), "{html}");
    let (_, html) = b.get("/audit?action=console").await?;
    assert!(html.contains("console.sign_in"), "the sign-in is audited: {html}");

    // Assign a group with a preview first, then save it.
    let token = b.token().await?;
    let pairs = [("csrf", token.as_str()), ("kind", "group"), ("target", "eng"), ("action", "preview")];
    let (status, html) = b.post("/apps/slack/assignments", &pairs).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Preview") && html.contains("2 operation(s) added"), "{html}");
    assert!(w.server.store.list_apps(w.server.store.ensure_tenant("acme").await?).await?.len() == 2);
    let pairs = [("csrf", token.as_str()), ("kind", "group"), ("target", "eng"), ("action", "save")];
    let (status, html) = b.post("/apps/slack/assignments", &pairs).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Saved") && html.contains("<td>eng</td>"), "{html}");

    // Verify runs the connection test and the probe.
    let (status, html) = b.post("/apps/slack/verify", &[("csrf", &token)]).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Connection works"), "{html}");

    // Sign-out ends the session for good.
    let (status, _) = b.post("/logout", &[("csrf", &token)]).await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = b.get("/apps").await?;
    assert_eq!(status, StatusCode::SEE_OTHER, "the old cookie opens nothing");
    Ok(())
}

#[tokio::test]
async fn a_wrong_password_is_refused_alike_and_attempts_are_limited() -> anyhow::Result<()> {
    let w = world().await?;
    let wrong = w.post_login("org@acme.example", "not the password at all").await?;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    let wrong = wrong.text().await?;
    let nobody = w.post_login("nobody@acme.example", PASSWORD).await?.text().await?;
    let message = "Wrong email or password, or too many attempts";
    assert!(wrong.contains(message) && nobody.contains(message));
    let empty = w
        .http
        .post(format!("{}/login", w.server.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await?;
    assert_eq!(empty.status(), StatusCode::UNAUTHORIZED, "missing fields are a refusal, not an error");
    for _ in 0..4 {
        w.post_login("org@acme.example", "still not the password").await?;
    }
    let limited = w.post_login("org@acme.example", PASSWORD).await?;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS, "five failures stop even the right password");
    assert!(limited.text().await?.contains(message));
    // Another admin is not held back by Org's failures.
    w.sign_in("auditor@acme.example").await?;
    let b = w.sign_in("auditor@acme.example").await?;
    let (_, html) = b.get("/audit?action=console.sign_in_refused").await?;
    assert!(html.contains("org@acme.example"), "refusals are audited in the admin's tenant: {html}");
    Ok(())
}

#[tokio::test]
async fn a_post_without_the_sessions_token_is_refused() -> anyhow::Result<()> {
    let w = world().await?;
    let b = w.sign_in("org@acme.example").await?;
    for pairs in [vec![], vec![("csrf", "tnr_forged")]] {
        let (status, html) = b.post("/apps/slack/verify", &pairs).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
        assert!(html.contains("anti-forgery"), "{html}");
        let (status, _) = b.post("/logout", &pairs).await?;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // Another session's token is not this one's.
    let other = w.sign_in("org@acme.example").await?;
    let (status, _) = b.post("/plans/x/decide", &[("csrf", &other.token().await?), ("decision", "approve")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A POST with no session at all goes to the sign-in.
    let response = w.http.post(format!("{}/apps/slack/verify", w.server.base)).send().await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // A sign-in posted from another site's page is refused.
    let response = w
        .http
        .post(format!("{}/login", w.server.base))
        .header("origin", "https://evil.example")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("email", "org@acme.example"), ("password", PASSWORD)]))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = w
        .http
        .post(format!("{}/login", w.server.base))
        .header("origin", "null")
        .header("sec-fetch-site", "cross-site")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("email", "org@acme.example"), ("password", PASSWORD)]))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    Ok(())
}

#[tokio::test]
async fn pages_follow_the_admins_role() -> anyhow::Result<()> {
    let w = world().await?;
    let auditor = w.sign_in("auditor@acme.example").await?;
    for path in [
        "/",
        "/apps",
        "/apps/slack",
        "/apps/slack?tab=users",
        "/apps/slack?tab=assignments",
        "/plans",
        "/sources",
        "/admins",
    ] {
        let (status, html) = auditor.get(path).await?;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!html.contains(r#"class="action"#), "an auditor sees no action on {path}: {html}");
    }
    let token = auditor.token().await?;
    for (path, pairs) in [
        ("/apps/slack/verify", vec![("csrf", token.as_str())]),
        (
            "/apps/slack/assignments",
            vec![("csrf", token.as_str()), ("kind", "group"), ("target", "eng"), ("action", "save")],
        ),
        ("/sources/hr/sync", vec![("csrf", token.as_str())]),
        ("/admins", vec![("csrf", token.as_str()), ("email", "x@acme.example"), ("role", "org-admin")]),
    ] {
        let (status, html) = auditor.post(path, &pairs).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "a forged {path} from an auditor: {html}");
    }

    let app_admin = w.sign_in("notion-admin@acme.example").await?;
    let (status, html) = app_admin.get("/apps").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("/apps/notion") && !html.contains("/apps/slack"), "{html}");
    let (_, html) = app_admin.get("/").await?;
    assert!(!html.contains("slack"), "the overview shows only their apps: {html}");
    assert!(!html.contains(r#"href="/people""#) && !html.contains(r#"href="/audit""#));
    let (status, _) = app_admin.get("/apps/slack").await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app_admin.get("/people").await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, html) = app_admin.get("/apps/notion?tab=assignments").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"class="action"#), "their own app has its actions");
    Ok(())
}

#[tokio::test]
async fn the_cookie_is_secure_behind_tls_and_assets_are_embedded() -> anyhow::Result<()> {
    let w = world().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state =
        tenure_server::ServerState::with_contexts(w.server.contexts.clone()).with_public_url("https://tenure.example");
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tenure_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let response = w
        .http
        .post(format!("{base}/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("email", "org@acme.example"), ("password", PASSWORD)]))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers()[SET_COOKIE].to_str()?.contains("; Secure"));

    let response = w.http.get(format!("{}/console/assets/htmx-2.0.11.min.js", w.server.base)).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["cache-control"].to_str()?.contains("max-age=31536000"));
    assert!(response.text().await?.contains("htmx"));
    let response = w.http.get(format!("{}/console/assets/console.css", w.server.base)).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn sessions_open_and_end_on_postgres_too() -> anyhow::Result<()> {
    let w = world_on(tenure_testkit::TestBackend::Postgres).await?;
    let wrong = w.post_login("org@acme.example", "not the password at all").await?;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let b = w.sign_in("org@acme.example").await?;
    let (status, html) = b.get("/apps").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("slack") && html.contains("notion"));
    let (status, _) = b.post("/logout", &[("csrf", &b.token().await?)]).await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(b.get("/").await?.0, StatusCode::SEE_OTHER);
    // Removing an admin ends their sessions.
    let again = w.sign_in("auditor@acme.example").await?;
    let tenant = w.server.store.ensure_tenant("acme").await?;
    w.server.contexts.engine(tenant).admin(&Actor::cli()).remove_admin("auditor@acme.example").await?;
    assert_eq!(again.get("/").await?.0, StatusCode::SEE_OTHER);
    Ok(())
}

#[tokio::test]
async fn a_held_plan_is_shown_with_its_losses_and_approved_by_whoever_may_change_the_app() -> anyhow::Result<()> {
    use tenure_core::{OpKind, PersonId, PlannedOp, Reason, Revocation};
    let w = world().await?;
    let store = &w.server.store;
    let tenant = store.ensure_tenant("acme").await?;
    let slack = store.app_by_name(tenant, "slack").await?.app.id;
    // A hold over slack holding one loss, as the guard leaves it.
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let mut tx = store.begin_guarded(tenant).await?;
    let summary = json!({"hold": {"scope": "app", "app": "slack", "app_id": slack}, "apps": [], "held": []});
    let plan = tx.start_hold(tenure_core::guard::HoldScope::App(slack), &summary, now).await?;
    let op = PlannedOp {
        app_id: slack,
        person_id: PersonId::new(),
        person: "bob@acme.example".into(),
        kind: OpKind::Deactivate { remote_id: "nobody".into() },
        reason: Reason::Revoked { revocation: Revocation::Unassigned, by: None },
    };
    tx.hold_loss(plan, &op, "", now).await?;
    tx.commit().await?;

    let auditor = w.sign_in("auditor@acme.example").await?;
    let (_, html) = auditor.get("/plans").await?;
    assert!(html.contains("bob@acme.example") && !html.contains("Approve"), "{html}");
    let path = format!("/plans/{plan}/decide");
    let (status, _) = auditor.post(&path, &[("csrf", &auditor.token().await?), ("decision", "approve")]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let org = w.sign_in("org@acme.example").await?;
    let (_, html) = org.get("/plans").await?;
    assert!(html.contains("deactivate bob@acme.example") && html.contains("Approve"), "{html}");
    let (status, html) = org.post(&path, &[("csrf", &org.token().await?), ("decision", "approve")]).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("approved"), "{html}");
    let (_, html) = org.get("/audit?action=plan").await?;
    assert!(html.contains("org@acme.example"), "the decision is audited under the admin's name: {html}");
    Ok(())
}

#[tokio::test]
async fn an_org_admin_manages_admins_tokens_and_failed_operations() -> anyhow::Result<()> {
    use tenure_core::{OpKind, PersonId, PlannedOp, Reason, Revocation};
    let w = world().await?;
    let b = w.sign_in("org@acme.example").await?;
    let token = b.token().await?;
    let t = token.as_str();
    let (status, html) =
        b.post("/admins", &[("csrf", t), ("email", "new@acme.example"), ("role", "auditor"), ("password", "")]).await?;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("new@acme.example added as auditor"), "{html}");
    let (_, html) =
        b.post("/admins/new@acme.example/role", &[("csrf", t), ("role", "app-admin"), ("apps", "slack")]).await?;
    assert!(html.contains("new@acme.example is now app-admin"), "{html}");
    let (_, html) = b.post("/admins", &[("csrf", t), ("email", "not an email"), ("role", "auditor")]).await?;
    assert!(html.contains("notice bad") && html.contains("email"), "a bad field is said on the page: {html}");
    let (_, html) =
        b.post("/tokens", &[("csrf", t), ("label", "ci"), ("admin", "new@acme.example"), ("scope", "admin")]).await?;
    let shown = html.split(r#"<code id="new-token">"#).nth(1).and_then(|r| r.split('<').next()).unwrap_or_default();
    assert!(shown.starts_with("tnr_"), "the token is shown once: {html}");
    let http = common::client();
    let whoami = http.get(format!("{}/api/v1/whoami", w.server.base)).bearer_auth(shown).send().await?;
    assert_eq!(whoami.status(), 200, "the console's token works on the API");
    let tenant = w.server.store.ensure_tenant("acme").await?;
    let id = w.server.store.list_tokens(tenant).await?.first().map(|t| t.id.to_string()).unwrap_or_default();
    let (_, html) = b.post(&format!("/tokens/{id}/revoke"), &[("csrf", t)]).await?;
    assert!(html.contains("revoked"), "{html}");
    let (_, html) = b.post("/admins/new@acme.example/remove", &[("csrf", t)]).await?;
    assert!(html.contains("new@acme.example removed"), "{html}");

    // A failed operation: retried, then (failed again) dismissed.
    let store = &w.server.store;
    let slack = store.app_by_name(tenant, "slack").await?.app.id;
    let op = PlannedOp {
        app_id: slack,
        person_id: PersonId::new(),
        person: "bob@acme.example".into(),
        kind: OpKind::Deactivate { remote_id: "nobody".into() },
        reason: Reason::Revoked { revocation: Revocation::Unassigned, by: None },
    };
    let plan = store.save_plan(tenant, &[op], &json!({})).await?;
    let fail = || async {
        let lease = std::time::Duration::from_secs(60);
        let claimed = store.claim_operations(tenant, "test", 10, lease, Some(plan)).await?;
        let rec = claimed.first().ok_or_else(|| anyhow::anyhow!("nothing claimed"))?;
        store.settle_operation(tenant, rec.id, "test", tenure_store::Settlement::failed("the app refused")).await?;
        anyhow::Ok(rec.id)
    };
    let op = fail().await?;
    let (_, html) = b.get("/apps/slack?tab=activity").await?;
    assert!(html.contains("the app refused") && html.contains("Retry"), "{html}");
    let (_, html) = b.post(&format!("/apps/slack/operations/{op}"), &[("csrf", t), ("what", "retry")]).await?;
    assert!(html.contains("Queued again"), "{html}");
    let op = fail().await?;
    let (_, html) = b.post(&format!("/apps/slack/operations/{op}"), &[("csrf", t), ("what", "dismiss")]).await?;
    assert!(html.contains("Dismissed") && html.contains("<td>dismissed</td>"), "{html}");
    Ok(())
}

#[tokio::test]
async fn a_quarantined_app_is_a_banner_with_its_reason_next_attempt_and_fix() -> anyhow::Result<()> {
    let w = world().await?;
    let store = &w.server.store;
    let tenant = store.ensure_tenant("acme").await?;
    let notion = store.app_by_name(tenant, "notion").await?.app.id;
    let minute = std::time::Duration::from_secs(60);
    let until = store.record_app_failure(tenant, notion, "HTTP 401: token revoked", 1, minute, minute).await?;
    assert!(until.is_some());
    let b = w.sign_in("org@acme.example").await?;
    let (_, html) = b.get("/").await?;
    let banner = html.split(r#"<div class="banner bad" role="alert">"#).nth(1).unwrap_or_default();
    assert!(banner.contains("notion is quarantined") && banner.contains("HTTP 401: token revoked"), "{html}");
    assert!(banner.contains("tries it again at") && banner.contains("/apps/notion?tab=provisioning"), "{banner}");
    let (_, html) = b.get("/apps").await?;
    assert!(html.contains("quarantined"), "{html}");
    Ok(())
}
