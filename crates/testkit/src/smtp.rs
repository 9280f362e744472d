//! A real SMTP server for tests: Python's `aiosmtpd` (PyPI) on a free port, writing what it
//! receives into a Maildir the test reads. Installed into the tests' virtualenv by
//! `scripts/test.sh`; the interpreter comes from `TENURE_TEST_PYTHON`, else the venv beside
//! `TENURE_SCIM2_SERVER`, else `target/scim2-venv`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

pub struct SmtpServer {
    port: u16,
    dir: tempfile::TempDir,
    _child: Child,
}

/// One message as received: its envelope recipients and its text (headers and body).
#[derive(Debug, Clone)]
pub struct Received {
    pub rcpt_to: Vec<String>,
    pub text: String,
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TENURE_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(server) = std::env::var_os(crate::scim2::SCIM2_SERVER_ENV).filter(|p| !p.is_empty()) {
        let beside = PathBuf::from(server).with_file_name("python3");
        if beside.exists() {
            return beside;
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/scim2-venv/bin/python3")
}

impl SmtpServer {
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        for attempt in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let mut child = Command::new(python())
                .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
                .arg(dir.path().join("mail"))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| {
                    format!("starting aiosmtpd with {} (run scripts/test.sh to install it)", python().display())
                })?;
            let until = tokio::time::Instant::now() + Duration::from_secs(20);
            while tokio::time::Instant::now() < until {
                if let Some(status) = child.try_wait()? {
                    if attempt == 2 {
                        bail!("aiosmtpd exited with {status}: is it installed in the tests' venv (scripts/test.sh)?");
                    }
                    break;
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    return Ok(Self { port, dir, _child: child });
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        bail!("aiosmtpd did not start")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages received so far.
    pub fn messages(&self) -> Vec<Received> {
        let new = self.dir.path().join("mail").join("new");
        let Ok(entries) = std::fs::read_dir(&new) else { return Vec::new() };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
            let rcpt_to = text
                .lines()
                .find_map(|l| l.strip_prefix("X-RcptTo: "))
                .map(|l| l.split(',').map(|a| a.trim().to_owned()).collect())
                .unwrap_or_default();
            out.push(Received { rcpt_to, text });
        }
        out
    }
}
