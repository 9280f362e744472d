//! The license reclaim workflow end to end, on both backends: a pool's managed accounts unused
//! for its days are asked "still needed?" by email through a real SMTP server (aiosmtpd); the
//! mail carries signed keep / release links to the real server; a GET shows a page and answers
//! nothing, the POST answers once; a release deactivates the account by the app's policy through
//! the queue, audited with "license reclaimed: unused for N days", and keeps it so; a deadline
//! passing on a fake clock releases an unanswered one; a person on legal hold is never asked, a
//! forged link is refused.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tenure_core::import::ImportBatch;
use tenure_engine::admin::{
    ActivityEntry, ActivityUpload, AssignmentSpec, ChannelSpec, LegalHoldSpec, LicenseSpec, NewApp, NewAppKind,
    ReclaimSpec, SettingsSpec,
};
use tenure_engine::{Actor, Engine, Executor, ManualClock};
use tenure_store::Store;
use tenure_testkit::{SmtpServer, TestBackend, TestDb, eventually, person};

mod common;

struct Served {
    base: String,
    store: Store,
    contexts: tenure_engine::TenantContexts,
    _db: TestDb,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A server whose tenants' engines know its public URL (where the links point).
async fn serve(backend: TestBackend) -> anyhow::Result<Served> {
    let db = TestDb::new(backend).await?;
    let keyring = tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?;
    let store = Store::connect_with_keys(db.url(), keyring).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let contexts = tenure_engine::TenantContexts::new(store.clone()).with_public_url(Some(base.clone()));
    let state = tenure_server::ServerState::with_contexts(contexts.clone()).with_public_url(base.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tenure_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok(Served { base, store, contexts, _db: db, _stop: stop })
}

/// A quoted-printable body as read: soft line breaks joined, escapes decoded.
fn plain(text: &str) -> String {
    text.replace("=\r\n", "").replace("=\n", "").replace("=20", " ").replace("=3D", "=")
}

/// The link after `label` in the mail about `who`.
async fn link(smtp: &SmtpServer, who: &str, label: &str) -> anyhow::Result<String> {
    let subject = format!("({who})");
    let mail = eventually(Duration::from_secs(20), || async {
        smtp.messages()
            .into_iter()
            .find(|m| plain(&m.text).lines().any(|l| l.starts_with("Subject:") && l.contains(&subject)))
    })
    .await?;
    let text = plain(&mail.text);
    eprintln!("----- received by aiosmtpd -----\n{text}\n-----");
    assert!(mail.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(who)), "the person is asked: {:?}", mail.rcpt_to);
    let at = text.find(label).ok_or_else(|| anyhow::anyhow!("no {label:?} in {text}"))?;
    Ok(text[at + label.len()..].split_whitespace().next().unwrap_or_default().to_owned())
}

fn days_ago(today: time::Date, n: i64) -> String {
    (today - time::Duration::days(n)).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaim_on_sqlite() -> anyhow::Result<()> {
    reclaim(TestBackend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaim_on_postgres() -> anyhow::Result<()> {
    reclaim(TestBackend::Postgres).await
}

async fn reclaim(backend: TestBackend) -> anyhow::Result<()> {
    let server = serve(backend).await?;
    let store = server.store.clone();
    let tenant = store.ensure_tenant("acme").await?;
    let engine = server.contexts.engine(tenant);
    let app = common::sandbox(tenure_sandbox::Profile::Notion).await?;
    let smtp = SmtpServer::start().await?;
    let cli = Actor::cli();
    let admin = engine.admin(&cli);
    admin
        .create_app(NewApp {
            name: "notion".into(),
            kind: NewAppKind::Scim,
            base_url: Some(app.base_url()),
            token: Some(app.token().into()),
            oauth: None,
            google: None,
            github: None,
            owner: None,
            settings: SettingsSpec { guard_percent: Some(100), ..Default::default() },
            disabled: false,
        })
        .await?;
    admin
        .add_channel(ChannelSpec {
            name: "mail".into(),
            kind: "email".into(),
            smtp_url: Some(smtp.url()),
            from: Some("tenure@acme.example".into()),
            to: vec!["org-admins".into()],
            events: Some(vec!["license.*".into()]),
            ..Default::default()
        })
        .await?;
    let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
    let people: Vec<_> = (0..5).map(|i| person(&format!("E{i}"), &format!("p{i}@acme.example"))).collect();
    store.apply_import(tenant, source, &ImportBatch { people, groups: vec![] }).await?;
    admin.assign("notion", &AssignmentSpec { org_unit: Some("/".into()), ..Default::default() }, false).await?;
    let today = engine.today().await?;
    let applied = engine.apply(engine.plan(None, today).await?).await?;
    assert_eq!(applied.succeeded("create"), 5);
    let pool = LicenseSpec {
        tier: None,
        seats: 5,
        cost_per_seat: "8".parse()?,
        currency: None,
        period: None,
        renews: None,
        owner: None,
        unused_days: Some(30),
        freed_to: None,
    };
    admin.set_license("notion", pool).await?;
    // p0 keeps, p1 releases, p2 does not answer, p3 is on legal hold, p4 works.
    let entries = [(0, 40), (1, 45), (2, 35), (3, 50), (4, 2)]
        .iter()
        .map(|(i, d)| ActivityEntry { user: format!("p{i}@acme.example"), last_active: days_ago(today, *d) })
        .collect();
    admin.set_license_activity("notion", ActivityUpload { entries }).await?;
    admin.place_legal_hold("p3@acme.example", LegalHoldSpec { reason: "litigation 7".into() }).await?;

    // The preview says who would be asked, and writes and sends nothing.
    let preview = admin.license_reclaim("notion", ReclaimSpec { preview: true, ..Default::default() }).await?;
    let asked: Vec<&str> = preview.asked.iter().map(|q| q.person.as_str()).collect();
    assert_eq!(asked.len(), 3, "{preview:?}");
    for p in ["p0@acme.example", "p1@acme.example", "p2@acme.example"] {
        assert!(asked.contains(&p), "{p} in {asked:?}");
    }
    assert_eq!(preview.skipped.len(), 1);
    assert_eq!(
        (preview.skipped[0].person.as_str(), preview.skipped[0].why.as_str()),
        ("p3@acme.example", "legal hold")
    );
    assert!(admin.license_reclaims(None).await?.is_empty(), "a preview writes nothing");
    assert!(
        preview.audience.iter().any(|a| a.contains("(email mail)")),
        "the preview says who is told: {:?}",
        preview.audience
    );

    let run = admin.license_reclaim("notion", ReclaimSpec::default()).await?;
    assert_eq!(run.asked.len(), 3, "{run:?}");
    let again = admin.license_reclaim("notion", ReclaimSpec::default()).await?;
    assert!(again.asked.is_empty(), "an open question is not asked twice: {again:?}");
    engine.drain_notifications(Duration::from_secs(20)).await?;

    let http = common::client();
    // p0: the keep link shows a page and answers nothing; its form's POST keeps, once.
    let keep = link(&smtp, "p0@acme.example", "Keep it: ").await?;
    assert!(keep.starts_with(&format!("{}/reclaim/", server.base)), "{keep}");
    let page = http.get(&keep).send().await?;
    assert_eq!(page.status(), 200);
    let html = page.text().await?;
    assert!(html.contains("Keep this license?") && html.contains("method=\"post\""), "{html}");
    let states = |list: Vec<tenure_engine::license_reclaim::ReclaimView>| {
        list.into_iter().map(|q| (q.person, q.state)).collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(
        states(admin.license_reclaims(Some("notion")).await?)["p0@acme.example"],
        "asked",
        "a GET answers nothing"
    );
    let kept = http.post(&keep).send().await?;
    assert_eq!(kept.status(), 200);
    assert!(kept.text().await?.contains("Kept"));
    let twice = http.post(&keep).send().await?;
    assert_eq!(twice.status(), 409, "a link works once");
    // A link altered by one character is refused, as a made-up one is.
    let mut forged = keep.clone();
    let last = forged.pop().unwrap_or('A');
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(http.post(&forged).send().await?.status(), 404);
    assert_eq!(http.get(format!("{}/reclaim/{tenant}/nonsense", server.base)).send().await?.status(), 404);
    // The release link of a kept question is closed too.
    let p0_release = link(&smtp, "p0@acme.example", "Release it: ").await?;
    assert_eq!(http.post(&p0_release).send().await?.status(), 409);

    // p1 releases: the account is deactivated (the app's policy) through the queue.
    let release = link(&smtp, "p1@acme.example", "Release it: ").await?;
    assert_eq!(http.post(&release).send().await?.status(), 200);
    let executor = Executor::new(engine.clone(), engine.worker_options().clone());
    assert!(executor.drain(None, Duration::from_secs(30)).await?);
    let active = |name: &str| app.users().iter().any(|u| u.user_name == name && u.active);
    assert!(!active("p1@acme.example"), "released: deactivated");
    assert!(active("p0@acme.example"), "kept");
    // The next pass does not give the released seat back.
    engine.propagate_once(today).await?;
    assert!(executor.drain(None, Duration::from_secs(30)).await?);
    assert!(!active("p1@acme.example"), "stays released");

    // p2 does not answer: past the deadline, the pass releases the seat.
    let clock = Arc::new(ManualClock::new(tenure_engine::Clock::now_ms(&tenure_engine::SystemClock)));
    let later = Engine::new(store.clone(), tenant).with_clock(clock.clone());
    assert_eq!(later.reclaim_pass().await?, 0, "not before the deadline");
    clock.advance(Duration::from_secs(8 * 24 * 3600));
    assert_eq!(later.reclaim_pass().await?, 1);
    assert_eq!(later.reclaim_pass().await?, 0, "settled once");
    assert!(executor.drain(None, Duration::from_secs(30)).await?);
    assert!(!active("p2@acme.example"), "released at the deadline");
    assert!(active("p3@acme.example") && active("p4@acme.example"), "the held and the busy keep theirs");
    let late = link(&smtp, "p2@acme.example", "Keep it: ").await?;
    let closed = http.get(&late).send().await?.text().await?;
    assert!(closed.contains("already answered") && closed.contains("released"), "{closed}");

    let states = states(admin.license_reclaims(None).await?);
    assert_eq!(states["p0@acme.example"], "kept");
    assert_eq!(states["p1@acme.example"], "released");
    assert_eq!(states["p2@acme.example"], "released");
    // Audited with the reason, and the queue's operations carry it.
    let audit = store.query_audit(tenant, &tenure_store::AuditFilter::default(), None, 500).await?.entries;
    let released: Vec<_> = audit.iter().filter(|e| e.action == "license.reclaim_released").collect();
    assert_eq!(released.len(), 2, "{released:?}");
    assert!(released.iter().any(|e| e.detail["reason"] == "license reclaimed: unused for 45 days"), "{released:?}");
    assert!(audit.iter().any(|e| e.action == "license.reclaim_kept"));
    let ops = store.list_operations(tenant, &Default::default()).await?;
    assert!(
        ops.iter().any(|o| o.op.reason.to_string() == "license reclaimed: unused for 35 days"),
        "the deadline's deactivation carries the reason"
    );
    Ok(())
}
