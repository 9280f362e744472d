//! A headless Chromium for the console's browser tests, driven through `chromedriver` with the
//! W3C WebDriver protocol: a few JSON requests over HTTP (session, navigate, find, click, type,
//! page source, screenshot), made with the reqwest the tests already use. A driver crate
//! (fantoccini) would bring a second copy of ICU, `http` 0.2 and two `cookie` versions for
//! these same ten requests.
//!
//! [`Browser::start`] answers `Ok(None)` when Chromium or chromedriver is missing and `CI` is not
//! set (the test then says it skipped); under `CI=true` a missing browser is a failure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()))
}

/// A headless Chromium and its chromedriver, ended when dropped.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver_url: String,
    driver: tokio::process::Child,
}

/// An element of the page, by its WebDriver id.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// A new browser, or `None` (with the reason printed) where there is none and this is not CI.
    pub async fn start(test: &str) -> anyhow::Result<Option<Self>> {
        let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]);
        let driver = find_program(&["chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") {
                bail!(
                    "{test}: chromium and chromedriver are required under CI (apt-get install chromium chromium-driver)"
                );
            }
            eprintln!("SKIPPED {test}: no chromium or chromedriver on PATH (apt-get install chromium chromium-driver)");
            return Ok(None);
        };
        // reqwest is built without a default TLS provider; chromedriver is plain HTTP, but the
        // client wants one all the same.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver = tokio::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting chromedriver")?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let driver_url = format!("http://127.0.0.1:{port}");
        crate::eventually(Duration::from_secs(20), || {
            let http = http.clone();
            let url = format!("{driver_url}/status");
            async move {
                let status: Value = http.get(url).send().await.ok()?.json().await.ok()?;
                status["value"]["ready"].as_bool().filter(|r| *r)
            }
        })
        .await
        .context("chromedriver did not become ready")?;
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", "--no-first-run", "--disable-extensions"],
            },
        }}});
        let created: Value =
            http.post(format!("{driver_url}/session")).json(&capabilities).send().await?.json().await?;
        let Some(session) = created["value"]["sessionId"].as_str() else {
            bail!("chromedriver opened no session: {created}");
        };
        Ok(Some(Self { http, session: session.to_owned(), driver_url, driver }))
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}/session/{}{path}", self.driver_url, self.session);
        let mut request = self.http.request(method.clone(), url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await?.json().await?;
        if let Some(error) = answer["value"]["error"].as_str() {
            bail!("{method} {path}: {error}: {}", answer["value"]["message"]);
        }
        Ok(answer["value"].clone())
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await.map(drop)
    }

    pub async fn url(&self) -> anyhow::Result<String> {
        Ok(self.call(reqwest::Method::GET, "/url", None).await?.as_str().unwrap_or_default().to_owned())
    }

    pub async fn source(&self) -> anyhow::Result<String> {
        Ok(self.call(reqwest::Method::GET, "/source", None).await?.as_str().unwrap_or_default().to_owned())
    }

    /// Every element matching a CSS selector (none is not an error).
    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        let found =
            self.call(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))).await?;
        Ok(found
            .as_array()
            .map(|a| a.iter().filter_map(|e| e[ELEMENT].as_str().map(|id| Element(id.to_owned()))).collect())
            .unwrap_or_default())
    }

    /// The first element matching a CSS selector, waiting for it up to `deadline`.
    pub async fn wait_for(&self, css: &str, deadline: Duration) -> anyhow::Result<Element> {
        crate::eventually(deadline, || async { self.find_all(css).await.ok().and_then(|v| v.into_iter().next()) })
            .await
            .with_context(|| format!("no element {css:?} appeared"))
    }

    pub async fn click(&self, element: &Element) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, &format!("/element/{}/click", element.0), Some(json!({}))).await.map(drop)
    }

    pub async fn type_into(&self, element: &Element, text: &str) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, &format!("/element/{}/value", element.0), Some(json!({"text": text})))
            .await
            .map(drop)
    }

    pub async fn text(&self, element: &Element) -> anyhow::Result<String> {
        Ok(self
            .call(reqwest::Method::GET, &format!("/element/{}/text", element.0), None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Runs `script` (an async function body calling `arguments[0]` with its result) in the page.
    pub async fn run_async(&self, script: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, "/execute/async", Some(json!({"script": script, "args": []}))).await
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let encoded = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD.decode(encoded.as_str().unwrap_or_default())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png).with_context(|| path.display().to_string())
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
        let _ = self.driver.kill().await;
        Ok(())
    }
}
