//! The audit endpoints over real HTTP on port 0, once per backend: filtered pages with a cursor,
//! streamed exports in JSON lines and CSV, and a precise 400 for every bad parameter.

use serde_json::{Value, json};
use tenure_core::TenantId;
use tenure_store::{Store, TokenScope};
use tenure_testkit::{TestBackend, TestDb};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Postgres).await })*
        }
    };
}

on_both_backends!(pages_are_filtered_and_chained_by_cursor, exports_stream_every_row, bad_parameters_are_400);

struct Running {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _db: TestDb,
    store: Store,
    tenant: TenantId,
    token: String,
    http: reqwest::Client,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Running {
    async fn get(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<reqwest::Response> {
        Ok(self.http.get(format!("{}{path}", self.base)).query(query).bearer_auth(&self.token).send().await?)
    }

    async fn page(&self, query: &[(&str, &str)]) -> anyhow::Result<Value> {
        let response = self.get("/api/v1/audit", query).await?;
        anyhow::ensure!(response.status() == 200, "{query:?}: {} {}", response.status(), response.text().await?);
        Ok(response.json().await?)
    }
}

async fn start(backend: TestBackend) -> anyhow::Result<Running> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let token = tenure_server::tokens::generate();
    store.insert_token(tenant, TokenScope::Admin, &tenure_server::tokens::hash(&token), None).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tenure_server::serve(listener, tenure_server::ServerState::new(store.clone()), async move {
        let _ = stopped.await;
    }));
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(Running { base, stop: Some(stop), _db: db, store, tenant, token, http: reqwest::Client::new() })
}

fn actions(page: &Value) -> Vec<&str> {
    page["events"].as_array().map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect()).unwrap_or_default()
}

async fn pages_are_filtered_and_chained_by_cursor(backend: TestBackend) -> anyhow::Result<()> {
    let s = start(backend).await?;
    let t = s.tenant;
    s.store.append_audit_for(t, "cli", "app.add", "slack", None, Some("slack"), &json!({})).await?;
    s.store
        .append_audit(t, "tenure", "account.create", "ada@x.com", &json!({"app": "slack", "person": "ada@x.com"}))
        .await?;
    s.store
        .append_audit(t, "tenure", "account.create", "bob@x.com", &json!({"app": "notion", "person": "bob@x.com"}))
        .await?;
    s.store.append_audit(t, "tenure", "plan.apply", "plan-1", &json!({})).await?;
    s.store.append_audit(t, "api", "plan.approved", "plan-2", &json!({})).await?;
    let other = s.store.ensure_tenant("other").await?;
    s.store.append_audit(other, "cli", "app.add", "slack", &json!({"app": "slack"})).await?;

    let all = s.page(&[]).await?;
    assert_eq!(actions(&all), ["plan.approved", "plan.apply", "account.create", "account.create", "app.add"]);
    assert_eq!(all["next_cursor"], Value::Null);
    let first = &all["events"][4];
    assert_eq!(first["app"], "slack");
    assert_eq!(first["actor"], "cli");
    assert!(first["at"].as_str().is_some_and(|a| a.ends_with('Z')), "{first}");
    assert!(first["at_ms"].is_i64());

    assert_eq!(actions(&s.page(&[("app", "slack")]).await?), ["account.create", "app.add"]);
    assert_eq!(actions(&s.page(&[("person", "ADA@x.com")]).await?), ["account.create"]);
    assert_eq!(actions(&s.page(&[("action", "plan.")]).await?), ["plan.approved", "plan.apply"]);
    assert_eq!(actions(&s.page(&[("actor", "api")]).await?), ["plan.approved"]);
    assert_eq!(actions(&s.page(&[("since", "1h")]).await?).len(), 5);
    assert!(actions(&s.page(&[("until", "1h")]).await?).is_empty());
    assert!(actions(&s.page(&[("since", "2999-01-01")]).await?).is_empty());

    // Two at a time: three pages, the same rows in the same order, then no cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..3 {
        let mut query = vec![("limit", "2")];
        if let Some(c) = &cursor {
            query.push(("cursor", c));
        }
        let page = s.page(&query).await?;
        seen.extend(page["events"].as_array().cloned().unwrap_or_default());
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(cursor, None);
    assert_eq!(Value::Array(seen), all["events"]);
    Ok(())
}

async fn exports_stream_every_row(backend: TestBackend) -> anyhow::Result<()> {
    let s = start(backend).await?;
    // More rows than one export page, so the body is several database pages long.
    let n = 1_200;
    for i in 0..n {
        let detail = json!({"app": "slack", "n": i, "note": "a \"quoted\", comma\nand a newline"});
        s.store.append_audit(s.tenant, "tenure", "account.update", &format!("p{i}@x.com"), &detail).await?;
    }

    let jsonl = s.get("/api/v1/audit/export", &[("format", "jsonl")]).await?;
    assert_eq!(jsonl.status(), 200);
    assert_eq!(jsonl.headers()["content-type"], "application/x-ndjson");
    assert!(jsonl.headers().get("content-length").is_none(), "streamed, not buffered");
    let body = jsonl.text().await?;
    let rows: Vec<Value> = body.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), n);
    let ns: Vec<i64> = rows.iter().filter_map(|r| r["detail"]["n"].as_i64()).collect();
    assert_eq!(ns, (0..n as i64).rev().collect::<Vec<_>>(), "every row once, newest first");

    let csv = s.get("/api/v1/audit/export", &[("format", "csv"), ("limit", "1100")]).await?;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers()["content-disposition"].to_str()?.contains("audit.csv"));
    let body = csv.bytes().await?;
    let mut reader = csv::Reader::from_reader(body.as_ref());
    assert_eq!(reader.headers()?, vec!["at", "actor", "action", "subject", "person", "app", "detail"]);
    let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    assert_eq!(records.len(), 1100);
    assert_eq!(&records[0][3], format!("p{}@x.com", n - 1));
    assert_eq!(&records[0][5], "slack");
    let detail: Value = serde_json::from_str(&records[0][6])?;
    assert_eq!(detail["note"], "a \"quoted\", comma\nand a newline");

    // Filters apply to exports; nothing matching is a header and no rows.
    let none = s.get("/api/v1/audit/export", &[("format", "csv"), ("app", "nope")]).await?.text().await?;
    assert_eq!(none, "at,actor,action,subject,person,app,detail\n");
    let one = s.get("/api/v1/audit/export", &[("person", "p7@x.com")]).await?.text().await?;
    assert_eq!(one.lines().count(), 1, "{one}");
    Ok(())
}

/// Query parameters of one request.
type Query = &'static [(&'static str, &'static str)];

async fn bad_parameters_are_400(backend: TestBackend) -> anyhow::Result<()> {
    let s = start(backend).await?;
    let cases: &[(&str, Query, &str)] = &[
        ("/api/v1/audit", &[("limit", "0")], "limit=\"0\": must be between 1 and 10000"),
        ("/api/v1/audit", &[("limit", "lots")], "limit=\"lots\": not a whole number"),
        ("/api/v1/audit", &[("since", "yesterday")], "since=\"yesterday\": not an RFC 3339 time"),
        ("/api/v1/audit", &[("until", "3y")], "until=\"3y\": unknown unit 'y'"),
        ("/api/v1/audit", &[("since", "1h"), ("until", "2h")], "since (1h) must be before until (2h)"),
        ("/api/v1/audit", &[("cursor", "abc")], "invalid audit cursor \"abc\""),
        ("/api/v1/audit", &[("person", "")], "person must not be empty"),
        ("/api/v1/audit", &[("peron", "ada@x.com")], "unknown parameter \"peron\""),
        ("/api/v1/audit", &[("format", "csv")], "unknown parameter \"format\""),
        ("/api/v1/audit", &[("app", "a"), ("app", "b")], "parameter \"app\" is given more than once"),
        ("/api/v1/audit/export", &[("format", "xml")], "format=\"xml\": use jsonl or csv"),
        ("/api/v1/audit/export", &[("limit", "-3")], "limit=\"-3\": a whole number of rows, at least 1"),
    ];
    for (path, query, message) in cases {
        let response = s.get(path, query).await?;
        assert_eq!(response.status(), 400, "{path} {query:?}");
        let body: Value = response.json().await?;
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(message), "{path} {query:?}: {error}");
    }
    // Authentication comes first, and other tokens' tenants are never mixed in.
    let anonymous = s.http.get(format!("{}/api/v1/audit/export?format=xml", s.base)).send().await?;
    assert_eq!(anonymous.status(), 401);
    let anonymous = s.http.get(format!("{}/api/v1/audit", s.base)).send().await?;
    assert_eq!(anonymous.status(), 401);
    Ok(())
}
