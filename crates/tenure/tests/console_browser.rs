//! The console in a real browser (headless Chromium through chromedriver), against `tenure demo`
//! on port 0 with its own fresh database: sign in (a wrong password first), the demo
//! organization's apps, an app's Verify with its probe results, an assignment previewed, saved
//! and propagated into the Users tab, a mapping refused with its caret, a plan saved and diffed,
//! an apply followed live to its end, an offboarding previewed, a held plan approved and carried
//! out, the license pools, workflows, holds, tasks, notification and reclaim pages, and an auditor who sees no action and whose forged POST is 403. A screenshot of each main screen goes to `target/console-screenshots/`.
//!
//! Skips (saying so) only where Chromium is missing and `CI` is not set.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tenure_testkit::browser::Browser;
use tokio::io::{AsyncBufReadExt, BufReader};

const WAIT: Duration = Duration::from_secs(30);

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots")
}

struct Demo {
    child: tokio::process::Child,
    url: String,
    email: String,
    password: String,
    database_url: String,
    _tmp: tempfile::TempDir,
}

/// `tenure demo` running, with what it printed: the console's URL, its sign-in, its database.
async fn demo() -> anyhow::Result<Demo> {
    let tmp = tempfile::tempdir()?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["demo", "--people", "60", "--listen", "127.0.0.1:0"])
        .env("TMPDIR", tmp.path())
        .env_remove("TENURE_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("the demo's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let (mut console, mut database_url) = (None, None);
    let read = async {
        while let Some(line) = lines.next_line().await? {
            let line = line.trim().to_owned();
            if let Some(rest) = line.strip_prefix("console") {
                console = Some(rest.trim().to_owned());
            }
            if let Some(rest) = line.strip_prefix("database   export TENURE_DATABASE_URL=") {
                database_url = Some(rest.trim().to_owned());
            }
            if console.is_some() && database_url.is_some() {
                return Ok::<_, anyhow::Error>(());
            }
        }
        anyhow::bail!("the demo ended before printing its console sign-in")
    };
    tokio::time::timeout(Duration::from_secs(180), read).await.context("the demo did not start in time")??;
    // Keep reading (and dropping) its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    // "http://127.0.0.1:PORT/  sign in as EMAIL with password PASSWORD"
    let console = console.unwrap_or_default();
    let words: Vec<&str> = console.split_whitespace().collect();
    let url = words.first().context("no console URL")?.trim_end_matches('/').to_owned();
    let email = words.get(4).context("no sign-in email")?.to_string();
    let password = words.get(7).context("no password")?.to_string();
    Ok(Demo { child, url, email, password, database_url: database_url.unwrap_or_default(), _tmp: tmp })
}

async fn sign_in(browser: &Browser, demo: &Demo, email: &str, password: &str) -> anyhow::Result<()> {
    browser.goto(&format!("{}/login", demo.url)).await?;
    let field = browser.wait_for("input[name=email]", WAIT).await?;
    browser.type_into(&field, email).await?;
    let field = browser.wait_for("input[name=password]", WAIT).await?;
    browser.type_into(&field, password).await?;
    browser.click(&browser.wait_for("form.stack button[type=submit]", WAIT).await?).await
}

async fn shot(browser: &Browser, name: &str) -> anyhow::Result<()> {
    browser.screenshot(&screenshots().join(format!("{name}.png"))).await
}

#[tokio::test]
async fn an_admin_works_the_demo_in_a_browser_and_an_auditor_changes_nothing() -> anyhow::Result<()> {
    let Some(browser) = Browser::start("console_browser").await? else { return Ok(()) };
    let started = std::time::Instant::now();
    let mut demo = demo().await?;
    let outcome = walk(&browser, &demo).await;
    if outcome.is_err() {
        // What the browser showed when it failed, for whoever reads the failure.
        let _ = shot(&browser, "failure").await;
        eprintln!(
            "failed at {}:\n{}",
            browser.url().await.unwrap_or_default(),
            browser.source().await.unwrap_or_default()
        );
    }
    browser.close().await?;
    let _ = demo.child.kill().await;
    outcome?;
    eprintln!("console browser test: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn walk(browser: &Browser, demo: &Demo) -> anyhow::Result<()> {
    // A wrong password is refused with the generic words; the right one opens the overview.
    sign_in(browser, demo, &demo.email, "not the password").await?;
    let error = browser.wait_for("#sign-in-error", WAIT).await?;
    assert!(browser.text(&error).await?.contains("Wrong email or password"));
    shot(browser, "01-sign-in-refused").await?;
    sign_in(browser, demo, &demo.email, &demo.password).await?;
    browser.wait_for("section.cards", WAIT).await?;
    let html = browser.source().await?;
    for app in ["slack", "notion", "jira", "github"] {
        assert!(html.contains(&format!("href=\"/apps/{app}\"")), "the overview lists {app}");
    }
    assert!(html.contains("<svg"), "account states drawn");
    shot(browser, "02-overview").await?;

    browser.goto(&format!("{}/apps", demo.url)).await?;
    browser.wait_for("table#apps", WAIT).await?;
    shot(browser, "03-apps").await?;

    // Open an app and Verify it: the connection test and the probe's results appear (htmx).
    browser.click(&browser.wait_for("a[href='/apps/slack']", WAIT).await?).await?;
    browser.click(&browser.wait_for("button#verify", WAIT).await?).await?;
    let result = browser.wait_for("#verify-result .result", WAIT).await?;
    let text = browser.text(&result).await?;
    assert!(text.contains("Connection works"), "{text}");
    assert!(browser.find_all("#verify-result ul.probe li").await?.len() > 1, "probe results listed: {text}");
    shot(browser, "04-app-provisioning-verified").await?;

    // Assign a group with its preview, save, and see its people's accounts appear in Users.
    let users_total = |html: &str| -> Option<usize> {
        let at = html.find(" account(s) in the app")?;
        html[..at].rsplit('>').next()?.trim().parse().ok()
    };
    // The demo's Jira pool is short on purpose, and a full pool makes new grants wait in line for
    // a seat (`tenure license waiting`): a license admin buys seats first.
    let bought = std::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["license", "set", "jira", "--seats", "500", "--cost-per-seat", "7.75"])
        .env("TENURE_DATABASE_URL", &demo.database_url)
        .output()?;
    assert!(bought.status.success(), "{}", String::from_utf8_lossy(&bought.stderr));
    browser.goto(&format!("{}/apps/jira?tab=users", demo.url)).await?;
    browser.wait_for("table#users", WAIT).await?;
    let before = users_total(&browser.source().await?).context("the Users tab says how many accounts")?;
    browser.goto(&format!("{}/apps/jira?tab=assignments", demo.url)).await?;
    browser.type_into(&browser.wait_for("#assign-form input[name=target]", WAIT).await?, "finance").await?;
    browser.click(&browser.wait_for("button#preview-assignment", WAIT).await?).await?;
    let preview = browser.wait_for("#preview", WAIT).await?;
    assert!(browser.text(&preview).await?.contains("operation(s) added"));
    shot(browser, "05-app-assignment-preview").await?;
    browser.click(&browser.wait_for("button#save-assignment", WAIT).await?).await?;
    browser.wait_for("p.notice.ok", WAIT).await?;
    let after = tenure_testkit::eventually(Duration::from_secs(60), || async {
        browser.goto(&format!("{}/apps/jira?tab=users", demo.url)).await.ok()?;
        browser.wait_for("table#users", WAIT).await.ok()?;
        users_total(&browser.source().await.ok()?).filter(|n| *n > before)
    })
    .await
    .context("finance's accounts never appeared in jira's Users tab")?;
    assert!(after > before);
    assert!(!browser.find_all("table#users button.action").await?.is_empty(), "an org admin's account actions");
    shot(browser, "06-app-users").await?;
    browser.goto(&format!("{}/apps/jira?tab=activity", demo.url)).await?;
    browser.wait_for("table#operations", WAIT).await?;
    browser.wait_for("#activity-chart svg", WAIT).await?;
    shot(browser, "07-app-activity").await?;

    // A mapping that does not read is shown under its field, with the caret under the mistake.
    browser.goto(&format!("{}/apps/notion", demo.url)).await?;
    browser.wait_for("#mappings-form", WAIT).await?;
    let last = browser.find_all("#mappings tbody tr").await?.len().saturating_sub(1);
    let target = browser.wait_for(&format!("#mappings-form input[name=target_{last}]"), WAIT).await?;
    browser.type_into(&target, "title").await?;
    let expression = browser.wait_for(&format!("#mappings-form input[name=expression_{last}]"), WAIT).await?;
    browser.type_into(&expression, "lowr(familyName)").await?;
    browser.click(&browser.wait_for("button#save-mappings", WAIT).await?).await?;
    let error = browser.wait_for(&format!("#mapping-error-{last} pre.caret"), WAIT).await?;
    assert!(browser.text(&error).await?.contains('^'), "the caret under the mistake");
    shot(browser, "17-app-mapping-error").await?;
    browser.goto(&format!("{}/apps/new?vendor=slack", demo.url)).await?;
    browser.wait_for("form#new-app", WAIT).await?;
    shot(browser, "18-app-add").await?;

    // A plan saved for review and its diff against a fresh one; an apply with its live page.
    browser.goto(&format!("{}/plans", demo.url)).await?;
    browser.click(&browser.wait_for("button#save-plan", WAIT).await?).await?;
    browser.wait_for("p.notice.ok", WAIT).await?;
    browser.click(&browser.wait_for("table#saved-plans a", WAIT).await?).await?;
    browser.wait_for("#plan-diff", WAIT).await?;
    shot(browser, "19-saved-plan-diff").await?;
    browser.goto(&format!("{}/plans", demo.url)).await?;
    browser.click(&browser.wait_for("button#apply-now", WAIT).await?).await?;
    let outcome = browser.wait_for("#job-outcome", Duration::from_secs(60)).await?;
    assert!(browser.text(&outcome).await?.contains("Done"), "the apply ends, and says so");
    shot(browser, "20-apply-done").await?;
    for (path, wait, name) in [
        ("/licenses", "table#licenses", "21-licenses"),
        ("/catalog", "table#catalog", "22-catalog"),
        ("/licenses/pools", "form#pool-form", "25-license-pools"),
        ("/workflows", "form#add-workflow", "26-workflows"),
        ("/holds", "form#place-hold", "27-holds"),
        ("/apps/new/box", "form#new-app-kind", "28-app-add-box"),
        ("/tasks", "table#tasks", "29-tasks"),
        ("/notify", "form#add-channel", "30-notify"),
        ("/licenses/reclaims", "form#start-reclaim", "31-license-reclaims"),
    ] {
        browser.goto(&format!("{}{path}", demo.url)).await?;
        browser.wait_for(wait, WAIT).await?;
        shot(browser, name).await?;
    }
    browser.goto(&format!("{}/sources", demo.url)).await?;
    browser.click(&browser.wait_for("table#sources a", WAIT).await?).await?;
    browser.wait_for("form#scope-form", WAIT).await?;
    shot(browser, "24-source").await?;

    for (path, wait, name) in [
        ("/plans", "table#plans", "08-plans"),
        ("/people", "table#people", "09-people"),
        ("/sources", "table#sources", "11-sources"),
        ("/audit", "table#audit", "12-audit"),
        ("/admins", "table#admins", "13-admins"),
    ] {
        browser.goto(&format!("{}{path}", demo.url)).await?;
        browser.wait_for(wait, WAIT).await?;
        shot(browser, name).await?;
    }
    browser.goto(&format!("{}/people", demo.url)).await?;
    browser.click(&browser.wait_for("table#people a", WAIT).await?).await?;
    browser.wait_for("section.standing", WAIT).await?;
    shot(browser, "10-person").await?;
    browser.click(&browser.wait_for("button#offboard", WAIT).await?).await?;
    browser.wait_for("#offboarding button#confirm-offboard", WAIT).await?;
    shot(browser, "23-person-offboard-preview").await?;

    // Taking slack away from everyone is more loss than the guard lets through: the plan is
    // held, shown with its losses, approved here, and the accounts are then deactivated.
    browser.goto(&format!("{}/apps/slack?tab=assignments", demo.url)).await?;
    browser.click(&browser.wait_for("table#assignments button.danger", WAIT).await?).await?;
    browser.wait_for("p.notice.ok", WAIT).await?;
    tenure_testkit::eventually(Duration::from_secs(60), || async {
        browser.goto(&format!("{}/plans", demo.url)).await.ok()?;
        browser.wait_for("table#plans", WAIT).await.ok()?;
        browser.find_all(".hold.held button.approve").await.ok()?.into_iter().next()
    })
    .await
    .context("no held plan appeared after slack's assignment was removed")?;
    shot(browser, "15-plans-held").await?;
    browser.click(&browser.wait_for(".hold.held button.approve", WAIT).await?).await?;
    let notice = browser.wait_for("p.notice.ok", WAIT).await?;
    assert!(browser.text(&notice).await?.contains("approved"));
    tenure_testkit::eventually(Duration::from_secs(60), || async {
        browser.goto(&format!("{}/apps/slack?tab=users", demo.url)).await.ok()?;
        browser.wait_for("table#users", WAIT).await.ok()?;
        browser.source().await.ok()?.contains("class deactivated").then_some(())
    })
    .await
    .context("the approved losses were never carried out")?;
    shot(browser, "16-app-users-after-approval").await?;

    // An auditor, added with the CLI: no action anywhere, and a forged POST of theirs is 403.
    let password_file = demo._tmp.path().join("auditor-password");
    std::fs::write(&password_file, "auditor password 123\n")?;
    let added = std::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["admin", "add", "auditor@demo.example", "--role", "auditor", "--password-file"])
        .arg(&password_file)
        .env("TENURE_DATABASE_URL", &demo.database_url)
        .output()?;
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    browser.click(&browser.wait_for("form.signout button", WAIT).await?).await?;
    browser.wait_for("input[name=email]", WAIT).await?;
    sign_in(browser, demo, "auditor@demo.example", "auditor password 123").await?;
    browser.wait_for("section.cards", WAIT).await?;
    for path in [
        "/",
        "/apps/slack",
        "/apps/slack?tab=users",
        "/apps/jira?tab=assignments",
        "/plans",
        "/sources",
        "/admins",
        "/catalog",
        "/licenses",
        "/licenses/pools",
        "/workflows",
        "/holds",
        "/tasks",
        "/notify",
        "/licenses/reclaims",
    ] {
        browser.goto(&format!("{}{path}", demo.url)).await?;
        browser.wait_for("main", WAIT).await?;
        assert!(browser.find_all(".action").await?.is_empty(), "an auditor sees an action on {path}");
    }
    browser.goto(&format!("{}/apps/slack", demo.url)).await?;
    shot(browser, "14-auditor-app").await?;
    let status = browser
        .run_async(
            "const done = arguments[0];
             const csrf = document.querySelector('input[name=csrf]').value;
             fetch('/apps/slack/verify', {method: 'POST', body: new URLSearchParams({csrf})})
               .then(r => done(r.status), e => done(String(e)));",
        )
        .await?;
    assert_eq!(status, 403, "a forged Verify from the auditor's own session");
    Ok(())
}
