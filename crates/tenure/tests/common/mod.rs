//! The `tenure` binary as the integration tests drive it: its own database and data directory,
//! no configuration from the machine it runs on.

#![allow(dead_code)] // each test file uses the part it needs

use std::path::Path;
use std::process::Output;

use serde_json::Value;

pub struct Cli<'a> {
    pub database_url: &'a str,
    pub home: &'a Path,
    /// Extra environment for every run (a source's password variable, say).
    pub env: Vec<(&'static str, String)>,
}

impl<'a> Cli<'a> {
    pub fn new(database_url: &'a str, home: &'a Path) -> Self {
        Self { database_url, home, env: Vec::new() }
    }

    pub fn with_env(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.env.push((key, value.into()));
        self
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenure"));
        command
            .args(args)
            .env("TENURE_DATABASE_URL", self.database_url)
            .env("XDG_DATA_HOME", self.home)
            .env_remove("TENURE_CONFIG")
            .env_remove("TENURE_APP_TOKEN")
            .stdin(std::process::Stdio::null());
        // The tests' key, which in-process stores and `serve` share (PostgreSQL refuses
        // credentials without one; a default install's generated key file is tested apart, in
        // security.rs).
        command.env("TENURE_MASTER_KEYS", tenure_testkit::TEST_MASTER_KEYS);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.output().await.expect("run tenure")
    }

    /// Stdout of a run that must succeed.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "tenure {args:?} failed:\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Stderr of a run that must fail.
    pub async fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(!out.status.success(), "tenure {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub async fn json(&self, args: &[&str]) -> Value {
        let stdout = self.ok(args).await;
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("tenure {args:?} printed invalid JSON ({e}): {stdout}"))
    }
}
