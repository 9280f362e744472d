//! The OAuth 2.0 authorization-code "Verify" flow end to end, in process: the server on port 0,
//! a local authorization server (testkit's `OAuthFake`: PKCE, single-use codes, rotating
//! refresh tokens, reuse detection) and a sandbox SCIM app that accepts only that server's
//! tokens. The browser is played by following the redirect by hand.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_core::*;
use tenure_engine::Engine;
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::{AppAuth, Store, TokenScope};
use tenure_testkit::oauth_fake::{CLIENT_SECRET, OAuthFake};
use tenure_testkit::{TestBackend, TestDb, eventually};

/// Everything the process logs at DEBUG while the test runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

fn person(key: &str, email: &str) -> ImportedPerson {
    tenure_testkit::person(key, email)
}

struct World {
    db: TestDb,
    store: Store,
    tenant: TenantId,
    source: SourceId,
    base: String,
    admin: String,
    fake: OAuthFake,
    sandbox: SandboxApp,
    http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Access tokens live this long, so a test sees them expire.
const LIFETIME: Duration = Duration::from_secs(2);

async fn world() -> anyhow::Result<World> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("default").await?;
    let admin = tenure_server::tokens::generate();
    store.insert_token(tenant, TokenScope::Admin, &tenure_server::tokens::hash(&admin), None).await?;

    let fake = OAuthFake::start(LIFETIME, &["scim"]).await?;
    let sandbox = SandboxApp::spawn(SandboxOptions {
        rate_limit_per_sec: None,
        ..SandboxOptions::new(Profile::Notion, "sandbox-static-token")
    })
    .await?;
    sandbox.accept_tokens_from(fake.validator());
    let auth = AppAuth::OauthAuthorizationCode {
        authorize_url: fake.authorize_url(),
        token_url: fake.token_url(),
        client_id: tenure_testkit::oauth_fake::CLIENT_ID.into(),
        scope: Some("scim".into()),
        client_auth: Default::default(),
    };
    let app = store
        .add_app_with_auth(
            tenant,
            "notion",
            AppKind::Scim,
            &sandbox.base_url(),
            &auth,
            &Secret::new(CLIENT_SECRET),
            &AppSettings::default(),
        )
        .await?;
    let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
    store
        .apply_import(tenant, source, &ImportBatch { people: vec![person("E1", "ann@x.com")], groups: vec![] })
        .await?;
    let eng = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Eng")?);
    store.assign(tenant, app.id, &eng, false, &AssignmentParams::default()).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = tenure_server::ServerState::new(store.clone()).with_public_url(format!("{base}/"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tenure_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A browser would follow the redirect; the test does it by hand to see it.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    Ok(World { db, store, tenant, source, base, admin, fake, sandbox, http, _stop: stop })
}

impl World {
    async fn post(&self, path: &str) -> anyhow::Result<(u16, serde_json::Value)> {
        let res = self.http.post(format!("{}/api/v1{path}", self.base)).bearer_auth(&self.admin).send().await?;
        Ok((res.status().as_u16(), res.json().await?))
    }

    async fn verify(&self) -> anyhow::Result<serde_json::Value> {
        let (status, body) = self.post("/apps/notion/verify").await?;
        anyhow::ensure!(status == 200, "verify: {status} {body}");
        Ok(body)
    }

    /// Starts an authorization and plays the browser up to the callback URL the authorization
    /// server redirects to.
    async fn consent(&self) -> anyhow::Result<String> {
        let (status, start) = self.post("/apps/notion/oauth/authorize").await?;
        anyhow::ensure!(status == 200, "authorize: {status} {start}");
        assert_eq!(start["redirect_uri"], format!("{}/oauth/callback", self.base));
        let url = start["authorize_url"].as_str().unwrap_or_default();
        let at_server = self.http.get(url).send().await?;
        assert_eq!(at_server.status(), 302);
        let location = at_server.headers()["location"].to_str()?.to_owned();
        assert!(location.starts_with(&format!("{}/oauth/callback?", self.base)), "{location}");
        Ok(location)
    }

    async fn callback(&self, url: &str) -> anyhow::Result<(u16, String)> {
        let res = self.http.get(url).send().await?;
        let status = res.status().as_u16();
        if status != 200 {
            assert_eq!(res.headers()["cache-control"], "no-store");
        }
        Ok((status, res.text().await?))
    }

    async fn add_person(&self, key: &str, email: &str, so_far: &mut Vec<ImportedPerson>) -> anyhow::Result<()> {
        so_far.push(person(key, email));
        let batch = ImportBatch { people: so_far.clone(), groups: vec![] };
        self.store.apply_import(self.tenant, self.source, &batch).await?;
        Ok(())
    }

    /// Waits until the stored access token has expired.
    async fn access_token_expired(&self, store: &Store) -> anyhow::Result<()> {
        let app = store.app_by_name(self.tenant, "notion").await?.app.id;
        eventually(LIFETIME * 5, || async {
            let grant = store.oauth_grant(self.tenant, app).await.ok().flatten()?;
            let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
            (grant.tokens.expires_ms.is_some_and(|e| i128::from(e) <= now)).then_some(())
        })
        .await
    }

    async fn stored_refresh_token(&self, store: &Store) -> anyhow::Result<Option<String>> {
        let app = store.app_by_name(self.tenant, "notion").await?.app.id;
        let grant = store.oauth_grant(self.tenant, app).await?;
        Ok(grant.and_then(|g| g.tokens.refresh_token).map(|r| r.expose().to_owned()))
    }
}

async fn provision(engine: &Engine) -> anyhow::Result<()> {
    let plans = engine.plan(None, tenure_engine::today()).await?;
    let report = engine.apply(plans).await?;
    anyhow::ensure!(report.failed() == 0, "{report:?}");
    Ok(())
}

#[tokio::test]
async fn verify_authorizes_provisions_refreshes_survives_a_restart_and_reports_revocation() -> anyhow::Result<()> {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let w = world().await?;

    // Not authorized yet: Verify says so and what to do.
    let before = w.verify().await?;
    assert_eq!(before["ok"], false, "{before}");
    assert_eq!(before["auth"], "oauth_authorization_code");
    assert!(before["message"].as_str().unwrap_or_default().contains("not been authorized"), "{before}");
    assert!(before["action"].as_str().unwrap_or_default().contains("/oauth/authorize"), "{before}");

    // Verify → consent → callback.
    let callback = w.consent().await?;
    let code = url::Url::parse(&callback)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let (status, page) = w.callback(&callback).await?;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("now authorized to reach notion"), "{page}");
    // The same callback again (a reload, a replay): the state is spent.
    let (status, page) = w.callback(&callback).await?;
    assert_eq!(status, 400);
    assert!(page.contains("already used"), "{page}");

    let verdict = w.verify().await?;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["grant"]["refresh_token"], true, "{verdict}");
    // The actor is the admin token that started it, by label and id.
    let by = verdict["grant"]["authorized_by"].as_str().unwrap_or_default();
    assert!(by.starts_with("token:unlabelled:"), "{verdict}");

    // Provisioning with the granted token.
    let mut people = vec![person("E1", "ann@x.com")];
    let engine = Engine::new(w.store.clone(), w.tenant);
    provision(&engine).await?;
    assert_eq!(w.sandbox.user_count(), 1);

    // The access token expires: the next operation refreshes it, and the rotated refresh token
    // is what the store keeps.
    w.access_token_expired(&w.store).await?;
    let refreshes = w.fake.refreshes();
    w.add_person("E2", "bob@x.com", &mut people).await?;
    provision(&engine).await?;
    assert_eq!(w.sandbox.user_count(), 2);
    assert!(w.fake.refreshes() > refreshes, "the expired token was refreshed");
    assert_eq!(w.stored_refresh_token(&w.store).await?, w.fake.live_refresh_token(), "rotation persisted");

    // A restart: a new store connection and engine on the same database. The refresh uses the
    // persisted, rotated token (an old one would make the fake revoke the whole grant).
    drop(engine);
    let restarted = Store::connect_with_keys(
        w.db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let engine = Engine::new(restarted.clone(), w.tenant);
    w.access_token_expired(&restarted).await?;
    let refreshes = w.fake.refreshes();
    w.add_person("E3", "cy@x.com", &mut people).await?;
    provision(&engine).await?;
    assert_eq!(w.sandbox.user_count(), 3);
    assert!(w.fake.refreshes() > refreshes);
    assert_eq!(w.stored_refresh_token(&restarted).await?, w.fake.live_refresh_token());

    // Consent withdrawn at the authorization server: a clear "re-authorize", once asked.
    w.fake.revoke_grants();
    let revoked = w.verify().await?;
    assert_eq!(revoked["ok"], false, "{revoked}");
    let message = revoked["message"].as_str().unwrap_or_default();
    assert!(message.contains("re-authorize the app") && message.contains("invalid_grant"), "{revoked}");
    assert!(revoked["action"].as_str().unwrap_or_default().starts_with("re-authorize"), "{revoked}");
    let refused = w.fake.refused();
    let again = w.verify().await?;
    assert!(again["grant"]["revoked"].as_str().unwrap_or_default().contains("invalid_grant"), "{again}");
    assert_eq!(w.fake.refused(), refused, "a revoked grant is not tried again");
    // What an operation meets: the app's client fails at once, non-retryable, counted like a 401.
    let record = restarted.app_by_name(w.tenant, "notion").await?;
    let client = tenure_engine::app_auth::scim_client(&restarted, w.tenant, &record, Default::default())?;
    let err = client.list_users().await.expect_err("the grant is revoked");
    assert!(err.to_string().contains("re-authorize the app"), "{err}");
    assert!(!err.is_retryable() && err.status() == Some(401), "{err:?}");
    let planned = engine.plan(None, tenure_engine::today()).await.expect_err("the app cannot be read");
    assert!(planned.to_string().contains("app notion") && planned.to_string().contains("re-authorize"), "{planned}");

    // Re-authorizing brings it back.
    let (status, page) = w.callback(&w.consent().await?).await?;
    assert_eq!(status, 200, "{page}");
    assert_eq!(w.verify().await?["ok"], true);

    // Nothing secret in the logs or the audit export; the events are there.
    let audit =
        w.http.get(format!("{}/api/v1/audit/export", w.base)).bearer_auth(&w.admin).send().await?.text().await?;
    for action in
        ["app.oauth_started", "app.oauth_authorized", "app.oauth_refused", "app.oauth_revoked", "app.verified"]
    {
        assert!(audit.contains(action), "{action} missing from the audit log:\n{audit}");
    }
    let logs = logs.text();
    assert!(logs.contains("OAuth authorization completed"), "logs were captured");
    let tokens = w.fake.every_token();
    assert!(tokens.len() >= 4, "{tokens:?}");
    for secret in tokens.iter().map(String::as_str).chain([code.as_str(), CLIENT_SECRET]) {
        assert!(!logs.contains(secret), "{secret} in the logs");
        assert!(!audit.contains(secret), "{secret} in the audit export");
    }
    Ok(())
}

#[tokio::test]
async fn refused_consent_and_bad_states_authorize_nothing() -> anyhow::Result<()> {
    let w = world().await?;
    let app = w.store.app_by_name(w.tenant, "notion").await?.app.id;

    // The person at the authorization server says no.
    w.fake.deny_consent(true);
    let (status, page) = w.callback(&w.consent().await?).await?;
    assert_eq!(status, 400);
    assert!(page.contains("access_denied") && page.contains("&lt;consent&gt;"), "escaped: {page}");
    assert!(!page.contains("<consent>"), "{page}");
    w.fake.deny_consent(false);

    // A state Tenure never issued, none at all, or one past its ten minutes.
    let (status, page) = w.callback(&format!("{}/oauth/callback?code=abc&state=forged", w.base)).await?;
    assert_eq!(status, 400);
    assert!(page.contains("unknown state"), "{page}");
    let (status, page) = w.callback(&format!("{}/oauth/callback?code=abc", w.base)).await?;
    assert_eq!(status, 400);
    assert!(page.contains("no state"), "{page}");
    let redirect = format!("{}/oauth/callback", w.base);
    w.store
        .start_oauth_authorization(w.tenant, app, &Secret::new("stale"), &Secret::new("v"), &redirect, "api", -1)
        .await?;
    let (status, page) = w.callback(&format!("{redirect}?code=abc&state=stale")).await?;
    assert_eq!(status, 400);
    assert!(page.contains("expired"), "{page}");

    // A code presented with another authorization's state fails PKCE at the server.
    let first = w.consent().await?;
    let second = w.consent().await?;
    let code = |u: &str| -> anyhow::Result<(String, String)> {
        let url = url::Url::parse(u)?;
        let get = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned()).unwrap_or_default();
        Ok((get("code"), get("state")))
    };
    let ((code1, _), (_, state2)) = (code(&first)?, code(&second)?);
    let (status, page) = w.callback(&format!("{redirect}?code={code1}&state={state2}")).await?;
    assert_eq!(status, 502, "{page}");
    assert!(page.contains("invalid_grant") && page.contains("PKCE"), "{page}");

    assert!(w.store.oauth_grant(w.tenant, app).await?.is_none(), "nothing was authorized");
    assert_eq!(w.verify().await?["ok"], false);

    // Without a public URL the server cannot name a redirect URI, and says so.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let other = format!("http://{}", listener.local_addr()?);
    tokio::spawn(tenure_server::serve(
        listener,
        tenure_server::ServerState::new(w.store.clone()),
        std::future::pending::<()>(),
    ));
    let res = w.http.post(format!("{other}/api/v1/apps/notion/oauth/authorize")).bearer_auth(&w.admin).send().await?;
    assert_eq!(res.status(), 409);
    assert!(res.text().await?.contains("--public-url"));
    Ok(())
}

/// The console's Provisioning tab starts the same authorization: it answers a link to the
/// authorization server (the console's policy keeps forms on this server), whose callback the
/// consent then reaches.
#[tokio::test]
async fn the_console_starts_the_authorization_with_a_link() -> anyhow::Result<()> {
    let w = world().await?;
    let hash = tenure_engine::admin::hash_password(&Secret::new("console password 1"))?;
    let mut tx = w.store.begin().await?;
    tx.insert_admin(w.tenant, "ann@x.com", tenure_core::Role::OrgAdmin, &[], Some(&hash)).await?;
    tx.commit().await?;
    let signed_in = w
        .http
        .post(format!("{}/login", w.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=ann%40x.com&password=console+password+1")
        .send()
        .await?;
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str()?.split(';').next().unwrap_or_default().to_owned();
    let page = w.http.get(format!("{}/apps/notion", w.base)).header("cookie", &cookie).send().await?.text().await?;
    assert!(page.contains(r#"id="authorize""#), "{page}");
    let csrf = page.split(r#"name="csrf" value=""#).nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
    let page = w
        .http
        .post(format!("{}/apps/notion/authorize", w.base))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await?
        .text()
        .await?;
    let link = page
        .split(r#"id="authorize-link" href=""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(link.starts_with(&w.fake.authorize_url()), "{link} / {page}");
    let at_server = w.http.get(&link).send().await?;
    assert_eq!(at_server.status(), 302, "the authorization server takes the console's link");
    Ok(())
}
