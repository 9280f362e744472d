//! `tenure bench scim`: loads generated users into a fresh SQLite store, starts the server on
//! 127.0.0.1:0 and measures the SCIM endpoint through HTTP with concurrent keep-alive clients:
//! lookups by `userName`, `externalId` and work email, and GET by id. Prints one JSON line.
//!
//! The client is a few lines of HTTP/1.1 over a TCP stream rather than a full HTTP client, so the
//! machine's cores go to the server being measured, not to the measuring.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use tenure_core::PersonId;
use tenure_store::{Store, TokenScope};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cli::BenchScimArgs;

const LOAD_CHUNK: usize = 20_000;

fn user(i: usize) -> Value {
    json!({
        "schemas": [tenure_scim::schemas::USER, tenure_scim::schemas::ENTERPRISE_USER],
        "userName": format!("user{i}@bench.example"),
        "externalId": format!("ext-{i:08}"),
        "displayName": format!("User {i}"),
        "active": true,
        "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{}", i % 997)},
        "emails": [{"value": format!("u{i}@mail.bench.example"), "type": "work", "primary": true}],
        tenure_scim::schemas::ENTERPRISE_USER: {"department": format!("Department{}", i % 40), "employeeNumber": i.to_string()}
    })
}

/// Percent-encodes a query parameter value.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, buf: Vec::with_capacity(16 * 1024) })
    }

    /// GETs `path`; returns the status and the body.
    async fn get(&mut self, path: &str, token: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n");
        self.stream.write_all(request.as_bytes()).await?;
        self.buf.clear();
        let header_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&self.buf[..header_end]).to_string();
        let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).context("no status line")?;
        let length: usize = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while self.buf.len() < header_end + length {
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "the server closed the connection mid-body");
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok((status, self.buf[header_end..header_end + length].to_vec()))
    }
}

/// The i-th request's path of a scenario.
type PathFn = Arc<dyn Fn(usize) -> String + Send + Sync>;

/// A measured scenario: its name, its paths and the check every response body must pass.
type Scenario = (&'static str, PathFn, fn(&[u8]) -> bool);

struct Figures {
    p50_ms: f64,
    p99_ms: f64,
    rps: f64,
}

/// Runs `requests` GETs spread over `clients` connections; `path(i)` names the i-th request and
/// `check` validates its body. Every response must be 200 and pass the check.
async fn measure(
    addr: std::net::SocketAddr,
    token: &str,
    clients: usize,
    requests: usize,
    path: PathFn,
    check: fn(&[u8]) -> bool,
) -> anyhow::Result<Figures> {
    let started = Instant::now();
    let per_client = requests.div_ceil(clients.max(1));
    let mut tasks = Vec::new();
    for c in 0..clients.max(1) {
        let path = path.clone();
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut latencies = Vec::with_capacity(per_client);
            for k in 0..per_client {
                let p = path(c * per_client + k);
                let t = Instant::now();
                let (status, body) = conn.get(&p, &token).await?;
                latencies.push(t.elapsed());
                anyhow::ensure!(status == 200 && check(&body), "GET {p}: {status} {}", String::from_utf8_lossy(&body));
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all: Vec<Duration> = Vec::with_capacity(requests);
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    Ok(Figures { p50_ms: ms(at(0.50)), p99_ms: ms(at(0.99)), rps: (all.len() as f64 / elapsed.as_secs_f64()).round() })
}

fn one_result(body: &[u8]) -> bool {
    let needle = b"\"totalResults\":1";
    body.windows(needle.len() + 1).any(|w| w.starts_with(needle) && !w[needle.len()].is_ascii_digit())
}

fn a_user(body: &[u8]) -> bool {
    body.windows(11).any(|w| w == b"\"userName\":")
}

pub async fn run(args: BenchScimArgs) -> anyhow::Result<ExitCode> {
    let n = args.users.max(1);
    let (dir, _temp) = match &args.dir {
        Some(d) => (d.clone(), None),
        None => {
            let d = std::env::temp_dir().join(format!("tenure-bench-scim-{}", uuid_suffix()));
            (d.clone(), Some(RemoveOnDrop(d)))
        }
    };
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("bench.db");
    anyhow::ensure!(!db.exists(), "{} exists already: the bench needs a fresh database", db.display());
    let store = Store::connect(&format!("sqlite://{}", db.display())).await?;
    let tenant = store.ensure_tenant("bench").await?;
    let token = tenure_server::tokens::generate();
    store.insert_token(tenant, TokenScope::Scim, &tenure_server::tokens::hash(&token), Some("bench")).await?;

    // Load.
    let load_started = Instant::now();
    let mut ids: Vec<String> = Vec::with_capacity(n);
    let mut done = 0;
    while done < n {
        let end = (done + LOAD_CHUNK).min(n);
        let batch: Vec<(PersonId, Value, String)> = (done..end)
            .map(|i| {
                let id = PersonId::new();
                let resource = user(i);
                let mut with_id = resource.clone();
                with_id["id"] = json!(id.to_string());
                let version = tenure_scim::etag::etag(&with_id);
                (id, resource, version)
            })
            .collect();
        ids.extend(batch.iter().map(|(id, _, _)| id.to_string()));
        store.scim_load_users(tenant, &batch).await?;
        done = end;
        if done % 100_000 == 0 || done == n {
            eprintln!("loaded {done} of {n} users ({:.1} s)", load_started.elapsed().as_secs_f64());
        }
    }
    store.analyze().await?;
    let load_s = load_started.elapsed().as_secs_f64();

    // Serve on a free port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(tenure_server::serve(listener, tenure_server::ServerState::new(store.clone()), async move {
            let _ = stopped.await;
        }));

    // Targets spread over the whole table, in a fixed pseudo-random order.
    let pick = move |i: usize| (i.wrapping_mul(2_654_435_761) ^ (i >> 7)) % n;
    let filter_path = |f: String| format!("/scim/v2/Users?filter={}", encode(&f));
    let ids = Arc::new(ids);
    let scenarios: Vec<Scenario> = vec![
        (
            "user_name_eq",
            Arc::new(move |i| filter_path(format!("userName eq \"user{}@bench.example\"", pick(i)))),
            one_result,
        ),
        ("external_id_eq", Arc::new(move |i| filter_path(format!("externalId eq \"ext-{:08}\"", pick(i)))), one_result),
        (
            "work_email_eq",
            Arc::new(move |i| {
                filter_path(format!("emails[type eq \"work\"].value eq \"u{}@mail.bench.example\"", pick(i)))
            }),
            one_result,
        ),
        (
            "get_by_id",
            {
                let ids = ids.clone();
                Arc::new(move |i| format!("/scim/v2/Users/{}", ids[pick(i)]))
            },
            a_user,
        ),
    ];
    // Warm up the connections, the page cache and the token cache.
    measure(addr, &token, args.clients, 2_000.min(args.requests), scenarios[3].1.clone(), a_user).await?;
    let mut out = serde_json::Map::new();
    out.insert("users".to_owned(), json!(n));
    out.insert("clients".to_owned(), json!(args.clients));
    out.insert("requests_per_scenario".to_owned(), json!(args.requests));
    out.insert("load_s".to_owned(), json!((load_s * 10.0).round() / 10.0));
    for (name, path, check) in scenarios {
        let f = measure(addr, &token, args.clients, args.requests, path, check).await?;
        eprintln!("{name}: p50 {} ms, p99 {} ms, {} req/s", f.p50_ms, f.p99_ms, f.rps);
        out.insert(name.to_owned(), json!({"p50_ms": f.p50_ms, "p99_ms": f.p99_ms, "rps": f.rps}));
    }
    let _ = stop.send(());
    server.await??;
    store.close().await;
    println!("{}", Value::Object(out));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn uuid_suffix() -> String {
    PersonId::new().to_string()
}

/// Removes the bench's temporary directory however the bench ends.
pub(crate) struct RemoveOnDrop(pub(crate) std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
