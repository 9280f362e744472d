//! The peer SCIM server: the independent Python `scim2-server` (PyPI), one process per test on a
//! free port, so the connector is tested against an implementation we did not write.
//!
//! The executable comes from `TENURE_SCIM2_SERVER` when set, else from a virtualenv under the
//! workspace's `target/`, created on first use.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

pub const SCIM2_SERVER_VERSION: &str = "0.8.3";
pub const SCIM2_SERVER_ENV: &str = "TENURE_SCIM2_SERVER";

const READY_DEADLINE: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Generous: pip may have to download the package and its dependencies.
const INSTALL_DEADLINE: Duration = Duration::from_secs(600);
/// A lock older than this is taken to be left behind by a killed run.
const STALE_LOCK: Duration = Duration::from_secs(900);
const PORT_ATTEMPTS: usize = 3;
/// Bytes of the server's stderr kept for error messages.
const STDERR_TAIL: usize = 16 * 1024;

pub struct Scim2Server {
    base_url: String,
    /// `http://127.0.0.1:PORT`, for tenants' URLs.
    origin: String,
    token: String,
    stderr: Arc<Mutex<String>>,
    _child: Child,
}

impl Scim2Server {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(&[]).await
    }

    /// Started with extra command-line arguments, e.g. `--service-provider-config FILE` to serve
    /// an app with fewer features (the server refuses what its configuration does not announce).
    pub async fn start_with(extra_args: &[String]) -> anyhow::Result<Self> {
        Self::launch_with(extra_args, None).await
    }

    /// One server in its multi-tenant mode (`--tenant NAME` per tenant): each tenant has its own
    /// users and groups under `/NAME/v2`, so one process stands in for several apps.
    pub async fn start_tenants(tenants: &[&str]) -> anyhow::Result<Self> {
        let first = tenants.first().context("at least one tenant")?;
        let args: Vec<String> = tenants.iter().flat_map(|t| ["--tenant".to_owned(), (*t).to_owned()]).collect();
        Self::launch_with(&args, Some(first)).await
    }

    /// The base URL of one tenant started by [`Scim2Server::start_tenants`].
    pub fn tenant_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2", self.origin)
    }

    async fn launch_with(extra_args: &[String], probe_tenant: Option<&str>) -> anyhow::Result<Self> {
        let program = executable().await?;
        let token = format!("tenure-test-{}", uuid::Uuid::new_v4().simple());
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            match launch(&program, &token, extra_args, probe_tenant).await? {
                Launch::Ready(server) => return Ok(*server),
                // Another process took the port between our probe and the server's bind.
                Launch::PortTaken(log) => last_error = Some(log),
            }
        }
        bail!(
            "scim2-server could not bind a free port in {PORT_ATTEMPTS} attempts; last stderr:\n{}",
            last_error.unwrap_or_default()
        )
    }

    /// `http://127.0.0.1:PORT/v2`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// How many requests whose log line contains `needle` the server has logged, once it has
    /// logged at least `at_least` (it logs a request after answering it, so the count is waited
    /// for, up to 5 seconds).
    pub async fn requests_logged(&self, needle: &str, at_least: usize) -> anyhow::Result<usize> {
        crate::eventually(Duration::from_secs(5), || {
            let n = self.stderr().matches(needle).count();
            async move { (n >= at_least).then_some(n) }
        })
        .await
        .with_context(|| format!("fewer than {at_least} requests {needle:?} logged:\n{}", self.stderr()))
    }

    /// What the server has written to stderr so far (its request log included), for diagnostics.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl std::fmt::Debug for Scim2Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scim2Server").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

enum Launch {
    Ready(Box<Scim2Server>),
    PortTaken(String),
}

async fn launch(program: &Path, token: &str, extra_args: &[String], tenant: Option<&str>) -> anyhow::Result<Launch> {
    let port = free_port()?;
    let mut child = Command::new(program)
        .args(["--hostname", "127.0.0.1", "--port", &port.to_string(), "--bearer-token", token])
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let stderr = Arc::new(Mutex::new(String::new()));
    // The server logs every request to stderr; an undrained pipe would fill and stall it.
    if let Some(mut pipe) = child.stderr.take() {
        let sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let Ok(mut s) = sink.lock() else { break };
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                if s.len() > STDERR_TAIL {
                    let mut cut = s.len() - STDERR_TAIL;
                    while !s.is_char_boundary(cut) {
                        cut += 1;
                    }
                    s.drain(..cut);
                }
            }
        });
    }

    let until = Instant::now() + READY_DEADLINE;
    loop {
        if let Some(status) = child.try_wait()? {
            // Let the drain task catch up with the last lines the process wrote.
            let log = wait_for_eof(&stderr, Duration::from_millis(500)).await;
            if log.contains("Address already in use") || log.contains("Errno 98") {
                return Ok(Launch::PortTaken(log));
            }
            bail!("scim2-server ({}) exited with {status} before answering; stderr:\n{log}", program.display());
        }
        let prefix = tenant.map(|t| format!("/{t}")).unwrap_or_default();
        if answers(port, &prefix).await {
            let origin = format!("http://127.0.0.1:{port}");
            return Ok(Launch::Ready(Box::new(Scim2Server {
                base_url: format!("{origin}{prefix}/v2"),
                origin,
                token: token.to_owned(),
                stderr,
                _child: child,
            })));
        }
        if Instant::now() >= until {
            let log = stderr.lock().map(|s| s.clone()).unwrap_or_default();
            bail!("scim2-server on port {port} did not answer within {READY_DEADLINE:?}; stderr:\n{log}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Returns the captured stderr once it stops growing, or when `limit` passes.
async fn wait_for_eof(stderr: &Mutex<String>, limit: Duration) -> String {
    let until = Instant::now() + limit;
    let mut last = usize::MAX;
    loop {
        let now = stderr.lock().map(|s| s.clone()).unwrap_or_default();
        if now.len() == last || Instant::now() >= until {
            return now;
        }
        last = now.len();
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding a probe port")?;
    Ok(listener.local_addr()?.port())
}

/// A bare HTTP/1.0 request, so the harness needs no HTTP client. ServiceProviderConfig needs no
/// token, and only a 2xx means the SCIM app (not merely the socket) is up.
async fn answers(port: u16, prefix: &str) -> bool {
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let request = format!(
            "GET {prefix}/v2/ServiceProviderConfig HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/scim+json\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 16];
        let mut read = 0;
        while read < 12 {
            let n = stream.read(&mut head[read..]).await.ok()?;
            if n == 0 {
                break;
            }
            read += n;
        }
        let status_line = std::str::from_utf8(&head[..read]).ok()?;
        let code = status_line.split_whitespace().nth(1)?;
        Some(code.starts_with('2'))
    };
    tokio::time::timeout(Duration::from_secs(2), probe).await.ok().flatten().unwrap_or(false)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

async fn executable() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(SCIM2_SERVER_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{SCIM2_SERVER_ENV}={} is not a file", path.display());
        }
        return Ok(path);
    }
    let venv = workspace_root().join("target").join("scim2-venv");
    tokio::task::spawn_blocking(move || ensure_venv(&venv)).await.context("venv installer panicked")?
}

fn venv_program(venv: &Path) -> PathBuf {
    if cfg!(windows) { venv.join("Scripts").join("scim2-server.exe") } else { venv.join("bin").join("scim2-server") }
}

/// Written after pip succeeds: the executable alone may be left by an interrupted install.
fn ready_marker(venv: &Path) -> PathBuf {
    venv.join(format!(".tenure-scim2-server-{SCIM2_SERVER_VERSION}-cursor"))
}

/// Creates the virtualenv once, even with many tests (or test binaries) asking at the same time:
/// whoever creates the lock file installs, everyone else waits for it to go away.
fn ensure_venv(venv: &Path) -> anyhow::Result<PathBuf> {
    let program = venv_program(venv);
    let installed = || ready_marker(venv).is_file() && program.is_file();
    if installed() {
        return Ok(program);
    }
    let parent = venv.parent().context("venv path has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let lock = parent.join("scim2-venv.lock");
    let until = Instant::now() + INSTALL_DEADLINE;
    loop {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(mut file) => {
                use std::io::Write;
                let _ = writeln!(file, "{}", std::process::id());
                let result = if installed() { Ok(()) } else { install(venv) };
                let _ = std::fs::remove_file(&lock);
                result?;
                return Ok(program);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if installed() {
                    return Ok(program);
                }
                if lock_is_stale(&lock) {
                    let _ = std::fs::remove_file(&lock);
                    continue;
                }
                if Instant::now() >= until {
                    bail!(
                        "timed out after {INSTALL_DEADLINE:?} waiting for another process to install scim2-server \
                         (lock {}); remove the lock if no test run is active",
                        lock.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e).with_context(|| format!("creating lock {}", lock.display())),
        }
    }
}

fn lock_is_stale(lock: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(lock) else {
        return false;
    };
    if meta.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age > STALE_LOCK) {
        return true;
    }
    // On Linux a holder that died is visible at once; elsewhere only age tells.
    if Path::new("/proc/self").exists() {
        let pid = std::fs::read_to_string(lock).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<u32>() {
            return !Path::new(&format!("/proc/{pid}")).exists();
        }
    }
    false
}

fn install(venv: &Path) -> anyhow::Result<()> {
    if venv.exists() {
        // Left by an interrupted install; pip on top of it is not trustworthy.
        std::fs::remove_dir_all(venv).with_context(|| format!("removing incomplete {}", venv.display()))?;
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    run(std::process::Command::new(&python).arg("-m").arg("venv").arg(venv), "creating the scim2-server virtualenv")?;
    let pip = if cfg!(windows) { venv.join("Scripts").join("pip.exe") } else { venv.join("bin").join("pip") };
    run(
        // The `cursor` extra lets the server page by cursor (RFC 9865) when its configuration says so.
        std::process::Command::new(pip).args([
            "install",
            "--quiet",
            &format!("scim2-server[cursor]=={SCIM2_SERVER_VERSION}"),
        ]),
        "installing scim2-server with pip",
    )?;
    std::fs::write(ready_marker(venv), SCIM2_SERVER_VERSION)?;
    Ok(())
}

fn run(command: &mut std::process::Command, what: &str) -> anyhow::Result<()> {
    let output = command.stdin(Stdio::null()).output().with_context(|| {
        format!("{what}: could not run {command:?} (set {SCIM2_SERVER_ENV} to an installed scim2-server)")
    })?;
    if !output.status.success() {
        bail!(
            "{what}: {command:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
